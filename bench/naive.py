"""The naive pattern, the spike's lower baseline: one RQ job per application, run by RQ's default
forking worker (``rq worker -c bench.naive``), each email sent on its own SMTP connection.

This module is also the worker's settings module (``-c``): importing it sets up Django in
the worker's main process, as a Django project using plain RQ would, so each forked work
horse inherits the loaded code but opens its own database connection.
"""

import os

import django
from django.apps import apps

QUEUE = "bench_naive"
JOB = "bench.naive.application_reject_by_default"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
if not apps.ready:
    django.setup()

REDIS_URL = os.environ["REDIS_URL"]  # read by rq's -c settings module loader


def application_reject_by_default(application_id: int) -> int:
    """Reject one application by default through the service, then send its emails one connection each."""
    from django.core.mail import send_mail
    from django.db.models.functions import Now

    from apps.applications.actors import Actor
    from apps.applications.services import applications_reject_by_default
    from apps.outbox.models import OutboxEmail

    applications_reject_by_default(application_ids=[application_id], actor=Actor.for_job(JOB))
    sent = 0
    keys = [f"rbd:provider:{application_id}", f"rbd:candidate:{application_id}"]
    for email in OutboxEmail.objects.filter(key__in=keys).exclude(status="sent"):
        # send_mail opens and closes an SMTP connection for each message.
        send_mail(email.subject or f"Application {application_id}", email.body_text or "Rejected by default.",
                  None, email.to)
        OutboxEmail.objects.filter(pk=email.pk).update(status="sent", sent_at=Now())
        sent += 1
    return sent
