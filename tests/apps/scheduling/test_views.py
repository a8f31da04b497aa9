import re
from datetime import UTC, datetime

import django_rq
import pytest

from apps.core.redis import redis_connection
from apps.scheduling.clock_state import ClockState
from apps.scheduling.runner import Clock
from apps.scheduling.timetable import Entry
from tests.factories import make_provider_user, make_support_user, make_user

pytestmark = pytest.mark.django_db
ENTRY = Entry("every_minute", "* * * * *", "Europe/London", "jobs.maintenance.sessions_clear_expired", "sweeps",
              "test entry")


@pytest.fixture
def registered():
    Clock([ENTRY], redis_connection(), now=lambda: datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)).run_once()


def test_schedule_page_is_for_support_only(client, registered):
    assert client.get("/schedule/").status_code == 302
    for user in (make_user(), make_provider_user()):
        client.force_login(user)
        assert client.get("/schedule/").status_code == 403
        assert client.post("/schedule/every_minute/run/").status_code == 403
    assert django_rq.get_queue("sweeps").count == 0


def test_schedule_page_shows_entries_clocks_and_workers(client, registered):
    client.force_login(make_support_user())
    page = client.get("/schedule/").content.decode()
    assert "every_minute" in page and "Every minute (Europe/London)" in page and "test entry" in page
    assert "No clock has reported in the last 15 seconds" in page  # the test clock beat at 09:00
    assert "No worker is running" in page


def test_support_can_pause_resume_and_run_an_entry_now(client, registered):
    client.force_login(make_support_user(username="sam"))
    confirm = client.get("/schedule/every_minute/pause/")  # pausing asks first
    assert confirm.status_code == 200
    content = confirm.content.decode()
    assert '<form method="post" action="/schedule/every_minute/pause/">' in content
    assert ">Pause</button>" in content and '<a href="/schedule/">Cancel</a>' in content
    assert not ClockState(redis_connection()).states(["every_minute"])["every_minute"].paused

    page = client.post("/schedule/every_minute/pause/", follow=True).content.decode()
    assert ClockState(redis_connection()).states(["every_minute"])["every_minute"].paused
    assert "every_minute is paused" in page
    # The banner stays on every support page while the entry is paused.
    for url in ("/", "/support/health/", "/schedule/"):
        assert "every_minute is paused" in client.get(url).content.decode(), url
    assert "every_minute is paused" in client.get("/django-rq/").content.decode()

    client.post("/schedule/every_minute/resume/")
    assert not ClockState(redis_connection()).states(["every_minute"])["every_minute"].paused

    response = client.post("/schedule/every_minute/run/", follow=True)

    job_ids = django_rq.get_queue("sweeps").get_job_ids()
    assert len(job_ids) == 1 and job_ids[0].startswith("clock-every_minute-manual-")
    assert f"enqueued now as job {job_ids[0]}" in response.content.decode()
    assert ClockState(redis_connection()).runs("every_minute")[0]["clock"] == "manual:sam"
    assert "is paused" not in client.get("/").content.decode()
    # The run's job status shows in the entry's row, and the page's figures refresh from /schedule/live/.
    live = client.get("/schedule/live/").content.decode()
    row = re.search(r'<tr id="entry-every_minute">.*?</tr>', live, re.S).group(0)
    assert "Queued…" in row and "(run now)" in row


def test_schedule_is_a_table_with_the_deciding_rules_first_and_times_in_uk_time(client):
    entries = [
        Entry(name, "* * * * *", "Europe/London", "jobs.maintenance.sessions_clear_expired", "sweeps", "why")
        for name in ("alpha", "applications_decline_due", "applications_reject_due", "zulu")
    ]
    for minute in (0, 1):  # registered, then one tick each
        moment = datetime(2026, 7, 1, 9, minute, 30, tzinfo=UTC)
        Clock(entries, redis_connection(), now=lambda moment=moment: moment).run_once()
    client.force_login(make_support_user())
    page = client.get("/schedule/").content.decode()
    rows = re.findall(r'<tr id="entry-([a-z_]+)">', page)
    assert rows == ["applications_reject_due", "applications_decline_due", "alpha", "zulu"]
    for name in rows:  # each row holds its own buttons
        row = re.search(rf'<tr id="entry-{name}">.*?</tr>', page, re.S).group(0)
        assert ">Run now</button>" in row and ">Pause</button>" in row
    assert "1 Jul 10:01:00 BST" in page  # the last tick, 09:01 UTC, in UK time with its zone
    assert "No running cron schedulers" in page  # explained: RQ's cron is not our clock

def test_actions_need_post_and_a_known_entry(client, registered):
    client.force_login(make_support_user())
    assert client.get("/schedule/every_minute/run/").status_code == 405
    assert client.get("/schedule/every_minute/resume/").status_code == 405
    assert client.get("/schedule/nope/pause/").status_code == 404
    assert client.post("/schedule/nope/run/").status_code == 404
    assert client.post("/schedule/every_minute/explode/").status_code == 404
    assert django_rq.get_queue("sweeps").count == 0
