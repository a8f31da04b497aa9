"""The pieces of the fleet fault test (tests/test_fleet_faults.py): hosts as network
namespaces, the address the shared services listen on, the web trickle, the drain-rate
measure and the tick ledger."""

import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from django.db.models import Count
from django.utils import timezone

from apps.applications.models import Application, ApplicationEvent, ApplicationState
from apps.outbox.models import OutboxEmail, OutboxStatus
from tests.factories import make_course, make_cycle, make_user
from tests.processes import wait_until
from tests.tcp_proxy import TcpProxy

S = ApplicationState
TICK = timedelta(seconds=2)  # tests.clock_timetables.FAST_SWEEPS


def ip(*args, netns=None, check=True):
    command = ["ip", *args] if netns is None else ["ip", "netns", "exec", netns, "ip", *args]
    return subprocess.run(command, check=check, capture_output=True)


class ServiceAddress:
    """One address on the machine's loopback (10.S.250.1/32) where Redis, its replica and the
    Sentinels listen: the address the Sentinels hand out for the primary must be the same for
    every host. Each host routes it over its own veth link, so cutting the link cuts it too."""

    def __init__(self, subnet: int):
        self.address = f"10.{subnet}.250.1"
        ip("addr", "add", f"{self.address}/32", "dev", "lo")

    def remove(self) -> None:
        ip("addr", "del", f"{self.address}/32", "dev", "lo", check=False)


class Host:
    """A network namespace with a veth link to the machine: 10.S.N.1 outside, 10.S.N.2 inside."""

    def __init__(self, index: int, subnet: int, services: ServiceAddress):
        tag = f"{os.getpid() % 100000}{index}"
        self.index = index
        self.name, self.outside, self.inside = f"apf{tag}", f"apf{tag}o", f"apf{tag}i"
        self.gateway, self.address = f"10.{subnet}.{index}.1", f"10.{subnet}.{index}.2"
        self.proxies: list[TcpProxy] = []
        self.processes = {}
        ip("netns", "add", self.name)
        ip("link", "add", self.outside, "type", "veth", "peer", "name", self.inside)
        ip("link", "set", self.inside, "netns", self.name)
        ip("addr", "add", f"{self.gateway}/24", "dev", self.outside)
        ip("link", "set", self.outside, "up")
        ip("addr", "add", f"{self.address}/24", "dev", self.inside, netns=self.name)
        ip("link", "set", self.inside, "up", netns=self.name)
        ip("link", "set", "lo", "up", netns=self.name)
        ip("route", "add", f"{services.address}/32", "via", self.gateway, netns=self.name)

    def proxy(self, port: int) -> TcpProxy:
        proxy = TcpProxy(port, listen_host=self.gateway)
        proxy.up()
        self.proxies.append(proxy)
        return proxy

    def cut(self, down: bool) -> None:
        ip("link", "set", self.outside, "down" if down else "up")

    def remove(self) -> None:
        for proxy in self.proxies:
            proxy.down()
        ip("link", "del", self.outside, check=False)
        ip("netns", "del", self.name, check=False)


def seed_due(count: int) -> list[int]:
    course, cycle = make_course(), make_cycle()
    candidates = [make_user() for _ in range(10)]
    due = timezone.now() - timedelta(minutes=1)
    created = Application.objects.bulk_create(
        (Application(candidate=candidates[n % 10], course=course, provider_id=course.provider_id, cycle=cycle,
                     state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=due) for n in range(count)),
        batch_size=2000,
    )
    return [application.pk for application in created]


def changed(ids: list[int]) -> int:
    return Application.objects.filter(pk__gte=min(ids), pk__lte=max(ids), state=S.REJECTED).count()


