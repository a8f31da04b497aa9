"""Request bodies are bounded before they are read: over REQUEST_BODY_MAX_BYTES a 413,
any file a 415, nothing written to disk; Django's own limits agree."""

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def temp_dir(settings, tmp_path):
    """Where Django would write an uploaded file too big to keep in memory."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    return tmp_path


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(client, temp_dir):
    big = SimpleUploadedFile("big.bin", b"x" * (settings.REQUEST_BODY_MAX_BYTES + 1))

    response = client.post("/login/", {"username": "someone", "password": "x", "file": big})

    assert response.status_code == 413
    assert "What was sent is too large" in response.content.decode()
    assert response.wsgi_request._read_started is False  # not a byte of the body was read
    assert list(temp_dir.iterdir()) == []
    assert "_auth_user_id" not in client.session


def test_a_file_within_the_limit_is_refused_with_415_and_kept_in_memory_only(client, temp_dir):
    user = make_user()
    small = SimpleUploadedFile("note.txt", b"hello")

    response = client.post("/login/", {"username": user.username, "password": "pass-word-123", "file": small})

    assert response.status_code == 415
    assert "Files cannot be uploaded here" in response.content.decode()
    assert list(temp_dir.iterdir()) == []
    assert "_auth_user_id" not in client.session  # refused, not signed in


def test_a_multipart_form_without_a_file_is_an_ordinary_form(client):
    user = make_user()

    response = client.post("/login/", {"username": user.username, "password": "pass-word-123"})  # multipart

    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_a_url_encoded_body_over_the_limit_is_refused_too(client):
    response = client.post(
        "/login/", "username=a&password=" + "x" * settings.REQUEST_BODY_MAX_BYTES,
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 413


def test_a_content_length_that_is_not_a_number_is_a_400():
    response = Client().generic("POST", "/login/", b"", CONTENT_LENGTH="lots")

    assert response.status_code == 400


def test_django_limits_agree_and_no_upload_handler_writes_to_disk():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.REQUEST_BODY_MAX_BYTES
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE == settings.REQUEST_BODY_MAX_BYTES
    assert settings.FILE_UPLOAD_HANDLERS == ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
    assert "apps.core.request_limits.RequestLimitsMiddleware" in settings.MIDDLEWARE
    # Before the CSRF check, which reads the body of every POST.
    middleware = settings.MIDDLEWARE
    assert middleware.index("apps.core.request_limits.RequestLimitsMiddleware") < middleware.index(
        "axes.middleware.AxesMiddleware"
    )
