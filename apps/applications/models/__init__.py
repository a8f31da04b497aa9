"""The application's models; the cycles' (timetables, periods, rule sets, their audit) are in ``models.cycles``."""

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, When
from django.db.models.functions import Now

from apps.applications.models.cycles import (  # noqa: F401 (the app's models, imported from here)
    CycleChange,
    NonWorkingPeriod,
    RecruitmentCycle,
    RuleSet,
    RuleSetCode,
)
from apps.applications.rules import (
    DBD_DEADLINE,
    LIVE_DEADLINES,
    RBD_DEADLINE,
    ApplicationState,
    ChaserKind,
)
from apps.core.validators import validate_no_control_characters


class Provider(models.Model):
    code = models.CharField(max_length=10, unique=True, validators=[validate_no_control_characters])
    name = models.CharField(max_length=200, validators=[validate_no_control_characters])
    email = models.EmailField(help_text="Where decisions and reminders for this provider are sent.")

    def __str__(self):
        return self.name


class ProviderUser(models.Model):
    """Membership: a provider user belongs to exactly one provider."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_user")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="users")

    def __str__(self):
        return f"{self.user} @ {self.provider}"


#: A course's start month; it recurs every cycle, so the month alone says which timetable it uses.
MONTHS = [(n, name) for n, name in enumerate(("January", "February", "March", "April", "May", "June", "July",
                                              "August", "September", "October", "November", "December"), start=1)]


class Course(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="courses")
    code = models.CharField(max_length=10, validators=[validate_no_control_characters])
    name = models.CharField(max_length=200, validators=[validate_no_control_characters])
    # The month, not a "winter" flag: it is what providers publish, and which months count as
    # "after September" stays one rule in code (rule_sets.starts_after_september).
    start_month = models.PositiveSmallIntegerField(
        choices=MONTHS,
        default=9,
        help_text="The month the course starts. Courses starting after September (October to July) use the "
        "cycle's winter reject- and decline-by-default dates.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "code"], name="course_code_unique_per_provider")]

    def __str__(self):
        return f"{self.name} ({self.code})"


def _in_states(states: tuple[str, ...]) -> dict:
    """The lookup for ``states``: ``state = s`` for one, ``state IN (...)`` for more (as the migrations have it)."""
    return {"state": str(states[0])} if len(states) == 1 else {"state__in": [str(state) for state in states]}


def _live_deadline() -> Case:
    """The deadline the current state carries (``rules.LIVE_DEADLINES``), NULL in every other state."""
    # One WHEN per deadline field (the form migration 0004 created the column with).
    states_by_field: dict[str, tuple] = {}
    for state, field in LIVE_DEADLINES.items():
        states_by_field[field] = (*states_by_field.get(field, ()), state)
    return Case(
        *(
            When(state__in=states, then=F(field)) if len(states) > 1 else When(state=states[0], then=F(field))
            for field, states in states_by_field.items()
        ),
        default=None,
        output_field=models.DateTimeField(),
    )


class Application(models.Model):
    candidate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="applications")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="applications")
    # The course's provider, copied so that a provider's list is one index range (set on save
    # from the course; a course never moves to another provider).
    # No index of its own: application_provider (provider, id) serves every provider_id lookup.
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="applications", editable=False, db_index=False
    )
    cycle = models.ForeignKey(RecruitmentCycle, on_delete=models.PROTECT, related_name="applications")
    state = models.CharField(max_length=32, choices=ApplicationState.choices, default=ApplicationState.UNSUBMITTED)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    submitted_at = models.DateTimeField(null=True, blank=True)
    reject_by_default_at = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    decline_by_default_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    rejected_by_default = models.BooleanField(default=False)
    declined_by_default = models.BooleanField(default=False)
    # Set with the ChaserSent row (same transaction), so the chaser sweeps read only the
    # applications not chased yet, through partial indexes: cost follows what is due.
    provider_chaser_sent = models.BooleanField(default=False)
    candidate_chaser_sent = models.BooleanField(default=False)
    # The live deadline, kept by the database itself (a stored generated column), so lists
    # sort and page by it through an index and no writer can forget it.
    deadline_at = models.GeneratedField(expression=_live_deadline(), output_field=models.DateTimeField(), db_persist=True)

    class Meta:
        # Index conditions: rows with a live deadline; rows a provider may see.
        _live = Q(state__in=[str(state) for state in LIVE_DEADLINES])
        _submitted = ~Q(state="unsubmitted")
        indexes = [
            # The RBD and DBD sweeps read only due rows, in keyset pages of (deadline, id):
            # cost follows what is due, not the table, and equal deadlines page by id.
            models.Index(
                fields=["reject_by_default_at", "id"],
                condition=Q(**_in_states(RBD_DEADLINE.states)),
                name="application_rbd_due",
            ),
            models.Index(
                fields=["decline_by_default_at", "id"],
                condition=Q(**_in_states(DBD_DEADLINE.states)),
                name="application_dbd_due",
            ),
            # The chaser sweeps: deadlines of the applications not chased yet.
            models.Index(
                fields=["reject_by_default_at"],
                condition=Q(**_in_states(RBD_DEADLINE.states), provider_chaser_sent=False),
                name="application_provider_chaser",
            ),
            models.Index(
                fields=["decline_by_default_at"],
                condition=Q(**_in_states(DBD_DEADLINE.states), candidate_chaser_sent=False),
                name="application_candidate_chaser",
            ),
            # Lists (selectors.application_list): for every role, filter and sort, a page's ids
            # are one range of one of these, read from the page's cursor with LIMIT and from the
            # index alone (each holds every column its query needs). The deadline sort reads the
            # rows with a live deadline by (deadline_at, id), then the others by id (deadline_at
            # IS NULL is a range too), so no index needs NULLS LAST. Indexes of live-deadline rows
            # are partial: the end-of-cycle writes (to rejected, declined, not sent) skip them.
            # Search and a candidate's own list read by the candidate and course foreign keys.
            # Support, by deadline. (Support, newest: the primary key.)
            models.Index(fields=["deadline_at", "id"], name="application_deadline"),
            # Support, one state: newest; by deadline for a state without one (all NULL, so by
            # id). Also counts by state.
            models.Index(fields=["state", "id"], name="application_state"),
            # Support, one state with a live deadline, by deadline.
            models.Index(fields=["state", "deadline_at", "id"], condition=_live, name="application_state_deadline"),
            # Provider, newest; with state included, a page's ids need no table read (unsubmitted
            # rows are skipped in the index). Also every provider_id lookup: the foreign key has
            # no other index.
            models.Index(fields=["provider", "id"], include=["state"], name="application_provider"),
            # Provider, by deadline. Providers never see unsubmitted applications.
            models.Index(
                fields=["provider", "deadline_at", "id"], condition=_submitted, name="application_provider_deadline"
            ),
            # Provider, one state: newest; by deadline for a state without one.
            models.Index(fields=["provider", "state", "id"], condition=_submitted, name="application_provider_state"),
            # Provider, one state with a live deadline, by deadline.
            models.Index(
                fields=["provider", "state", "deadline_at", "id"], condition=_live, name="application_provider_live"
            ),
            # End of cycle: the unsubmitted applications of one cycle, paged by id.
            models.Index(fields=["cycle", "id"], condition=Q(state="unsubmitted"), name="application_unsubmitted"),
        ]
        # The support role (apps.applications.auth.is_support), held through the "Support"
        # group: every application visible and actionable, the Schedule, Health and the jobs
        # dashboard. Staff status alone only opens the admin, to what its permissions allow.
        permissions = [
            (
                "act_as_support",
                "Act as support: see every application and act for any provider, use the "
                "Schedule, Health and jobs dashboard",
            ),
        ]

    def __str__(self):
        return f"Application {self.pk} ({self.state})"

    def save(self, *args, **kwargs):
        if self.provider_id is None and self.course_id is not None:
            self.provider_id = Course.objects.values_list("provider_id", flat=True).get(pk=self.course_id)
        super().save(*args, **kwargs)


class ApplicationEvent(models.Model):
    """One line of an application's timeline: what happened, and who or which job did it."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(db_default=Now())
    kind = models.CharField(max_length=64)
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_job_name = models.CharField(max_length=200, blank=True)
    actor_job_id = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "timeline event"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["application", "created_at"], name="event_application_time"),
            # The daily report reads yesterday's timed transitions by kind.
            models.Index(fields=["kind", "created_at"], name="event_kind_time"),
        ]

    def __str__(self):
        return f"{self.kind} {self.from_state}->{self.to_state}"

    @property
    def actor_label(self) -> str:
        if self.actor_job_name:
            return f"job {self.actor_job_name} ({self.actor_job_id})"
        if self.actor_user_id:
            return str(self.actor_user)
        return "system"


class ChaserSent(models.Model):
    """A reminder sent for an application: at most one row per application and kind.

    The row is inserted in the same transaction as the chaser's outbox email, so the
    unique constraint is what makes a chaser once-only across sweeps, retries and workers.
    """

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="chasers_sent")
    kind = models.CharField(max_length=16, choices=ChaserKind.choices)
    sent_at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = "chaser sent"
        verbose_name_plural = "chasers sent"
        constraints = [models.UniqueConstraint(fields=["application", "kind"], name="chaser_sent_once")]

    def __str__(self):
        return f"{self.kind} chaser for application {self.application_id}"

