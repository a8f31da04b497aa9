from django.contrib import admin

from apps.applications.admin.mixins import ReadOnlyAdminMixin
from apps.monitoring.models import InvariantFinding


@admin.register(InvariantFinding)
class InvariantFindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("checked_at", "kind", "count")
    list_filter = ("kind",)
    ordering = ("-checked_at", "kind")
