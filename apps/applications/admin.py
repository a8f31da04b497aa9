"""Admin for support users. State changes go through the UI's actions (services), so the
state machine's fields are read-only here: an edit in the admin would skip the timeline
event, the compare-and-set and the emails.

The application list stays fast with a million rows: no full count, foreign keys as raw
ids, related rows joined in the one query, newest first on the primary key.

Every domain table is written through its services, never by the admin's own saves or
deletes: the forms validate, then ``save_model``, ``save_formset`` and ``delete_model`` /
``delete_queryset`` call the service. ``cycles.cycle_create`` / ``cycle_update`` and
``non_working_period_add`` / ``_change`` / ``_remove`` decide whether the cycle's live
deadlines must be recalculated (a job enqueued on commit: every application whose deadline
moves gets a ``deadline_recalculated`` event on its timeline), and
``services.application_create`` makes a draft. An application's fields cannot be changed
here: its state, deadlines and chaser flags belong to the services, and its candidate,
course and cycle to the draft it was created as. Providers, their users (the inline and
their own page) and courses go through ``services.provider_*``, ``provider_user_*`` and
``course_*``; a course's provider is read-only once it exists, and the service refuses to
move it too. Deleting a provider or a course with applications is refused by the admin's
confirmation page (the foreign keys PROTECT them), before the service is called. Django's
own user model is not a domain table: users stay with Django's ``UserAdmin``.

Names go into emails, so none may hold a line break or another control character
(``apps.core.validators``): the model fields carry the validator, and the user forms add
it to the names of Django's own user model.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import transaction

from apps.applications.cycles import (
    cycle_create,
    cycle_update,
    non_working_period_add,
    non_working_period_change,
    non_working_period_remove,
)
from apps.applications.models import (
    Application,
    ApplicationEvent,
    ChaserSent,
    Course,
    NonWorkingPeriod,
    Provider,
    ProviderUser,
    RecruitmentCycle,
)
from apps.applications.services import (
    application_create,
    course_create,
    course_delete,
    course_update,
    provider_create,
    provider_delete,
    provider_update,
    provider_user_add,
    provider_user_remove,
    provider_user_update,
)
from apps.core.validators import validate_no_control_characters

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


# The admin speaks the service's name, as every other page does.
admin.site.site_header = "Apply: support admin"
admin.site.site_title = "Apply admin"
admin.site.index_title = "Records and settings"


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DeleteThroughServiceMixin:
    """"Delete selected" deletes row by row through ``delete_model`` (the service), all or
    nothing, as ``queryset.delete()`` was."""

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


class UserNamesMixin:
    """A user form whose username and first and last names hold no control characters."""

    NAME_FIELDS = ("username", "first_name", "last_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.NAME_FIELDS:
            if name in self.fields:  # each form has its own copy of its fields
                self.fields[name].validators.append(validate_no_control_characters)


class UserCreationNamesForm(UserNamesMixin, AdminUserCreationForm):
    pass


class UserChangeNamesForm(UserNamesMixin, UserChangeForm):
    pass


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserNamesAdmin(UserAdmin):
    form = UserChangeNamesForm
    add_form = UserCreationNamesForm


class ProviderUserInline(admin.TabularInline):
    model = ProviderUser
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Provider)
class ProviderAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    list_display = ("code", "name", "email")
    search_fields = ("code", "name", "email")
    ordering = ("code",)
    inlines = [ProviderUserInline]

    def save_model(self, request, obj, form, change):
        """The provider through its service; its users (the inline) in ``save_formset``."""
        if change:
            provider_update(provider_id=obj.pk, code=obj.code, name=obj.name, email=obj.email)
        else:
            obj.pk = provider_create(code=obj.code, name=obj.name, email=obj.email).pk

    def save_formset(self, request, form, formset, change):
        """The inline's removals, changes and additions of users, each through its service."""
        if formset.model is not ProviderUser:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # sorts the forms into new, changed and deleted objects; writes nothing
        for membership in formset.deleted_objects:
            provider_user_remove(provider_user_id=membership.pk)
        for membership, _fields in formset.changed_objects:
            provider_user_update(
                provider_user_id=membership.pk, user_id=membership.user_id, provider_id=form.instance.pk
            )
        for membership in formset.new_objects:
            membership.pk = provider_user_add(user_id=membership.user_id, provider_id=form.instance.pk).pk

    def delete_model(self, request, obj):
        provider_delete(provider_id=obj.pk)


