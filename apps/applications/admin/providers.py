"""Providers, their users and courses, each written through its service."""

from django.contrib import admin

from apps.applications.admin.mixins import DeleteThroughServiceMixin
from apps.applications.models import Course, Provider, ProviderUser
from apps.applications.services import (
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
from apps.applications.timetables import course_start_month_set


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
    list_display = ("code", "name", "provider", "start_month")
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
        course_start_month_set(course_id=obj.pk, start_month=obj.start_month)

    def delete_model(self, request, obj):
        course_delete(course_id=obj.pk)
