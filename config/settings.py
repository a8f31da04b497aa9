"""Settings for web, worker and clock alike.

One module, read through ``config.env``. Production differs from a local run only by
environment variables; defaults are the production-safe choice. Every variable is listed
in the README's configuration table.
"""

import os
from pathlib import Path

import dj_database_url

from config import env

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
    "apps.core",
    "apps.applications",
    "apps.outbox",
    "apps.scheduling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and RQ ------------------------------------------------------------------
# https://github.com/rq/django-rq#installation
# Tests use another Redis database number than the local run (see tests/settings_env.py).
REDIS_URL = env.str_("REDIS_URL", "redis://127.0.0.1:6379/0")
JOB_TIMEOUT = 25  # seconds; every job stays well under it (SPEC section 4)
RQ_QUEUES = {
    # Sweeps enqueued by the clock: small, frequent, must not wait behind batches.
    "sweeps": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": JOB_TIMEOUT},
    # Process jobs (batches of ids) fanned out by the sweeps.
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": JOB_TIMEOUT},
    # Email delivery from the outbox: decisions and deadlines first, then reminders and
    # reports (workers listen in this order, so an hourly chaser fan-out never delays a
    # reject-by-default email).
    "email": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": JOB_TIMEOUT},
    "email_bulk": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": JOB_TIMEOUT},
}
# We enqueue on commit ourselves (apps.core.enqueue): django-rq's commit mode covers
# enqueue() only and turns a Redis outage into a 500 after the commit.
RQ = {"COMMIT_MODE": "auto", "WORKER_CLASS": "apps.core.worker.Worker"}
# A worker whose resident memory grows past this (a leaking job) exits after its job and
# is restarted by its supervisor (apps/core/worker.py says why workers do not fork).
WORKER_MAX_RSS_MB = env.int_("WORKER_MAX_RSS_MB", 512)
RQ_SHOW_ADMIN_LINK = True

# --- Business rules ----------------------------------------------------------------
# Working days a provider has to decide before an application is rejected by default.
APPLY_RBD_WORKING_DAYS = env.int_("APPLY_RBD_WORKING_DAYS", 20)
# Working days a candidate has to answer an offer before it is declined by default.
APPLY_DBD_WORKING_DAYS = env.int_("APPLY_DBD_WORKING_DAYS", 10)
# Reminders: a provider is chased once when the RBD is within this many working days,
# a candidate once when the DBD is.
APPLY_PROVIDER_CHASER_WORKING_DAYS = env.int_("APPLY_PROVIDER_CHASER_WORKING_DAYS", 10)
APPLY_CANDIDATE_CHASER_WORKING_DAYS = env.int_("APPLY_CANDIDATE_CHASER_WORKING_DAYS", 5)
# The candidate's reject-by-default email goes this long after the provider's (0: at once).
APPLY_CANDIDATE_EMAIL_DELAY_SECONDS = env.int_("APPLY_CANDIDATE_EMAIL_DELAY_SECONDS", 60)
# How long ids handed to a queued batch are kept from the next sweep: a batch lost with a
# killed worker is re-selected after this (the README's recovery bound).
APPLY_CLAIM_TTL_SECONDS = env.int_("APPLY_CLAIM_TTL_SECONDS", 180)
# How long a delivery job holds an email it is sending; a sender killed mid-send frees it then.
OUTBOX_LEASE_SECONDS = env.int_("OUTBOX_LEASE_SECONDS", 60)
# Emails per delivery job (one SMTP connection each), and how many sent emails are marked
# sent in one statement: the most a crash between sending and marking can send twice.
OUTBOX_BATCH_SIZE = env.int_("OUTBOX_BATCH_SIZE", 200)
OUTBOX_MARK_SENT_EVERY = env.int_("OUTBOX_MARK_SENT_EVERY", 20)
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

# --- Auth --------------------------------------------------------------------------
# Django's model backend, with the provider membership loaded with the user; Django's own
# stays listed so that sessions signed in before the change keep working.
AUTHENTICATION_BACKENDS = [
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

# --- Security (https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/) --
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool_("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int_("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SESSION_COOKIE_SECURE = env.bool_("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

# --- Internationalisation ----------------------------------------------------------
LANGUAGE_CODE = "en-gb"
# Pinned: deadlines are defined in London time whatever the host's zone.
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
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
