"""Close a recruitment cycle now: its unsubmitted applications become application_not_sent.

The clock's daily ``cycles_close_due`` entry does this for every cycle whose apply deadline has
passed. This command is for support, to run it for one cycle without waiting for 00:01:

    python manage.py close_cycle --year 2027           only after the cycle's apply deadline
    python manage.py close_cycle --year 2027 --force   also before it (closes the cycle early)

Without ``--force`` it refuses before the apply deadline (by the database's clock) and says
so. Either way only unsubmitted applications change, each with a timeline event naming
this command; running it twice changes nothing the second time.
"""

from django.core.management.base import BaseCommand, CommandError

from apps.applications.actors import Actor
from apps.applications.cycles import CycleNotClosable, cycle_close


class Command(BaseCommand):
    help = "Mark the unsubmitted applications of a cycle as not sent (after its apply deadline, or with --force)."

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True, help="the cycle's year, e.g. 2027")
        parser.add_argument(
            "--force", action="store_true", help="close the cycle even though its apply deadline has not passed"
        )

    def handle(self, *args, year, force, **options):
        actor = Actor(job_name="manage.py close_cycle" + (" --force" if force else ""))
        try:
            result = cycle_close(year=year, actor=actor, force=force)
        except CycleNotClosable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{year} cycle: {result.changed} application(s) marked as not sent, {result.skipped} skipped "
            f"(submitted or changed meanwhile), {result.failed} failed."
        )
        if result.failed:
            raise CommandError(f"{result.failed} application(s) could not be closed; see the log.")
