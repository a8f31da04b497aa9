"""Recruitment cycles as data: each cycle's timetable, its non-working periods, the rule sets
cycles resolve to by their dates, and the audit trail of every edit.

Code holds the rules; these rows hold the dates. Support edits a cycle's dates and periods in
the admin, which calls the services in ``apps.applications.timetables``: they validate (the
dates in order, ``RecruitmentCycle.clean``), write a ``CycleChange`` in the same transaction
and enqueue the recalculation of live deadlines when a date today's rules read has moved.
"""

from datetime import UTC

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from apps.applications.working_days import LONDON
from apps.core.validators import validate_no_control_characters

#: Each pair (earlier, later): the later date must fall strictly after the earlier one. The
#: winter dates (courses starting after September) come after the summer ones, and may fall
#: after the next cycle has opened.
DATE_ORDER = (
    ("applications_open_date", "apply_deadline"),
    ("apply_deadline", "reject_by_default_date"),
    ("reject_by_default_date", "decline_by_default_date"),
    ("decline_by_default_date", "next_cycle_opens_date"),
    ("reject_by_default_date", "winter_reject_by_default_date"),
    ("winter_reject_by_default_date", "winter_decline_by_default_date"),
    ("decline_by_default_date", "winter_decline_by_default_date"),
)
#: The cycle's dates, in timetable order (the admin's order, the audit's keys).
CYCLE_DATE_FIELDS = (
    "applications_open_date",
    "apply_deadline",
    "reject_by_default_date",
    "decline_by_default_date",
    "next_cycle_opens_date",
    "winter_reject_by_default_date",
    "winter_decline_by_default_date",
)


def london_moment(value) -> str:
    """A moment as support reads it: ``1 September 2027, 17:00 BST``."""
    moment = timezone.localtime(value, LONDON)
    return f"{moment.day} {moment:%B %Y, %H:%M} {moment.tzname()}"


class RecruitmentCycle(models.Model):
    year = models.PositiveIntegerField(unique=True)
    applications_open_date = models.DateTimeField(
        "applications open", help_text="Candidates can start applying from this moment."
    )
    apply_deadline = models.DateTimeField(help_text="After this, unsubmitted applications are not sent.")
    reject_by_default_date = models.DateTimeField(
        help_text="No reject-by-default deadline falls after this; at the end of the cycle, what still awaits "
        "a decision is rejected by default on this date."
    )
    decline_by_default_date = models.DateTimeField(
        help_text="At the end of the cycle, offers not answered are declined by default on this date."
    )
    next_cycle_opens_date = models.DateTimeField(
        "next cycle opens", help_text="When the next cycle opens (unsuccessful candidates can carry over then)."
    )
    winter_reject_by_default_date = models.DateTimeField(
        "winter reject-by-default date", help_text="The reject-by-default date for courses starting after September."
    )
    winter_decline_by_default_date = models.DateTimeField(
        "winter decline-by-default date", help_text="The decline-by-default date for courses starting after September."
    )

    def __str__(self):
        return f"{self.year} cycle"

    def clean(self):
        """Every date in order (``DATE_ORDER``): each wrong one gets its own error, naming the date it
        must follow; and one rule set in effect on the day applications open."""
        from apps.applications.rule_sets import NoRuleSet, rule_set_for_opening

        errors: dict[str, list[str]] = {}
        if self.applications_open_date is not None:
            try:
                rule_set_for_opening(self.applications_open_date)
            except NoRuleSet as exc:
                errors["applications_open_date"] = [str(exc)]
        for earlier, later in DATE_ORDER:
            before, after = getattr(self, earlier), getattr(self, later)
            if before is None or after is None or after > before:
                continue
            label = self._meta.get_field(earlier).verbose_name
            errors.setdefault(later, []).append(f"Must be after the {label} ({london_moment(before)}).")
        if errors:
            raise ValidationError(errors)

    def dates(self) -> dict:
        """The cycle's dates by field, as aware UTC datetimes."""
        return {name: getattr(self, name).astimezone(UTC) for name in CYCLE_DATE_FIELDS}


class NonWorkingPeriod(models.Model):
    """A span of dates (inclusive) that are not working days in a cycle, e.g. Christmas."""

    cycle = models.ForeignKey(RecruitmentCycle, on_delete=models.CASCADE, related_name="non_working_periods")
    name = models.CharField(max_length=100, validators=[validate_no_control_characters])
    starts_on = models.DateField()
    ends_on = models.DateField()

    class Meta:
        ordering = ["starts_on"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="non_working_period_ordered")
        ]

    def __str__(self):
        return f"{self.name} ({self.starts_on} to {self.ends_on})"


class RuleSetCode(models.TextChoices):
    """The rule sets the code knows. Which one a cycle uses is data: ``RuleSet``'s effective dates."""

    RBD_MID_CYCLE = "2020-23", "2020 to 2023: rejected by default after 20 working days, mid-cycle"
    END_OF_CYCLE = "2024-on", (
        "2024 on: inactive after 30 working days; rejected and declined by default at the end of the cycle"
    )


class RuleSet(models.Model):
    """When a rule set governs: a cycle uses the set whose effective dates hold the day its
    applications open (London), ``apps.applications.rule_sets.rule_set_for_cycle``.

    Rows arrive with the release that brings a set's code (a data migration, as 0014 does for
    the first two), so the admin shows them read-only: moving an effective date would change
    the rules of a running cycle under its applications.
    """

    code = models.CharField(max_length=16, choices=RuleSetCode.choices, unique=True)
    effective_from = models.DateField(
        null=True, blank=True, help_text="Cycles opening on or after this day use the set (empty: every earlier one)."
    )
    effective_to = models.DateField(
        null=True, blank=True, help_text="Cycles opening on or after this day no longer do (empty: until replaced)."
    )

    class Meta:
        ordering = [models.F("effective_from").asc(nulls_first=True)]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_from__isnull=True) | Q(effective_to__isnull=True) | Q(effective_to__gt=models.F("effective_from")),
                name="rule_set_effective_ordered",
            )
        ]

    def __str__(self):
        return self.get_code_display()


class CycleChange(models.Model):
    """One edit of a cycle's timetable: who changed what, before and after, and when.

    Written by the services in the transaction of the edit itself, so there is no change
    without its row, and no row for an edit that was refused.
    """

    class Kind(models.TextChoices):
        CYCLE_CREATED = "cycle_created", "Cycle created"
        CYCLE_CHANGED = "cycle_changed", "Dates changed"
        PERIOD_ADDED = "period_added", "Non-working period added"
        PERIOD_CHANGED = "period_changed", "Non-working period changed"
        PERIOD_REMOVED = "period_removed", "Non-working period removed"

    cycle = models.ForeignKey(RecruitmentCycle, on_delete=models.CASCADE, related_name="changes")
    created_at = models.DateTimeField(db_default=Now())
    kind = models.CharField(max_length=32, choices=Kind.choices)
    #: The non-working period's name and id, for period changes.
    subject = models.CharField(max_length=200, blank=True)
    #: The changed fields only, dates as ISO 8601 (UTC for moments).
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    recalculated = models.BooleanField(
        default=False, help_text="The change enqueued a recalculation of the cycle's live deadlines."
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_job_name = models.CharField(max_length=200, blank=True)
    actor_job_id = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "cycle change"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["cycle", "created_at"], name="cycle_change_cycle_time")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.cycle}"

    @property
    def actor_label(self) -> str:
        if self.actor_job_name:
            return f"{self.actor_job_name} ({self.actor_job_id})" if self.actor_job_id else self.actor_job_name
        if self.actor_user_id:
            return str(self.actor_user)
        return "system"
