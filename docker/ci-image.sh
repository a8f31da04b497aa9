#!/usr/bin/env bash
# Builds the image from the project's Dockerfile with podman (no Docker engine) and runs the
# stack from it as docker-compose.yml starts it: migrate once, then web, two workers and a
# clock, each with the compose file's command, environment and health check. Then checks
# what the image and the stack must do, printing each step with its result and time.
#
#     bash docker/ci-image.sh          (as root, or with passwordless sudo; .ci/run calls it)
#
# No registry is reachable on our machines (../shared/notes/containers-here.md):
# - the Dockerfile's FROM python:3.11-slim-bookworm resolves to a stand-in built once from
#   Debian's packages (debootstrap: Debian's Python 3.11 in a venv at /opt/venv, first on
#   PATH) and kept in podman's local storage; `podman build --pull=never` uses it unchanged;
# - Python packages come from a wheelhouse downloaded on the host (kept per requirements.txt
#   digest), mounted for the build only (--build-arg PIP_NO_INDEX/PIP_FIND_LINKS): the build
#   needs no network, and its pip layer is cached until requirements.txt changes;
# - PostgreSQL and Redis are the machine's own servers on 127.0.0.1, reached from each
#   container through slirp4netns's host loopback (10.0.2.2) under the compose host names
#   (postgres, redis, mailpit), in a throwaway database and Redis database
#   $APPLY_IMAGE_CI_REDIS_DB (10); mail goes to a real SMTP server (aiosmtpd) started here.
# Containers, the database, the Redis database and the SMTP server are removed at the end;
# the base image, the wheelhouse and the layer cache stay for the next run.
#
# Environment: PYTHON (a Python with requirements-dev.txt installed; default .venv/bin/python),
# APPLY_IMAGE_CI_CACHE (default /var/cache/apply-image-ci), APPLY_IMAGE_CI_REDIS_DB (10),
# APPLY_IMAGE_CI_MIRROR (the Debian mirror for the stand-in base; default: apt's).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n --preserve-env=PYTHON,APPLY_IMAGE_CI_CACHE,APPLY_IMAGE_CI_REDIS_DB,APPLY_IMAGE_CI_MIRROR bash "$0" "$@"
  fi
  echo "SKIPPED image build and stack run: podman, buildah and debootstrap need root here, and there is no passwordless sudo"
  exit 0
fi

PYTHON="$(realpath -s "${PYTHON:-.venv/bin/python}")"  # -s: a venv's python is a symlink
CACHE="${APPLY_IMAGE_CI_CACHE:-/var/cache/apply-image-ci}"
REDIS_DB="${APPLY_IMAGE_CI_REDIS_DB:-10}"
BASE=localhost/python:3.11-slim-bookworm
IMAGE=localhost/apply:local   # docker-compose.yml's image: apply:local
RUN_ID="apply-image-ci-$$"
DB="apply_image_ci_$$"
HOST_LOOPBACK=10.0.2.2        # slirp4netns's address for the host's 127.0.0.1
work="$(mktemp -d)"
mkdir -p "$CACHE"

# --- reporting ---------------------------------------------------------------------------
started_at=$(date +%s%N)
current="setup"
result=""
elapsed() { awk -v since="$1" -v now="$(date +%s%N)" 'BEGIN { printf "%.1f", (now - since) / 1e9 }'; }
step() {  # step "what is checked" function [args]: runs it, prints ok with its result and time
  current="$1"
  shift
  result=""
  local start
  start=$(date +%s%N)
  echo "--- $current"
  "$@"
  echo "    ok ($(elapsed "$start") s)${result:+: $result}"
}
fail() {
  echo "    $*" >&2
  return 1
}

