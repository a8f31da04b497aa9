# One image for web, worker and clock: they differ only by command (see Procfile;
# docker-compose.yml runs each). The default command is the web process.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Runtime dependencies only: test and dev tools stay out of the image. Every pin in
# requirements.txt has a binary wheel (psycopg[binary]), so no compiler is needed.
# Copied alone first so that this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
# Unset by default: pip uses the package index. A build without network passes a wheelhouse
# (docker/ci-image.sh: --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/mnt with
# the wheelhouse mounted for the build only, never copied into the image).
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
RUN pip install --no-cache-dir -r requirements.txt

RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /app --no-create-home app \
    && chown app:app /app
# Numeric, so that a runtime (Kubernetes runAsNonRoot) can tell it is not root.
USER 10001:10001

COPY --chown=10001:10001 . .

# whitenoise serves the hashed, compressed files that collectstatic writes to
# /app/staticfiles, so they are built into the image; the web process collects again as it
# starts (config/gunicorn.py, a second with nothing to copy), which is why the directory
# belongs to the app user. Settings require a secret key: this placeholder exists for this
# RUN step only and is not in the image's environment.
# var/ is APP_DATA_DIR's default (the SQLite file of a run without DATABASE_URL).
RUN DJANGO_SECRET_KEY=collectstatic-build-only-not-a-secret \
    python manage.py collectstatic --noinput \
    && mkdir -p var

EXPOSE 8000
# gunicorn, rqworker and clock.py each stop gracefully on SIGTERM: gunicorn finishes
# in-flight requests, the worker its current job, the clock its current tick.
STOPSIGNAL SIGTERM
# No HEALTHCHECK here: the image runs three kinds of process; docker-compose.yml gives
# each its own (GET /healthz for web, docker/healthcheck.py for worker and clock).
CMD ["gunicorn", "config.wsgi", "--config", "python:config.gunicorn"]
