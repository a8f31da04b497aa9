"""Production defaults that fail safe: a blank secret key is no key, and demo data is not
loaded into a production database by accident."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_required_value_is_missing(monkeypatch, blank):
    monkeypatch.setenv("APPLY_TEST_REQUIRED", blank)
    with pytest.raises(ImproperlyConfigured, match="Set the environment variable APPLY_TEST_REQUIRED."):
        env.str_("APPLY_TEST_REQUIRED")
    with pytest.raises(ImproperlyConfigured, match="Set the environment variable APPLY_TEST_REQUIRED."):
        env.int_("APPLY_TEST_REQUIRED")


def test_a_blank_optional_value_takes_its_default(monkeypatch):
    monkeypatch.setenv("APPLY_TEST_OPTIONAL", " ")
    assert env.str_("APPLY_TEST_OPTIONAL", "fallback") == "fallback"
    assert env.int_("APPLY_TEST_OPTIONAL", 7) == 7
    assert env.bool_("APPLY_TEST_OPTIONAL", True) is True
    assert env.list_("APPLY_TEST_OPTIONAL", ["a"]) == ["a"]


def test_set_values_are_read_as_given(monkeypatch):
    monkeypatch.setenv("APPLY_TEST_VALUE", "k3y")
    assert env.str_("APPLY_TEST_VALUE") == "k3y"
    monkeypatch.setenv("APPLY_TEST_VALUE", "off")
    assert env.bool_("APPLY_TEST_VALUE", True) is False


@pytest.mark.parametrize("blank", ["", "  "])
def test_the_service_refuses_to_start_with_a_blank_secret_key(blank):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment["DJANGO_SECRET_KEY"] = blank
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "Set the environment variable DJANGO_SECRET_KEY." in result.stderr


@pytest.mark.django_db
def test_demo_data_is_refused_with_debug_off_unless_forced(settings):
    from django.core.management import CommandError, call_command

    from apps.applications.models import Application, Provider

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off.*--force"):
        call_command("load_demo_data")
    assert not Provider.objects.exists() and not Application.objects.exists()

    settings.DEBUG = True  # the local run (dev.py up sets DJANGO_DEBUG=1)
    call_command("load_demo_data", stdout=StringIO())
    assert Provider.objects.exists()
