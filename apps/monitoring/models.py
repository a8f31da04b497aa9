from django.db import models


class InvariantFinding(models.Model):
    """The result of one invariant check of one kind (count 0 means it held), kept for support."""

    checked_at = models.DateTimeField()
    kind = models.CharField(max_length=64)
    count = models.PositiveIntegerField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        # The table it had in apps.applications: the model moved, its rows did not (no copy,
        # no rename, so processes still running the previous release keep writing to it).
        db_table = "applications_invariantfinding"
        ordering = ["-checked_at", "kind"]
        indexes = [models.Index(fields=["checked_at"], name="invariant_checked_at")]

    def __str__(self):
        return f"{self.kind}: {self.count} at {self.checked_at:%Y-%m-%d %H:%M}"

    @property
    def ok(self) -> bool:
        return self.count == 0
