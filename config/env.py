"""The one place settings read the environment.

Every value has a production-safe default or is required; a malformed value fails at
start-up with the variable's name, never later inside a request or a job. A variable set
to nothing (``DJANGO_SECRET_KEY=`` in a ``.env`` file or a deploy template whose value was
never filled in) counts as unset: a required one fails, an optional one takes its default.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_MISSING = object()


def _raw(name, default):
    value = os.environ.get(name)
    if value is None or not value.strip():
        if default is _MISSING:
            raise ImproperlyConfigured(f"Set the environment variable {name}.")
        return None
    return value


def str_(name, default=_MISSING):
    value = _raw(name, default)
    return default if value is None else value


def bool_(name, default=False):
    value = _raw(name, default)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}.")


def int_(name, default=_MISSING):
    value = _raw(name, default)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None


def list_(name, default=()):
    value = _raw(name, default)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]
