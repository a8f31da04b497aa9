"""Settings for web, worker and clock alike.

One module, read through ``config.env``. Production differs from a local run only by
environment variables; defaults are the production-safe choice. Every variable is listed
in the README's configuration table.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from csp.constants import NONCE, NONE, SELF

from config import env, redis_settings

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.str_("APP_DATA_DIR", str(BASE_DIR / "var")))

# --- Core --------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env.bool_("DJANGO_DEBUG", False)
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key (required: no default)
SECRET_KEY = env.str_("DJANGO_SECRET_KEY")
# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = env.list_("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list_("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Which process this is (web, worker, clock): stamped on every log line.
SERVICE_NAME = env.str_("SERVICE_NAME", "web")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "axes",
    "apps.core",
    "apps.applications",
    "apps.outbox",
    "apps.scheduling",
    "apps.monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # 400 for a NUL byte in the query, 413 for a body over REQUEST_BODY_MAX_BYTES, 415 for an
    # upload: before anything reads the body (CSRF's check reads it in process_view).
    "apps.core.request_limits.RequestLimitsMiddleware",
    # Hands the signed-in user's id (never the name) to gunicorn's access log line.
    "apps.core.middleware.AccessLogUserMiddleware",
    "apps.core.middleware.PrivateCacheMiddleware",
    "apps.core.middleware.RedisUnavailableMiddleware",
    # An empty 405 (require_POST, GET /logout/) gets a page in plain words.
    "apps.core.middleware.MethodNotAllowedPageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A sign-in's lockout check, password and failure count one step per username and address.
    "apps.core.sign_in_throttling.SignInLockMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                # Support's first page shows monitoring's verdict; the applications app below cannot ask for it.
                "apps.monitoring.context_processors.support_attention_on_first_page",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
# SQLite is the embedded default for a local run; it is set up for several processes
# (web, worker, clock): WAL, a busy timeout and immediate transactions, so that writers
# queue for the lock instead of failing with "database is locked" mid-transaction.
DATABASE_URL = env.str_("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no var/ yet
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
    # A file, not memory: tests start real worker and clock processes that share it
    # (one per test run, so two runs on one machine do not collide).
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # pg_stat_activity shows which service holds each connection (web, worker, clock).
    DATABASES["default"]["OPTIONS"] = {"application_name": f"apply-{SERVICE_NAME}", **DATABASES["default"].pop("OPTIONS", {})}
# A pooler in transaction mode between us and PostgreSQL (PgBouncer): each transaction may
# run on another server session, so nothing may live in a session across transactions. The
# code holds no session state of its own (no advisory locks, LISTEN or SET outside a
# transaction; Django's SET TIME ZONE at connect is a parameter PgBouncer tracks and
# replays); this turns off what Django and psycopg would otherwise keep there: server-side
# cursors (.iterator() holds a cursor across fetches) and prepared statements.
DATABASE_POOLER = env.str_("DATABASE_POOLER", "")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DATABASE_POOLER must be empty or 'pgbouncer', got {DATABASE_POOLER!r}.")
if DATABASE_POOLER:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_POOLER=pgbouncer needs a postgres:// DATABASE_URL.")
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and RQ ------------------------------------------------------------------
# https://github.com/rq/django-rq#installation
# Tests use another Redis database number than the local run (see tests/settings_env.py).
# TLS: rediss://:password@host:6380/0; a private CA's certificate goes in the URL as
# ?ssl_ca_certs=/path/ca.pem (redis-py reads it from the query; django-rq requires a
# verified certificate for rediss://). The README's "Redis in production" section.
REDIS_URL = env.str_("REDIS_URL", "redis://127.0.0.1:6379/0")
# Redis behind Sentinel: the Sentinels (host:port,...) and their name for the primary; the
# clients ask them for the current primary and follow a failover. REDIS_URL still gives the
# database, user, password and TLS (config/redis_settings.py).
REDIS_SENTINELS = env.list_("REDIS_SENTINELS", [])
REDIS_MASTER_NAME = env.str_("REDIS_MASTER_NAME", None)
REDIS_SENTINEL_PASSWORD = env.str_("REDIS_SENTINEL_PASSWORD", None)
# One connection for every queue, so every Redis client of the service is one client
# (apps.core.redis.redis_connection) and a worker's queues share it.
_REDIS = redis_settings.queue_connection(REDIS_URL, REDIS_SENTINELS, REDIS_MASTER_NAME, REDIS_SENTINEL_PASSWORD)
JOB_TIMEOUT = 25  # seconds; every job stays well under it (SPEC section 4)
RQ_QUEUES = {
    # Sweeps enqueued by the clock: small, frequent, must not wait behind batches.
    "sweeps": {**_REDIS, "DEFAULT_TIMEOUT": JOB_TIMEOUT},
    # Process jobs (batches of ids) fanned out by the sweeps.
    "default": {**_REDIS, "DEFAULT_TIMEOUT": JOB_TIMEOUT},
    # Email delivery from the outbox: decisions and deadlines first, then reminders and
    # reports (workers listen in this order, so an hourly chaser fan-out never delays a
    # reject-by-default email).
    "email": {**_REDIS, "DEFAULT_TIMEOUT": JOB_TIMEOUT},
    "email_bulk": {**_REDIS, "DEFAULT_TIMEOUT": JOB_TIMEOUT},
}
# How long a sweep's lease lasts without renewal (a sweep renews it before each page): a
# sweep paused or cut off past it stops enqueueing when it resumes (apps/core/leases.py).
APPLY_SWEEP_LEASE_SECONDS = env.int_("APPLY_SWEEP_LEASE_SECONDS", JOB_TIMEOUT + 5)
# We enqueue on commit ourselves (apps.core.enqueue): django-rq's commit mode covers
# enqueue() only and turns a Redis outage into a 500 after the commit.
RQ = {"COMMIT_MODE": "auto", "WORKER_CLASS": "apps.core.worker.Worker"}
# A worker whose resident memory grows past this (a leaking job) exits after its job and
# is restarted by its supervisor (apps/core/worker.py says why workers do not fork).
WORKER_MAX_RSS_MB = env.int_("WORKER_MAX_RSS_MB", 512)
# django-rq's copy of the dashboard inside the admin checks is_staff only; the dashboard is
# served once, at /django-rq/, behind the support permission (config/urls.py).
RQ_SHOW_ADMIN_LINK = False

# --- Business rules ----------------------------------------------------------------
# Overrides of the rules' working-day counts. The defaults are the rules' own, declared
# with them in apps/applications/rules.py (RBD 20, DBD 10, provider chaser 10, candidate
# chaser 5); None (variable unset) keeps the default. rules.WorkingDays.count reads these.
# Working days a provider has to decide before an application is rejected by default.
APPLY_RBD_WORKING_DAYS = env.int_("APPLY_RBD_WORKING_DAYS", None)
# Working days a candidate has to answer an offer before it is declined by default.
APPLY_DBD_WORKING_DAYS = env.int_("APPLY_DBD_WORKING_DAYS", None)
# Reminders: a provider is chased once when the RBD is within this many working days,
# a candidate once when the DBD is.
APPLY_PROVIDER_CHASER_WORKING_DAYS = env.int_("APPLY_PROVIDER_CHASER_WORKING_DAYS", None)
APPLY_CANDIDATE_CHASER_WORKING_DAYS = env.int_("APPLY_CANDIDATE_CHASER_WORKING_DAYS", None)
# The candidate's reject-by-default email goes this long after the provider's (0: at once).
APPLY_CANDIDATE_EMAIL_DELAY_SECONDS = env.int_("APPLY_CANDIDATE_EMAIL_DELAY_SECONDS", 60)
# How long ids handed to a queued batch are kept from the next sweep: a batch lost with a
# killed worker is re-selected after this (the README's recovery bound).
APPLY_CLAIM_TTL_SECONDS = env.int_("APPLY_CLAIM_TTL_SECONDS", 180)
# How long a delivery job holds an email it is sending; a sender killed mid-send frees it then.
OUTBOX_LEASE_SECONDS = env.int_("OUTBOX_LEASE_SECONDS", 60)
# Emails per delivery job (one SMTP connection each). Each is marked sent in its own commit.
OUTBOX_BATCH_SIZE = env.int_("OUTBOX_BATCH_SIZE", 200)
# A sender renews and checks its lease before each group of this many emails (and after
# any second without a check): it never sends a row another sender has since taken.
OUTBOX_LEASE_CHECK_EVERY = env.int_("OUTBOX_LEASE_CHECK_EVERY", 20)
# A delivery job sends for at most this long, then hands the rest to a new job (jobs time out at 25 s).
OUTBOX_JOB_SECONDS = env.int_("OUTBOX_JOB_SECONDS", 15)
# The class that sends (apps/outbox/senders.py): Django's email backend below.
OUTBOX_SENDER = env.str_("OUTBOX_SENDER", "apps.outbox.senders.DjangoEmailSender")
# The outbox sweep requeues a pending email only this long after it became available (or
# after its last failed attempt's backoff): its own delivery job normally sends it first.
OUTBOX_REQUEUE_AFTER_SECONDS = env.int_("OUTBOX_REQUEUE_AFTER_SECONDS", 120)
# Ids per process job, and per page of a sweep (a sweep pages on for up to 15 s).
APPLY_BATCH_SIZE = env.int_("APPLY_BATCH_SIZE", 500)
APPLY_SWEEP_LIMIT = env.int_("APPLY_SWEEP_LIMIT", 20000)

# --- Email -------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/email/
EMAIL_BACKEND = env.str_("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str_("EMAIL_HOST", "localhost")
EMAIL_PORT = env.int_("EMAIL_PORT", 25)
EMAIL_HOST_USER = env.str_("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str_("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.bool_("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env.int_("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env.str_("DEFAULT_FROM_EMAIL", "Apply <noreply@apply.localhost>")
SUPPORT_EMAIL = env.str_("SUPPORT_EMAIL", "support@apply.localhost")
# Right-hand side of outbox Message-IDs: <outbox key>@<domain>.
EMAIL_MESSAGE_ID_DOMAIN = env.str_("EMAIL_MESSAGE_ID_DOMAIN", "apply.localhost")
# The provider's limits, shared by every sender (apps/outbox/rate.py); 0 turns one off.
# Defaults: GOV.UK Notify's for a live service (3,000 a minute, 250,000 a day).
EMAIL_RATE_PER_SECOND = env.int_("EMAIL_RATE_PER_SECOND", 50)
EMAIL_RATE_PER_MINUTE = env.int_("EMAIL_RATE_PER_MINUTE", 3000)
EMAIL_DAILY_BUDGET = env.int_("EMAIL_DAILY_BUDGET", 250000)
# Bulk (chasers, reports) may take at most this percentage of the cap (100: whatever
# time-critical emails leave), and the bulk emails of one write are spread over this many
# seconds (0: all due at once). apps/outbox/rate.py, apps/outbox/stagger.py.
EMAIL_BULK_MAX_PERCENT = env.int_("EMAIL_BULK_MAX_PERCENT", 100)
EMAIL_BULK_WINDOW_SECONDS = env.int_("EMAIL_BULK_WINDOW_SECONDS", 0)
if not 1 <= EMAIL_BULK_MAX_PERCENT <= 100:
    raise ImproperlyConfigured(f"EMAIL_BULK_MAX_PERCENT must be between 1 and 100, got {EMAIL_BULK_MAX_PERCENT}.")
for _name in ("EMAIL_RATE_PER_SECOND", "EMAIL_RATE_PER_MINUTE", "EMAIL_DAILY_BUDGET", "OUTBOX_LEASE_CHECK_EVERY",
              "EMAIL_BULK_WINDOW_SECONDS"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 or more, got {globals()[_name]}.")

# --- Auth --------------------------------------------------------------------------
# django-axes first: it refuses a locked-out sign-in before any password is hashed. Then
# Django's model backend, with the provider membership loaded with the user; Django's own
# stays listed so that sessions signed in before the change keep working.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "apps.applications.auth.UserWithProviderBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "applications:list"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttling (https://django-axes.readthedocs.io/en/latest/4_configuration.html),
# on /login/ and /admin/login/ alike. Failures are counted per username *and* client IP
# together: a stranger guessing a user's password from one address is stopped, but cannot
# lock that user out from everywhere (a username-only lockout would let anyone do that),
# and one office's NAT address is not locked for everyone behind it (an IP-only lockout
# would). Attempts live in the database, so every gunicorn worker sees the same counts.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.int_("AXES_FAILURE_LIMIT", 5)
if AXES_FAILURE_LIMIT < 1:  # 0 would lock every user out at the first attempt
    raise ImproperlyConfigured(f"AXES_FAILURE_LIMIT must be at least 1, got {AXES_FAILURE_LIMIT}.")
# Minutes a lockout lasts, counted from the last attempt (another attempt while locked
# starts it again). Support can lift it sooner: the README's "Sign-in throttling".
AXES_COOLOFF_TIME = timedelta(minutes=env.int_("AXES_COOLOFF_MINUTES", 15))
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# HTTP 429 with templates/registration/locked_out.html: when to try again, SUPPORT_EMAIL.
AXES_LOCKOUT_CALLABLE = "apps.core.sign_in_throttling.lockout_response"
# A successful sign-in clears the count, so only failures in a row lock anyone out.
AXES_RESET_ON_SUCCESS = True
# No row per successful sign-in (axes' AccessLog): a table that only grows, holding who
# signed in from where, which nothing here reads.
AXES_DISABLE_ACCESS_LOG = True
# The client's address (apps/core/sign_in_throttling.py): the peer's for direct connections
# (0, the default). Behind N reverse proxies that each append to X-Forwarded-For, set
# TRUSTED_PROXY_COUNT=N; the address N hops from the right is used, which a client cannot
# forge (whatever it sends itself ends up further left).
TRUSTED_PROXY_COUNT = env.int_("TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "apps.core.sign_in_throttling.client_ip"

# --- Request bodies (https://docs.djangoproject.com/en/5.2/ref/settings/#data-upload-max-memory-size)
# No form here has a file field and the largest form (an admin change page) is a few KB:
# a body over this many bytes is refused with 413 before it is read, and any multipart body
# (an upload) with 415 (apps/core/request_limits.py). Django's own limits agree, and its
# only upload handler keeps a file in memory, so no request ever writes a temporary file.
REQUEST_BODY_MAX_BYTES = env.int_("REQUEST_BODY_MAX_BYTES", 1024 * 1024)
if REQUEST_BODY_MAX_BYTES < 1024:
    raise ImproperlyConfigured(f"REQUEST_BODY_MAX_BYTES must be at least 1024, got {REQUEST_BODY_MAX_BYTES}.")
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]

# --- Security (https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/) --
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool_("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# Probes and the metrics scraper call the web process directly over plain HTTP, inside the
# network (a redirect to https would fail them): these three paths are not redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int_("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SESSION_COOKIE_SECURE = env.bool_("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
# https://docs.djangoproject.com/en/5.2/ref/settings/#csrf-failure-view: the service's own
# page, in plain words with a way back (apps/core/csrf.py), not Django's stock one.
CSRF_FAILURE_VIEW = "apps.core.csrf.csrf_failure"
# Error reports (the DEBUG page, error emails) hide URLs with credentials as well as
# Django's usual names (apps/core/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "apps.core.reporting.CredentialsHidingExceptionReporterFilter"
# https://django-csp.readthedocs.io/en/latest/configuration.html (django-csp 4 format).
# Scripts and styles come from our own origin only: an injected <script> or inline handler
# does not run. Our templates have no inline blocks (base.html's styles are a static file);
# one that needs an inline script gives it nonce="{{ CSP_NONCE }}". Third-party pages:
# the admin has no inline code. django-rq's dashboard has one inline script, the same in
# each of its list pages (it wires the bulk actions' checkboxes), allowed by its hash, as
# are its three inline <style> blocks; its job page's two onclick attributes stay blocked
# (a clickable row; the row's own link does the same). tests/test_security_headers.py
# renders every page and fails when a block is not allowed or a hash no longer needed.
CSP_THIRD_PARTY_SCRIPT_HASHES = ["'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='"]  # django-rq 4.2
CSP_THIRD_PARTY_STYLE_HASHES = [
    "'sha256-KKjBAGERxCMkpnyRzzx30Ft5uJyWEE4TggCMJ9MJhMw='",  # django-rq 4.2: confirmation pages
    "'sha256-3HT4TFoCN6UZR/IBz5IGZ/l8VEv+BIOqCR558/XA3Jg='",  # django-rq 4.2: worker and result details
    "'sha256-v5MY146GJAjl1QbCe2MklIw9r0xCNOWCEWSPd53tlgQ='",  # django-rq 4.2: queues
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE, *CSP_THIRD_PARTY_SCRIPT_HASHES],
        "style-src": [SELF, *CSP_THIRD_PARTY_STYLE_HASHES],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
# https://github.com/adamchainz/django-permissions-policy: no page uses these features.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen",
        "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment",
        "picture-in-picture", "publickey-credentials-get", "screen-wake-lock", "serial", "usb",
        "xr-spatial-tracking", "browsing-topics",
    )
}

# --- Monitoring (apps/monitoring; README "Operations") -----------------------------
# /metrics answers a scraper that presents this token (Authorization: Bearer <token>)...
METRICS_TOKEN = env.str_("METRICS_TOKEN", "")
# ... or whose address is in one of these networks (CIDRs, comma-separated; the address is
# the peer's, or the client's behind TRUSTED_PROXY_COUNT proxies). Neither set: /metrics is
# off (404), so a fresh deploy publishes nothing.
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(cidr, strict=False) for cidr in env.list_("METRICS_ALLOWED_NETWORKS", [])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from None

# https://docs.sentry.io/platforms/python/integrations/django/: error reporting, on only
# when SENTRY_DSN is set; the same call in web, worker and clock (they all load this module).
SENTRY_DSN = env.str_("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env.str_("SENTRY_ENVIRONMENT", "production")
try:
    SENTRY_TRACES_SAMPLE_RATE = float(env.str_("SENTRY_TRACES_SAMPLE_RATE", "0"))
except ValueError:
    raise ImproperlyConfigured("SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1.") from None
if SENTRY_DSN:
    from apps.monitoring.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        service=SERVICE_NAME,
    )

# --- Internationalisation ----------------------------------------------------------
LANGUAGE_CODE = "en-gb"
# Pinned: deadlines are defined in London time whatever the host's zone.
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------
STATIC_URL = "static/"
# Where collectstatic writes (each web start collects: config/gunicorn.py). Another
# path for a read-only image with a writable volume.
STATIC_ROOT = Path(env.str_("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# --- Logging: one JSON object per line ---------------------------------------------
LOG_LEVEL = env.str_("LOG_LEVEL", "INFO")
LOG_FORMAT = env.str_("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.core.logging.ContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s %(job_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(job_id)s%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "rq.worker": {"level": LOG_LEVEL, "handlers": ["console"], "propagate": False},
        "django.db.backends": {"level": "INFO"},
    },
}