smtp_pid=""
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" != 0 ]; then
    echo "FAILED: $current (exit $rc, after $(elapsed "$started_at") s)" >&2
    for name in $(podman ps -a --filter "label=apply-image-ci=$$" --format '{{.Names}}' 2>/dev/null); do
      echo "::: last lines of $name" >&2
      podman logs --tail 25 "$name" >&2 2>&1
    done
  fi
  podman ps -aq --filter "label=apply-image-ci=$$" 2>/dev/null | xargs -r podman rm -f -t 0 >/dev/null 2>&1
  [ -n "$smtp_pid" ] && kill "$smtp_pid" 2>/dev/null
  if [ -n "${db_created:-}" ]; then
    "$PYTHON" - "$DB" <<'PY'
import sys, psycopg
with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{sys.argv[1]}" WITH (FORCE)')
PY
  fi
  [ -n "${redis_used:-}" ] && redis_flush
  rm -rf "$work"
  [ "$rc" = 0 ] && echo "=== image build and stack run: all checks passed in $(elapsed "$started_at") s"
  exit "$rc"
}
trap cleanup EXIT

# --- tools ----------------------------------------------------------------------------------
install_tools() {
  local missing=() package
  for package in podman buildah runc slirp4netns debootstrap; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "    installing Debian packages: ${missing[*]}"
    if ! command -v apt-get >/dev/null \
      || ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$work/apt.log" 2>&1; }; then
      tail -5 "$work/apt.log" 2>/dev/null
      echo "SKIPPED image build and stack run: could not install ${missing[*]} with apt-get"
      trap - EXIT
      rm -rf "$work"
      exit 0
    fi
  fi
  # Private runtime settings (what works on these hosts: containers-here.md), not /etc's.
  cat >"$CACHE/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF="$CACHE/containers.conf"
  "$PYTHON" -c "import aiosmtpd, psycopg, redis, yaml, podman_compose" \
    || fail "$PYTHON lacks requirements-dev.txt (aiosmtpd, psycopg, redis, PyYAML, podman-compose)"
  result="$(podman --version), $(buildah --version | cut -d' ' -f1-3), runc, ${missing[*]:-nothing} installed"
}

