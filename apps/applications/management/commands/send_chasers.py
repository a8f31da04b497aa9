"""Send chasers now, for support: the same rule as the hourly clock entries, in this process.

    python manage.py send_chasers --kind provider
    python manage.py send_chasers --kind candidate --include-past

Each application gets each kind of chaser at most once, whoever sends it. By default only
applications whose deadline is still ahead are chased; ``--include-past`` also chases
those whose deadline has passed but whose timed rule has not run yet (for example while
the reject or decline sweep was paused), which the hourly entries never do.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from apps.applications.actors import Actor
from apps.applications.chasers import applications_chase
from apps.applications.rules import CHASER_RULES
from apps.applications.selectors import application_ids_due_for_chaser


class Command(BaseCommand):
    help = "Send the provider or candidate chasers that are due now (each at most once per application)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=sorted(CHASER_RULES))
        parser.add_argument(
            "--include-past", action="store_true", help="also chase applications whose deadline has already passed"
        )

    def handle(self, *args, kind, include_past, **options):
        now = timezone.now()
        ids = application_ids_due_for_chaser(
            kind=kind, now=now, limit=settings.APPLY_SWEEP_LIMIT, include_past=include_past
        )
        actor = Actor(job_name=f"manage.py send_chasers --kind {kind}")
        total = 0
        for start in range(0, len(ids), settings.APPLY_BATCH_SIZE):
            batch = ids[start : start + settings.APPLY_BATCH_SIZE]
            total += applications_chase(
                kind=kind, application_ids=batch, actor=actor, now=now, include_past=include_past
            ).changed
        self.stdout.write(f"{kind} chasers: {total} sent of {len(ids)} due.")
