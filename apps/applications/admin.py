"""Admin for support users. State changes go through the UI's actions (services), so the
state machine's fields are read-only here: an edit in the admin would skip the timeline
event, the compare-and-set and the emails.

The application list stays fast with a million rows: no full count, foreign keys as raw
ids, related rows joined in the one query, newest first on the primary key.

Saving a recruitment cycle whose non-working periods (the inline) or reject-by-default
date changed enqueues, on commit, the job that recalculates the cycle's live deadlines
(``apps.applications.cycles``): every application whose deadline moves gets a
``deadline_recalculated`` event on its timeline.
"""

from django.contrib import admin, messages

from apps.applications.cycles import cycle_deadlines_recalculate_enqueue
from apps.applications.models import (
    Application,
    ApplicationEvent,
    ChaserSent,
    Course,
    InvariantFinding,
    NonWorkingPeriod,
    Provider,
    ProviderUser,
    RecruitmentCycle,
)

EVENT_FIELDS = (
    "created_at",
    "kind",
    "from_state",
    "to_state",
    "actor_label",
    "actor_user",
    "actor_job_name",
    "actor_job_id",
    "detail",
)
STATE_MACHINE_FIELDS = (
    "state",
    "created_at",
    "updated_at",
    "submitted_at",
    "reject_by_default_at",
    "offered_at",
    "decline_by_default_at",
    "decided_at",
    "rejected_by_default",
    "declined_by_default",
)


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ProviderUserInline(admin.TabularInline):
    model = ProviderUser
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "email")
    search_fields = ("code", "name", "email")
    ordering = ("code",)
    inlines = [ProviderUserInline]


@admin.register(ProviderUser)
class ProviderUserAdmin(admin.ModelAdmin):
    list_display = ("user", "provider")
    list_select_related = ("user", "provider")
    search_fields = ("user__username", "user__email", "provider__code", "provider__name")
    raw_id_fields = ("user", "provider")


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "provider")
    list_select_related = ("provider",)
    search_fields = ("code", "name", "provider__code", "provider__name")
    raw_id_fields = ("provider",)


class NonWorkingPeriodInline(admin.TabularInline):
    model = NonWorkingPeriod
    extra = 0


@admin.register(RecruitmentCycle)
class RecruitmentCycleAdmin(admin.ModelAdmin):
    list_display = ("year", "apply_deadline", "reject_by_default_date")
    ordering = ("-year",)
    inlines = [NonWorkingPeriodInline]

    def save_related(self, request, form, formsets, change):
        """Save the periods, then recalculate the live deadlines if the calendar or the cap changed."""
        super().save_related(request, form, formsets, change)
        periods_changed = any(
            formset.model is NonWorkingPeriod and formset.has_changed() for formset in formsets
        )
        if change and (periods_changed or "reject_by_default_date" in form.changed_data):
            cycle_deadlines_recalculate_enqueue(cycle_id=form.instance.pk)
            self.message_user(
                request,
                f"The {form.instance}'s live deadlines will be recalculated in the background; "
                "each application whose deadline moves gets a timeline event.",
                messages.INFO,
            )


class ApplicationEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ApplicationEvent
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor_user")


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("id", "candidate", "course", "provider", "state", "reject_by_default_at", "decline_by_default_at")
    list_select_related = ("candidate", "course__provider")
    list_filter = ("state", "rejected_by_default", "declined_by_default", "cycle")
    # Exact or prefix matches only: a contains-search over a million rows and three joins is a full scan.
    search_fields = ("=id", "^candidate__username", "=candidate__email", "=course__code")
    search_help_text = "Application id, candidate username (start of) or email, course code."
    raw_id_fields = ("candidate", "course", "cycle")
    readonly_fields = STATE_MACHINE_FIELDS
    ordering = ("-id",)
    show_full_result_count = False
    list_per_page = 50
    inlines = [ApplicationEventInline]

    @admin.display(ordering="course__provider__name")
    def provider(self, application):
        return application.course.provider


@admin.register(ApplicationEvent)
class ApplicationEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "application", "created_at", "kind", "from_state", "to_state", "actor_label")
    list_select_related = ("application", "actor_user")
    list_filter = ("kind",)
    search_fields = ("=application__id", "=actor_job_id")
    search_help_text = "Application id or RQ job id."
    raw_id_fields = ("application", "actor_user")
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(ChaserSent)
class ChaserSentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "application", "kind", "sent_at")
    list_filter = ("kind",)
    search_fields = ("=application__id",)
    raw_id_fields = ("application",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(InvariantFinding)
class InvariantFindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("checked_at", "kind", "count")
    list_filter = ("kind",)
    ordering = ("-checked_at", "kind")