# --- the stand-in base image ----------------------------------------------------------------
mirror() {
  if [ -n "${APPLY_IMAGE_CI_MIRROR:-}" ]; then echo "$APPLY_IMAGE_CI_MIRROR"; return; fi
  # apt's own Debian mirror (deb822 or one-line sources), else Debian's CDN.
  local found
  found=$(grep -rhoE 'https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true)
  found=${found%%$'\n'*}
  echo "${found// /}" | grep . || echo http://deb.debian.org/debian
}

image_mb() { echo "$(($(podman image inspect --format '{{.Size}}' "$1") / 1000000))"; }

build_base() {
  if podman image exists "$BASE"; then
    result="$BASE present ($(image_mb "$BASE") MB), reused"
    return
  fi
  local rootfs="$CACHE/base-rootfs"
  rm -rf "$rootfs"
  echo "    debootstrap bookworm from $(mirror) (about 2 minutes, once per machine)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log"; fail "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  # Debian's Python refuses system-wide pip installs: a venv first on PATH plays the official
  # image's /usr/local Python (python, pip). No package cache or lists, as in the official one.
  chroot "$rootfs" python3 -m venv /opt/venv
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/root/.cache
  tar -C "$rootfs" --numeric-owner -cf - . | podman import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL org.opencontainers.image.description=stand-in-for-python-3.11-slim-bookworm-from-debootstrap' \
    --change 'CMD ["python3"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
  result="$BASE built ($(image_mb "$BASE") MB)"
}

# --- wheelhouse and image -------------------------------------------------------------------
wheelhouse() {
  # Per requirements.txt and the base's Python (the stand-in's is Debian's 3.11.2: redis needs
  # async-timeout below 3.11.3, a marker read for the Python that installs).
  local version
  version=$(podman run --rm --network none "$BASE" python -c 'import platform; print(platform.python_version())')
  WHEELHOUSE="$CACHE/wheelhouse-$(cat requirements.txt <(echo "$version") | sha256sum | cut -c1-16)"
  if [ -f "$WHEELHOUSE/.complete" ]; then
    result="$(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels for this requirements.txt and Python $version, reused"
    return
  fi
  find "$CACHE" -maxdepth 1 -name 'wheelhouse-*' -exec rm -rf {} +
  # Downloaded by the base's own pip (outside the build, with the host's network and the
  # host's trusted certificates, e.g. a TLS proxy's), so that every marker is read for that
  # Python; the host's pip cannot be told python_full_version.
  mkdir -p "$WHEELHOUSE"
  podman run --rm --network host -v "$PWD/requirements.txt:/requirements.txt:ro" -v "$WHEELHOUSE:/wheelhouse" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -e PIP_CERT=/etc/ssl/certs/ca-certificates.crt ${PIP_INDEX_URL:+-e PIP_INDEX_URL="$PIP_INDEX_URL"} "$BASE" \
    pip download --disable-pip-version-check --no-cache-dir --only-binary=:all: -r /requirements.txt -d /wheelhouse \
    >"$work/pip-download.log" 2>&1 || { tail -20 "$work/pip-download.log"; fail "pip download failed"; }
  touch "$WHEELHOUSE/.complete"
  result="$(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels downloaded for Python $version"
}

build_image() {
  # No network in the build: pip reads the wheelhouse, mounted for RUN steps only at /mnt (a
  # directory every Debian image has: a new mount point would be left behind, empty, in the
  # image) and never copied in.
  local previous
  previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  podman build --pull=never --network none --layers -f Dockerfile -t "$IMAGE" \
    --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/mnt \
    -v "$WHEELHOUSE:/mnt:ro" . >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; fail "podman build failed"; }
  # The previous build's image, now untagged (its cached layers stay: the new image uses them).
  if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
  local steps cached pip
  steps=$(grep -c '^STEP ' "$work/build.log" || true)
  cached=$(grep -c 'Using cache' "$work/build.log" || true)
  pip=$(grep -A1 '^STEP .*RUN pip install' "$work/build.log" | grep -q 'Using cache' && echo "from the cache" || echo "built")
  result="$IMAGE, $cached of $steps steps from the layer cache (pip install layer $pip)"
}

check_image() {
  local uid
  uid=$(podman run --rm --network none "$IMAGE" id -u)
  [ "$uid" != 0 ] || fail "the image runs as root"
  # As root inside, so that nothing is unreadable to the search.
  podman run --rm --network none --user 0 "$IMAGE" sh -c '
    set -e
    for tool in gcc cc g++ make; do
      if command -v "$tool" >/dev/null; then echo "build tool in the image: $tool"; exit 1; fi
    done
    if dpkg-query -W -f="\${Status}\n" build-essential gcc 2>/dev/null | grep -q "ok installed"; then
      echo "build-essential or gcc installed"; exit 1
    fi
    caches=$(find / -xdev \( -path "*/.cache/pip" -o -path /wheelhouse -o -path "/mnt/*" -o -name "*.deb" \
      -o \( -name "*.whl" -not -path "*/ensurepip/*" -not -path "/usr/share/python-wheels/*" \) \) -print)
    if [ -n "$caches" ]; then echo "caches or wheels in the image: $caches"; exit 1; fi
    if [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v "^lock$\|^partial$")" ]; then
      echo "apt lists left in the image"; exit 1
    fi
    test -s /app/staticfiles/staticfiles.json || { echo "no /app/staticfiles/staticfiles.json"; exit 1; }
    test ! -e /app/tests || { echo "tests/ is in the image"; exit 1; }
  ' || fail "image check failed"
  result="user $uid, no compiler, no pip cache, wheels or apt lists, staticfiles.json present, $(image_mb "$IMAGE") MB (base $(image_mb "$BASE") MB)"
}

check_compose_config() {
  local out
  out=$(cd "$work" && cp "$OLDPWD/docker-compose.yml" . && DJANGO_SECRET_KEY=ci-image-not-a-secret \
    "$PYTHON" -m podman_compose -f docker-compose.yml config 2>&1) \
    || { echo "$out" | tail -20; fail "podman-compose config refused docker-compose.yml"; }
  local services
  services=$(echo "$out" | "$PYTHON" -c 'import sys, yaml; print(" ".join(sorted(yaml.safe_load(sys.stdin)["services"])))')
  result="podman-compose $("$PYTHON" -m podman_compose version 2>/dev/null | grep -oE 'podman-compose version [0-9.]+' | grep -oE '[0-9.]+$' || true) accepts it: $services"
}

# --- the stack ------------------------------------------------------------------------------
free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

redis_flush() {
  "$PYTHON" -c "import redis, sys; redis.Redis(host='127.0.0.1', port=6379, db=int(sys.argv[1])).flushdb()" "$REDIS_DB"
}

backing_services() {
  # What a run killed outright (a CI timeout) left: its containers would go on working on
  # Redis database $REDIS_DB, taking this run's jobs. Each is labelled with its script's pid.
  local stale=() pid
  for pid in $(podman ps -a --filter label=apply-image-ci --format '{{index .Labels "apply-image-ci"}}' | sort -u); do
    kill -0 "$pid" 2>/dev/null || stale+=("$pid")
  done
  for pid in "${stale[@]}"; do
    podman ps -aq --filter "label=apply-image-ci=$pid" | xargs -r podman rm -f -t 0 >/dev/null
  done
  "$PYTHON" - "$DB" <<'PY'
import os, sys, psycopg
with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
    for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'apply\\_image\\_ci\\_%'"):
        try:
            os.kill(int(name.rsplit("_", 1)[1]), 0)
        except (ValueError, ProcessLookupError):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{sys.argv[1]}"')
PY
  db_created=1
  redis_used=1
  redis_flush
  smtp_port=$(free_port)
  PYTHONUNBUFFERED=1 "$PYTHON" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" >"$work/smtp.log" 2>&1 &
  smtp_pid=$!
  # The compose file's app environment; only where the backing services are changes.
  eval "$(DJANGO_SECRET_KEY=ci-image-not-a-secret "$PYTHON" docker/ci_image_compose.py "$work/app.env" \
    "DATABASE_URL=postgres://postgres@postgres:5432/$DB" \
    "REDIS_URL=redis://redis:6379/$REDIS_DB" \
    "EMAIL_PORT=$smtp_port")"
  result="PostgreSQL database $DB and Redis db $REDIS_DB on the host, SMTP (aiosmtpd) on 127.0.0.1:$smtp_port${stale[*]:+; removed what runs ${stale[*]} left}"
}

