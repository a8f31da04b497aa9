import pytest


@pytest.fixture
def smtp(settings, smtp_server):
    """Email goes over SMTP to the real loopback server (``smtp_server``), which keeps the messages."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    return smtp_server
