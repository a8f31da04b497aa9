"""Applications and their timelines: read-only but for a new draft (made by its service)."""

from django.contrib import admin

from apps.applications.admin.mixins import ReadOnlyAdminMixin
from apps.applications.models import Application, ApplicationEvent, ChaserSent
from apps.applications.services import application_create

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

    def get_readonly_fields(self, request, obj=None):
        services_only = (*STATE_MACHINE_FIELDS, "provider_chaser_sent", "candidate_chaser_sent")
        return services_only if obj is None else (*services_only, "candidate", "course", "cycle")

    def save_model(self, request, obj, form, change):
        """A new draft through its service; an existing application has nothing the admin may change."""
        if not change:
            obj.pk = application_create(candidate_id=obj.candidate_id, course_id=obj.course_id, cycle_id=obj.cycle_id).pk

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