container_args=()
set_container_args() {
  container_args=(
    --label "apply-image-ci=$$" --env-file "$work/app.env"
    --network slirp4netns:allow_host_loopback=true
    --add-host "postgres:$HOST_LOOPBACK" --add-host "redis:$HOST_LOOPBACK" --add-host "mailpit:$HOST_LOOPBACK"
  )
}

start_process() {  # start_process NAME SERVICE [podman run options]: as compose starts SERVICE
  local name="$1" service="$2"
  shift 2
  local -n command="cmd_$service"
  local health="health_$service" timeout="health_timeout_$service" grace="grace_$service"
  # No restart policy (compose: unless-stopped): a crash must fail this run, not be hidden.
  # No health interval: nothing runs checks without systemd; they are run below by hand.
  podman run -d --name "$RUN_ID-$name" "${container_args[@]}" "$@" \
    --health-cmd "${!health}" --health-timeout "${!timeout}" --health-interval disable \
    --stop-timeout "${!grace}" "$IMAGE" "${command[@]}" >/dev/null
}

migrate() {
  set_container_args
  podman run --name "$RUN_ID-migrate" "${container_args[@]}" "$IMAGE" "${cmd_migrate[@]}" >"$work/migrate.log" 2>&1 \
    || { tail -20 "$work/migrate.log"; fail "migrate failed"; }
  local code
  code=$(podman inspect --format '{{.State.ExitCode}}' "$RUN_ID-migrate")
  [ "$code" = 0 ] || fail "migrate exited $code"
  result="${cmd_migrate[*]}: exit 0, $(grep -c '  Applying ' "$work/migrate.log") migrations applied"
}

