"""What the admin pages of the domain share: read-only pages, and deletes through the services."""

from django.db import transaction


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
