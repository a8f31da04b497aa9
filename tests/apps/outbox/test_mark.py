"""The per-email mark (apps/outbox/delivery.py): one statement that turns ``synchronous_commit``
off for its own transaction only, so it holds through PgBouncer in transaction mode and never
reaches the next transaction on the same server connection (``python3 dev.py test --pgbouncer``)."""

import pytest
from django.db import connection, transaction

from apps.outbox.delivery import _claim, _mark_sent
from apps.outbox.models import OutboxEmail, OutboxStatus
from tests.apps.outbox.test_services import add

pytestmark = pytest.mark.django_db(transaction=True)


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('synchronous_commit')")
        return cursor.fetchone()[0]


def test_the_mark_commits_without_waiting_for_its_flush_in_its_own_transaction_only():
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's; run with DATABASE_URL=postgres://... (and --pgbouncer)")
    email = add("mark:1")
    (claimed,) = _claim([email.pk], "token-1")
    before = _synchronous_commit()

    with transaction.atomic():
        _mark_sent(claimed.pk, "token-1")
        inside = _synchronous_commit()
    after = [_synchronous_commit() for _ in range(5)]  # through a pooler: any server connection

    assert before == "on" and inside == "off" and set(after) == {"on"}
    assert OutboxEmail.objects.get(pk=email.pk).status == OutboxStatus.SENT


def test_the_mark_is_refused_to_a_sender_whose_lease_was_taken():
    email = add("mark:2")
    _claim([email.pk], "token-old")
    OutboxEmail.objects.filter(pk=email.pk).update(lease_token="token-new")

    _mark_sent(email.pk, "token-old")

    assert OutboxEmail.objects.get(pk=email.pk).status == OutboxStatus.PENDING
