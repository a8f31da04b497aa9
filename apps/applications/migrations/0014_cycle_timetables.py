"""Cycles as data: every date of a cycle's timetable, a course's start month, the rule sets
with their effective dates, and the audit trail of timetable edits.

The new dates are added empty, filled for the cycles that exist from the two dates they had
(the gaps of the real service's 2024 timetable: decline by default six days after reject by
default, the next cycle a week after that; winter dates three months after the summer ones),
then made required. Support corrects them in the admin, where the change is audited.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models

LONDON = ZoneInfo("Europe/London")
NEW_DATES = (
    "applications_open_date",
    "decline_by_default_date",
    "next_cycle_opens_date",
    "winter_reject_by_default_date",
    "winter_decline_by_default_date",
)
RULE_SETS = (("2020-23", None, "2023-10-01"), ("2024-on", "2023-10-01", None))


def fill_dates(apps, schema_editor):
    RecruitmentCycle = apps.get_model("applications", "RecruitmentCycle")
    for cycle in RecruitmentCycle.objects.all():
        deadline = cycle.apply_deadline
        opens = datetime.combine(deadline.astimezone(LONDON).date().replace(month=10, day=1), time(9), tzinfo=LONDON)
        opens = opens.replace(year=opens.year - 1)
        cycle.applications_open_date = opens if opens < deadline else deadline - timedelta(days=30)
        cycle.decline_by_default_date = cycle.reject_by_default_date + timedelta(days=6)
        week_later = (cycle.decline_by_default_date.astimezone(LONDON) + timedelta(days=7)).date()
        cycle.next_cycle_opens_date = datetime.combine(week_later, time(9), tzinfo=LONDON)
        cycle.winter_reject_by_default_date = cycle.reject_by_default_date + timedelta(days=91)
        cycle.winter_decline_by_default_date = cycle.winter_reject_by_default_date + timedelta(days=6)
        cycle.save(update_fields=list(NEW_DATES))


def add_rule_sets(apps, schema_editor):
    RuleSet = apps.get_model("applications", "RuleSet")
    for code, effective_from, effective_to in RULE_SETS:
        RuleSet.objects.create(code=code, effective_from=effective_from, effective_to=effective_to)


def _date_field(verbose_name, help_text, null):
    kwargs = {"help_text": help_text, "null": null}
    if verbose_name:
        kwargs["verbose_name"] = verbose_name
    return models.DateTimeField(**kwargs)


NEW_FIELDS = {
    "applications_open_date": ("applications open", "Candidates can start applying from this moment."),
    "decline_by_default_date": (
        None, "At the end of the cycle, offers not answered are declined by default on this date."
    ),
    "next_cycle_opens_date": (
        "next cycle opens", "When the next cycle opens (unsuccessful candidates can carry over then)."
    ),
    "winter_reject_by_default_date": (
        "winter reject-by-default date", "The reject-by-default date for courses starting after September."
    ),
    "winter_decline_by_default_date": (
        "winter decline-by-default date", "The decline-by-default date for courses starting after September."
    ),
}


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0013_candidate_search_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        *(
            migrations.AddField("recruitmentcycle", name, _date_field(label, help_text, null=True))
            for name, (label, help_text) in NEW_FIELDS.items()
        ),
        migrations.RunPython(fill_dates, migrations.RunPython.noop),
        *(
            migrations.AlterField("recruitmentcycle", name, _date_field(label, help_text, null=False))
            for name, (label, help_text) in NEW_FIELDS.items()
        ),
        migrations.AlterField(
            model_name="recruitmentcycle",
            name="reject_by_default_date",
            field=models.DateTimeField(
                help_text="No reject-by-default deadline falls after this; at the end of the cycle, what still "
                "awaits a decision is rejected by default on this date."
            ),
        ),
        migrations.AddField(
            model_name="course",
            name="start_month",
            field=models.PositiveSmallIntegerField(
                choices=[
                    (1, "January"), (2, "February"), (3, "March"), (4, "April"), (5, "May"), (6, "June"),
                    (7, "July"), (8, "August"), (9, "September"), (10, "October"), (11, "November"),
                    (12, "December"),
                ],
                default=9,
                help_text="The month the course starts. Courses starting after September (October to July) use "
                "the cycle's winter reject- and decline-by-default dates.",
            ),
        ),
        migrations.CreateModel(
            name="RuleSet",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "code",
                    models.CharField(
                        choices=[
                            ("2020-23", "2020 to 2023: rejected by default after 20 working days, mid-cycle"),
                            (
                                "2024-on",
                                "2024 on: inactive after 30 working days; rejected and declined by default at "
                                "the end of the cycle",
                            ),
                        ],
                        max_length=16,
                        unique=True,
                    ),
                ),
                (
                    "effective_from",
                    models.DateField(
                        blank=True, null=True,
                        help_text="Cycles opening on or after this day use the set (empty: every earlier one).",
                    ),
                ),
                (
                    "effective_to",
                    models.DateField(
                        blank=True, null=True,
                        help_text="Cycles opening on or after this day no longer do (empty: until replaced).",
                    ),
                ),
            ],
            options={
                "ordering": [models.OrderBy(models.F("effective_from"), nulls_first=True)],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("effective_from__isnull", True),
                            ("effective_to__isnull", True),
                            ("effective_to__gt", models.F("effective_from")),
                            _connector="OR",
                        ),
                        name="rule_set_effective_ordered",
                    )
                ],
            },
        ),
        migrations.RunPython(add_rule_sets, migrations.RunPython.noop),
        migrations.CreateModel(
            name="CycleChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("cycle_created", "Cycle created"),
                            ("cycle_changed", "Dates changed"),
                            ("period_added", "Non-working period added"),
                            ("period_changed", "Non-working period changed"),
                            ("period_removed", "Non-working period removed"),
                        ],
                        max_length=32,
                    ),
                ),
                ("subject", models.CharField(blank=True, max_length=200)),
                ("before", models.JSONField(blank=True, default=dict)),
                ("after", models.JSONField(blank=True, default=dict)),
                (
                    "recalculated",
                    models.BooleanField(
                        default=False, help_text="The change enqueued a recalculation of the cycle's live deadlines."
                    ),
                ),
                ("actor_job_name", models.CharField(blank=True, max_length=200)),
                ("actor_job_id", models.CharField(blank=True, max_length=200)),
                (
                    "actor_user",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "cycle",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="changes",
                        to="applications.recruitmentcycle",
                    ),
                ),
            ],
            options={
                "verbose_name": "cycle change",
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["cycle", "created_at"], name="cycle_change_cycle_time")],
            },
        ),
    ]