def drain_rate(ids: list[int], *, timeout: float, since: datetime) -> dict:
    """Wait (bounded) until every one of ``ids`` is changed, then read the drain rate from the
    database's own clock: the events' ``created_at`` (each batch's transaction time) between
    the 10th and the 90th percentile of the batch, in applications a second, so neither the
    wait for the next tick nor the test's polling counts. ``at90``: seconds from ``since``
    (UTC) to the 90th percentile."""
    wait_until(lambda: changed(ids) == len(ids), timeout=timeout, interval=0.1,
               message=f"{len(ids)} applications changed")
    times = sorted(ApplicationEvent.objects.filter(application_id__gte=min(ids), application_id__lte=max(ids))
                   .values_list("created_at", flat=True))
    n = len(times)
    first, ninetieth = times[n // 10], times[max(n * 9 // 10 - 1, 0)]
    span = max((ninetieth - first).total_seconds(), 0.05)
    return {"rate": 0.8 * n / span, "at90": (ninetieth - since).total_seconds()}


class Trickle:
    """GET /healthz on every web, one thread per host, every 0.3 s; each answer counted by
    (round, host, whether the host was cut off, status). A request waits up to 15 s (a web
    waiting on an exhausted pool answers 503 after PgBouncer's query_wait_timeout)."""

    def __init__(self, hosts):
        self.hosts, self.stopping, self.seen = hosts, threading.Event(), Counter()
        self.cut: set[str] = set()
        self.round = "start"
        self.threads = [threading.Thread(target=self._run, args=(host,), daemon=True) for host in hosts]

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=20)

    def _run(self, host):
        while not self.stopping.is_set():
            was_cut, round_name = host.name in self.cut, self.round
            try:
                with urllib.request.urlopen(f"http://{host.address}:8000/healthz", timeout=15) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = "no answer"
            self.seen[(round_name, host.index, was_cut or host.name in self.cut, status)] += 1
            self.stopping.wait(0.3)

    def answers(self, round_name: str) -> Counter:
        """Status -> count for the round, from hosts not cut off."""
        answers = Counter()
        for (name, _, cut, status), n in list(self.seen.items()):
            if name == round_name and not cut:
                answers[status] += n
        return answers

    def by_host(self, round_name: str) -> dict:
        return {(key[1], key[3]): n for key, n in list(self.seen.items()) if key[0] == round_name and not key[2]}


def logged_ticks(log_paths: list[Path], entry: str) -> list[datetime]:
    """Every tick of ``entry`` the clocks logged as claimed (JSON log lines, one per claim)."""
    ticks = []
    for path in log_paths:
        for line in path.read_text(errors="replace").splitlines():
            if '"tick"' not in line or entry not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("entry") == entry and record.get("tick") and "enqueued_job_id" in record:
                ticks.append(datetime.fromisoformat(record["tick"]))
    return ticks


def tick_ledger(logged: list[datetime], in_redis: list[datetime], since: datetime) -> dict:
    """The round's ticks: claimed (by any clock's log, or in Redis' list of runs), each once.

    Returns the ticks claimed, those claimed twice, the ticks missed between claims (a clock
    that could not reach Redis at a tick claims the latest one when back: coalesced, by
    design; the sweep it runs selects every due row), and the claims missing from Redis'
    list of runs (acknowledged by the old primary, lost in a failover)."""
    logged = [tick for tick in logged if tick >= since]
    in_redis = [tick for tick in in_redis if tick >= since]
    twice = sorted(tick for tick, n in Counter(logged).items() if n > 1)
    twice += sorted(tick for tick, n in Counter(in_redis).items() if n > 1)
    claimed = sorted(set(logged) | set(in_redis))
    coalesced = sum(int((b - a) / TICK) - 1 for a, b in zip(claimed, claimed[1:]))
    oldest_kept = min(in_redis) if in_redis else None
    lost = sorted(tick for tick in set(logged) - set(in_redis) if oldest_kept is not None and tick >= oldest_kept)
    return {"claimed": len(claimed), "twice": twice, "coalesced": coalesced, "lost_from_redis": len(lost)}


def outbox_checks(smtp_server) -> int:
    keys = set(OutboxEmail.objects.filter(status=OutboxStatus.SENT).values_list("key", flat=True))
    assert not OutboxEmail.objects.exclude(status=OutboxStatus.SENT).exists()
    received = Counter(message["Message-ID"] for message in smtp_server.messages)
    delivered = {mid.strip("<>").split("@")[0].replace(".", ":") for mid in received}
    assert keys <= delivered, sorted(keys - delivered)[:5]
    return sum(received.values()) - len(received)


def changed_once(ids) -> None:
    assert Application.objects.filter(pk__in=ids, state=S.REJECTED).count() == len(ids)
    events = ApplicationEvent.objects.filter(application_id__in=ids).values("application_id").annotate(n=Count("id"))
    assert events.count() == len(ids) and {row["n"] for row in events} == {1}


class Writer(threading.Thread):
    """Pushes numbers to a Redis list through the Sentinels as fast as it can, counting the acknowledged."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.stopping, self.acked = client, threading.Event(), 0
        client.delete("apply:fleet:writes")

    def run(self):
        while not self.stopping.is_set():
            try:
                self.client.rpush("apply:fleet:writes", self.acked)
                self.acked += 1
            except Exception:
                self.stopping.wait(0.05)

    def lost(self) -> dict:
        self.stopping.set()
        self.join(timeout=10)
        kept = wait_until(lambda: try_or_none(lambda: [self.client.llen("apply:fleet:writes")]), timeout=30,
                          message="the new primary")
        return {"acked writes": self.acked, "acked writes lost": self.acked - kept[0]}


def try_or_none(fn):
    try:
        return fn()
    except Exception:
        return None
