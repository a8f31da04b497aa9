"""Recruitment cycles: their dates and non-working periods edited through the timetable
services (validated, audited, recalculating live deadlines when a date they read moves), the
audit trail shown on the cycle's page, and the rule sets (read-only: they come with code)."""

from datetime import datetime

from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html_join
from django.utils.text import capfirst

from apps.applications.actors import Actor
from apps.applications.admin.mixins import ReadOnlyAdminMixin
from apps.applications.models import CycleChange, NonWorkingPeriod, RecruitmentCycle, RuleSet
from apps.applications.models.cycles import CYCLE_DATE_FIELDS, london_moment
from apps.applications.rule_sets import NoRuleSet, rule_set_for_cycle
from apps.applications.timetables import (
    cycle_create,
    cycle_update,
    non_working_period_add,
    non_working_period_change,
    non_working_period_remove,
)

WINTER_FIELDS = ("winter_reject_by_default_date", "winter_decline_by_default_date")


class LabelledInlineFormSet(BaseInlineFormSet):
    """A table's inputs named for screen readers: a tabular inline labels only its columns."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        row = "new row" if index is None else f"row {index + 1}"
        for name, field in form.fields.items():
            field.widget.attrs.setdefault("aria-label", f"{capfirst(field.label or name)} ({row})")


class NonWorkingPeriodInline(admin.TabularInline):
    model = NonWorkingPeriod
    formset = LabelledInlineFormSet
    extra = 0


def _shown(field: str, value) -> str:
    """An audited value as support reads it: moments in London time."""
    if field in CYCLE_DATE_FIELDS and value:
        return london_moment(datetime.fromisoformat(value))
    return "—" if value in (None, "") else str(value)


class CycleChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The cycle's audit trail, newest first: read-only, written only by the services."""

    model = CycleChange
    fields = ("created_at", "actor", "kind", "subject", "what_changed", "recalculated")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "changes (audit trail)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor_user")

    @admin.display(description="by")
    def actor(self, change):
        return change.actor_label

    @admin.display(description="before → after")
    def what_changed(self, change):
        rows = [
            (name.replace("_", " "), _shown(name, change.before.get(name)), _shown(name, change.after.get(name)))
            for name in dict.fromkeys((*change.before, *change.after))
        ]
        return format_html_join("", "<div>{}: {} → {}</div>", rows)


@admin.register(RecruitmentCycle)
class RecruitmentCycleAdmin(admin.ModelAdmin):
    list_display = ("year", "rule_set", "applications_open_date", "apply_deadline", "reject_by_default_date",
                    "decline_by_default_date")
    ordering = ("-year",)
    readonly_fields = ("rule_set",)
    fieldsets = (
        (None, {"fields": ("year", "rule_set")}),
        ("Timetable", {"fields": tuple(f for f in CYCLE_DATE_FIELDS if f not in WINTER_FIELDS)}),
        ("Courses starting after September", {"fields": WINTER_FIELDS}),
    )
    inlines = [NonWorkingPeriodInline, CycleChangeInline]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        """Each date's two inputs named for screen readers ("Apply deadline: date", ": time"):
        the admin's split widget gives them one label between them."""
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in CYCLE_DATE_FIELDS:
            label = capfirst(db_field.verbose_name)
            date_input, time_input = field.widget.widgets
            date_input.attrs["aria-label"] = f"{label}: date"
            time_input.attrs["aria-label"] = f"{label}: time"
        return field

    @admin.display(description="rule set")
    def rule_set(self, cycle):
        if cycle.pk is None:
            return "Decided by the day applications open."
        try:
            return rule_set_for_cycle(cycle).label
        except NoRuleSet as exc:
            return str(exc)

    def save_model(self, request, obj, form, change):
        """A new cycle through its service; a changed one is written in ``save_related``, with its periods."""
        if not change:
            dates = {name: getattr(obj, name) for name in CYCLE_DATE_FIELDS}
            obj.pk = cycle_create(actor=Actor(user=request.user), year=obj.year, **dates).pk

    def save_related(self, request, form, formsets, change):
        """The cycle's dates and its periods through the services, which audit them and say whether deadlines move."""
        cycle, actor = form.instance, Actor(user=request.user)
        recalculating = False
        if change and form.has_changed():
            recalculating = cycle_update(
                cycle_id=cycle.pk, actor=actor, **{name: form.cleaned_data[name] for name in form.changed_data}
            )
        for formset in formsets:
            if formset.model is NonWorkingPeriod:
                recalculating |= self._save_periods(cycle, formset, actor)
            else:  # the audit trail: read-only; sorted for the change message, never written here
                formset.save(commit=False)
        if recalculating:
            self.message_user(
                request,
                f"The {cycle}'s live deadlines will be recalculated in the background; "
                "each application whose deadline moves gets a timeline event.",
                messages.INFO,
            )

    @staticmethod
    def _save_periods(cycle: RecruitmentCycle, formset, actor: Actor) -> bool:
        """The inline's removals, changes and additions, each through its service; True if deadlines move."""
        formset.save(commit=False)  # sorts the forms into new, changed and deleted objects; writes nothing
        recalculating = False
        for period in formset.deleted_objects:
            recalculating |= non_working_period_remove(period_id=period.pk, actor=actor)
        for period, _fields in formset.changed_objects:
            recalculating |= non_working_period_change(
                period_id=period.pk, actor=actor, name=period.name, starts_on=period.starts_on, ends_on=period.ends_on
            )
        for period in formset.new_objects:
            period.pk = non_working_period_add(
                cycle_id=cycle.pk, actor=actor, name=period.name, starts_on=period.starts_on, ends_on=period.ends_on
            ).pk
            recalculating = True
        return recalculating


@admin.register(RuleSet)
class RuleSetAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: a rule set's rows arrive with its code, and moving one would change a running cycle's rules."""

    list_display = ("code", "__str__", "effective_from", "effective_to")
