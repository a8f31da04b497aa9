"""The outbox, read-only: rows are written by services and sent by delivery jobs."""

from django.contrib import admin

from apps.outbox.models import OutboxEmail


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    list_display = ("id", "key", "to", "subject", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status",)
    search_fields = ("^key",)
    search_help_text = "Outbox key, whole or its start (for example rbd:candidate:)."
    readonly_fields = [field.name for field in OutboxEmail._meta.fields] + ["message_id"]
    ordering = ("-id",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