@admin.register(ProviderUser)
class ProviderUserAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    list_display = ("user", "provider")
    list_select_related = ("user", "provider")
    search_fields = ("user__username", "user__email", "provider__code", "provider__name")
    raw_id_fields = ("user", "provider")

    def save_model(self, request, obj, form, change):
        if change:
            provider_user_update(provider_user_id=obj.pk, user_id=obj.user_id, provider_id=obj.provider_id)
        else:
            obj.pk = provider_user_add(user_id=obj.user_id, provider_id=obj.provider_id).pk

    def delete_model(self, request, obj):
        provider_user_remove(provider_user_id=obj.pk)


@admin.register(Course)
class CourseAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    list_display = ("code", "name", "provider")
    list_select_related = ("provider",)
    search_fields = ("code", "name", "provider__code", "provider__name")
    raw_id_fields = ("provider",)

    def get_readonly_fields(self, request, obj=None):
        # Applications copy their course's provider (Application.provider): a course never moves.
        return () if obj is None else ("provider",)

    def save_model(self, request, obj, form, change):
        if change:
            course_update(course_id=obj.pk, provider_id=obj.provider_id, code=obj.code, name=obj.name)
        else:
            obj.pk = course_create(provider_id=obj.provider_id, code=obj.code, name=obj.name).pk

    def delete_model(self, request, obj):
        course_delete(course_id=obj.pk)


class NonWorkingPeriodInline(admin.TabularInline):
    model = NonWorkingPeriod
    extra = 0


@admin.register(RecruitmentCycle)
class RecruitmentCycleAdmin(admin.ModelAdmin):
    list_display = ("year", "apply_deadline", "reject_by_default_date")
    ordering = ("-year",)
    inlines = [NonWorkingPeriodInline]

    def save_model(self, request, obj, form, change):
        """A new cycle through its service; a changed one is written in ``save_related``, with its periods."""
        if not change:
            obj.pk = cycle_create(
                year=obj.year, apply_deadline=obj.apply_deadline, reject_by_default_date=obj.reject_by_default_date
            ).pk

    def save_related(self, request, form, formsets, change):
        """The cycle's dates and its periods through the services, which say whether deadlines move."""
        cycle = form.instance
        recalculating = False
        if change and form.has_changed():
            recalculating = cycle_update(
                cycle_id=cycle.pk,
                year=cycle.year,
                apply_deadline=cycle.apply_deadline,
                reject_by_default_date=cycle.reject_by_default_date,
            )
        for formset in formsets:
            if formset.model is NonWorkingPeriod:
                recalculating |= self._save_periods(cycle, formset)
            else:
                self.save_formset(request, form, formset, change=change)
        if recalculating:
            self.message_user(
                request,
                f"The {cycle}'s live deadlines will be recalculated in the background; "
                "each application whose deadline moves gets a timeline event.",
                messages.INFO,
            )

    @staticmethod
    def _save_periods(cycle: RecruitmentCycle, formset) -> bool:
        """The inline's removals, changes and additions, each through its service; True if deadlines move."""
        formset.save(commit=False)  # sorts the forms into new, changed and deleted objects; writes nothing
        recalculating = False
        for period in formset.deleted_objects:
            recalculating |= non_working_period_remove(period_id=period.pk)
        for period, _fields in formset.changed_objects:
            recalculating |= non_working_period_change(
                period_id=period.pk, name=period.name, starts_on=period.starts_on, ends_on=period.ends_on
            )
        for period in formset.new_objects:
            period.pk = non_working_period_add(
                cycle_id=cycle.pk, name=period.name, starts_on=period.starts_on, ends_on=period.ends_on
            ).pk
            recalculating = True
        return recalculating


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