# A provider's application awaiting its decision, deadline passed five seconds ago: the
# clock's every-minute reject sweep must reject it and the provider's email go out.
DUE_APPLICATION='
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from apps.applications.models import Application, ApplicationState, Course, Provider, RecruitmentCycle
now = timezone.now()
provider = Provider.objects.create(code="CI", name="Image CI provider", email="provider@ci.example")
course = Course.objects.create(provider=provider, code="CI1", name="Image CI course")
cycle, _ = RecruitmentCycle.objects.get_or_create(year=now.year, defaults={
    "applications_open_date": now - timedelta(days=100), "apply_deadline": now + timedelta(days=200),
    "reject_by_default_date": now + timedelta(days=230), "decline_by_default_date": now + timedelta(days=236),
    "next_cycle_opens_date": now + timedelta(days=243), "winter_reject_by_default_date": now + timedelta(days=321),
    "winter_decline_by_default_date": now + timedelta(days=327)})
candidate = get_user_model().objects.create_user(username="ci-candidate", email="candidate@ci.example")
application = Application.objects.create(
    candidate=candidate, course=course, cycle=cycle, state=ApplicationState.AWAITING_PROVIDER_DECISION,
    submitted_at=now - timedelta(days=30), reject_by_default_at=now - timedelta(seconds=5))
print(f"application={application.pk}")
'

due_application() {
  local out
  out=$(podman run --rm "${container_args[@]}" "$IMAGE" python manage.py shell -c "$DUE_APPLICATION" 2>&1) \
    || { echo "$out" | tail -20; fail "could not create the application"; }
  application=$(echo "$out" | sed -n 's/^application=//p')
  [ -n "$application" ] || fail "no application id in: $out"
  application_created=$(date +%s%N)
  result="application $application, awaiting provider decision, reject_by_default_at 5 s ago"
}

start_processes() {
  web_port=$(free_port)
  start_process web web -p "127.0.0.1:$web_port:8000"
  start_process worker-1 worker
  start_process worker-2 worker
  start_process clock clock
  result="web (127.0.0.1:$web_port -> 8000), worker-1, worker-2, clock: $(podman ps --filter "label=apply-image-ci=$$" --format '{{.Names}}' | wc -l) running"
}

http_status() { curl -s -o "$work/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$web_port$1" || true; }

