"""A form sent without a valid CSRF token gets the service's own 403 page: plain words,
its stylesheet (no inline styles, which the policy blocks), a way back."""

import pytest
from django.test import Client

from tests.factories import make_user

pytestmark = pytest.mark.django_db
STYLESHEET = "core/apply.css"


def test_a_sign_in_without_the_cookie_gets_the_branded_page_with_a_way_back():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/login/", {"username": "someone", "password": "x"}, HTTP_REFERER="http://testserver/login/?next=/5/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>Your form was not sent</h1>" in page and STYLESHEET in page
    assert "Nothing has changed." in page
    assert "cookies were cleared" in page
    assert 'href="http://testserver/login/?next=/5/"' in page  # sign in again, as the form was
    assert "style=" not in page and "<style" not in page  # nothing the policy would block
    assert "CSRF" not in page  # Django's words stay in the log
    assert "Content-Security-Policy" in response.headers


def test_a_signed_in_user_whose_token_is_stale_goes_back_to_the_page(client):
    user = make_user()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.cookies["csrftoken"] = "x" * 32

    response = browser.post("/5/withdraw/", {"csrfmiddlewaretoken": "y" * 32}, HTTP_REFERER="http://testserver/5/")

    assert response.status_code == 403
    page = response.content.decode()
    assert 'href="http://testserver/5/">Go back to the page</a>' in page
    assert f"Signed in as <strong>{user.username}</strong>" in page


def test_another_site_s_referer_is_never_the_way_back():
    response = Client(enforce_csrf_checks=True).post("/login/", {}, HTTP_REFERER="https://evil.example/x")

    assert response.status_code == 403
    page = response.content.decode()
    assert "evil.example" not in page
    assert 'href="/login/?next=%2F"' in page