web_answers() {
  local deadline=$((SECONDS + 90)) healthz readyz
  until [ "$(http_status /healthz)" = 200 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "/healthz did not answer 200 within 90 s"
    podman container exists "$RUN_ID-web" && [ "$(podman inspect --format '{{.State.Running}}' "$RUN_ID-web")" = true ] \
      || fail "the web container is not running"
    sleep 1
  done
  healthz=$(cat "$work/body")
  until [ "$(http_status /readyz)" = 200 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "/readyz: $(cat "$work/body")"
    sleep 1
  done
  readyz=$(cat "$work/body")
  result="GET /healthz 200 $healthz; GET /readyz 200 $readyz"
}

health_checks() {
  local name service bound start said report=()
  for name in web worker-1 worker-2 clock; do
    service=${name%-[0-9]}
    bound="health_bound_$service"
    start=$SECONDS
    # Healthy as soon as one run passes; compose would call it unhealthy after this bound.
    until podman healthcheck run "$RUN_ID-$name" >/dev/null 2>&1; do
      [ $((SECONDS - start)) -lt "${!bound}" ] || fail "$name: unhealthy for ${!bound} s"
      sleep 2
    done
    said=$(podman inspect --format '{{range .State.Healthcheck.Log}}{{.Output}}{{end}}' "$RUN_ID-$name" 2>/dev/null | tail -1)
    report+=("$name: ${said:-healthy}")
  done
  result=$(printf '\n      %s' "${report[@]}")
}

rejected_and_mailed() {
  local deadline=$((SECONDS + 100)) state="" mailed=""
  while :; do
    state=$("$PYTHON" - "$DB" "$application" <<'PY'
import sys, psycopg
with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{sys.argv[1]}") as conn:
    row = conn.execute("SELECT state, rejected_by_default FROM applications_application WHERE id = %s", (int(sys.argv[2]),)).fetchone()
    print(f"{row[0]}{' (by default)' if row[1] else ''}")
PY
)
    grep -q "^Message-ID: <rbd\.provider\.$application@" "$work/smtp.log" && mailed=1
    if [ "$state" = "rejected (by default)" ] && [ -n "$mailed" ]; then break; fi
    [ "$SECONDS" -lt "$deadline" ] || fail "after 100 s: state $state, provider's email ${mailed:+received}${mailed:-not received}"
    sleep 2
  done
  local to
  to=$(grep -A30 "^Message-ID: <rbd\.provider\.$application@" "$work/smtp.log" | grep -m1 '^To: ' || true)
  [ -n "$to" ] || to=$(grep -B30 "^Message-ID: <rbd\.provider\.$application@" "$work/smtp.log" | grep '^To: ' | tail -1)
  result="application $application $state $(elapsed "$application_created") s after it was created; the SMTP server received <rbd.provider.$application@...> ${to}"
}

job_status() {
  "$PYTHON" -c "import redis, sys; print((redis.Redis(host='127.0.0.1', port=6379, db=int(sys.argv[1])).hget('rq:job:' + sys.argv[2], 'status') or b'').decode())" "$REDIS_DB" "$1"
}

sigterm_stops() {
  # A job that runs for 8 s (time.sleep: only what the image contains), enqueued inside the stack.
  local job deadline=$((SECONDS + 30))
  job=$(podman exec "$RUN_ID-web" python manage.py shell -c \
    'import django_rq; print("job=" + django_rq.get_queue("default").enqueue("time.sleep", 8).id)' 2>"$work/enqueue.log" \
    | sed -n 's/^job=//p')
  [ -n "$job" ] || fail "could not enqueue the job"
  until [ "$(job_status "$job")" = started ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "job $job not started by a worker within 30 s (status $(job_status "$job"))"
    sleep 0.3
  done
  local name service grace pids=() report=()
  for name in web worker-1 worker-2 clock; do
    service=${name%-[0-9]}
    grace="grace_$service"
    (
      start=$(date +%s%N)
      podman stop -t "${!grace}" "$RUN_ID-$name" >/dev/null
      echo "$(elapsed "$start")" >"$work/stopped-$name"
    ) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  local code took status
  for name in web worker-1 worker-2 clock; do
    service=${name%-[0-9]}
    grace="grace_$service"
    code=$(podman inspect --format '{{.State.ExitCode}}' "$RUN_ID-$name")
    took=$(cat "$work/stopped-$name")
    [ "$code" = 0 ] || fail "$name exited $code after SIGTERM (${took} s, grace ${!grace} s)"
    report+=("$name: exit 0 in ${took} s (grace ${!grace} s)")
  done
  status=$(job_status "$job")
  [ "$status" = finished ] || fail "job $job is $status after the stop, not finished"
  result="job $job (8 s) was running; $(printf '%s; ' "${report[@]}")job finished"
}

echo "=== image build and stack run ($0)"
step "tools: podman, buildah, runc, slirp4netns, debootstrap" install_tools
step "stand-in base image $BASE" build_base
step "wheelhouse for requirements.txt" wheelhouse
step "podman build (the project's Dockerfile, --pull=never, no network)" build_image
step "image: non-root, no build tools or caches, static files collected, size" check_image
step "podman-compose config accepts docker-compose.yml" check_compose_config
step "backing services: PostgreSQL, Redis, SMTP" backing_services
step "migrate, once (compose's migrate service)" migrate
step "a due application, created inside the stack" due_application
step "web, two workers and a clock (compose's commands)" start_processes
step "web answers /healthz and /readyz" web_answers
step "health checks (compose's, run by podman healthcheck run)" health_checks
step "the due application is rejected by default and the provider's email delivered" rejected_and_mailed
step "SIGTERM (podman stop -t <stop_grace_period>): exit 0, a running job finishes first" sigterm_stops
