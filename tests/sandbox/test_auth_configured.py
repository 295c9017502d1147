"""Auth with non-default GoTrue settings, over raw HTTP and through the official client.

A second sandbox for this module, configured as an app that mails one-time codes would be:
custom templates carrying `{{ .Token }}` (GOTRUE_MAILER_TEMPLATES_*), an 8-digit code
(MAILER_OTP_LENGTH), secure email change off, and password changes that need a
reauthentication nonce once the session is a day old. Its clock runs ahead on demand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from synthetics.sandbox.server import Sandbox, SandboxInfo, settings_for_port
from synthetics.sandbox.settings import AuthSettings, SandboxSettings

from .authwire import (
    APP,
    PASSWORD,
    V2024,
    address,
    assert_error,
    bearer,
    fragment,
    sign_in,
    sign_up,
)
from .inbox import confirmation_link, count_messages, wait_for_message, wait_for_messages

NEW_PASSWORD = "staple-battery-horse"
TEMPLATES = {
    "confirmation": '<p>Code {{ .Token }}</p><p><a href="{{ .ConfirmationURL }}">Confirm</a></p>',
    "magic_link": "<p>Sign in with {{ .Token }}</p>",
    "recovery": "<p>Reset code for {{ .Email }}: {{ .Token }}</p>",
    "email_change": (
        "<p>{{ .Token }} confirms {{ .NewEmail }} (to {{ .SendingTo }})</p>"
        '<p><a href="{{ .ConfirmationURL }}">Confirm</a></p>'
    ),
}
SUBJECTS = {"magic_link": "Your code is {{ .Token }}"}
CODE = re.compile(r"\b(\d{8})\b")


class AheadClock:
    """The real time plus an offset the test can grow."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
def clock() -> AheadClock:
    """The configured sandbox's clock."""
    return AheadClock()


@pytest.fixture(scope="module")
def configured(clock: AheadClock) -> Iterator[Sandbox]:
    """A sandbox mailing codes, without secure email change, asking for nonces."""
    auth = AuthSettings(
        otp_length=8,
        secure_email_change_enabled=False,
        update_password_require_reauthentication=True,
        email_templates=TEMPLATES,
        email_subjects=SUBJECTS,
    )
    settings = settings_for_port(SandboxSettings(auth=auth), 0)
    with Sandbox(settings, clock=clock) as running:
        yield running


@pytest.fixture
def cinfo(configured: Sandbox) -> SandboxInfo:
    """URLs and keys of the configured sandbox."""
    return configured.info


@pytest.fixture
def cauth(cinfo: SandboxInfo) -> Iterator[httpx.Client]:
    """A raw-HTTP anon client of the configured sandbox's /auth/v1."""
    with httpx.Client(
        base_url=f"{cinfo.api_url}/auth/v1", headers={"apikey": cinfo.anon_key}, timeout=10
    ) as client:
        yield client


@pytest.fixture
def cadmin(cinfo: SandboxInfo) -> Iterator[httpx.Client]:
    """A raw-HTTP service-role client of the configured sandbox's /auth/v1."""
    key = cinfo.service_role_key
    with httpx.Client(
        base_url=f"{cinfo.api_url}/auth/v1",
        headers={"apikey": key, "Authorization": f"Bearer {key}"},
        timeout=10,
    ) as client:
        yield client


def app_client(info: SandboxInfo) -> Client:
    """An app-like client (implicit flow, its own session)."""
    return create_client(info.api_url, info.anon_key, ClientOptions(flow_type="implicit"))


def code_in(message: dict[str, str], field: str = "HTML") -> str:
    """The 8-digit code of an email."""
    match = CODE.search(message[field])
    assert match, message[field]
    return match.group(1)


def confirmed_user(auth: httpx.Client, info: SandboxInfo, email: str) -> None:
    """Sign `email` up and confirm it with the code the custom template mails."""
    assert sign_up(auth, email).status_code == 200
    code = code_in(wait_for_message(info.inbox_url, email))
    verified = auth.post("/verify", json={"type": "signup", "email": email, "token": code})
    assert verified.status_code == 200, verified.text


def test_custom_templates_mail_codes_of_the_configured_length(
    cauth: httpx.Client, cinfo: SandboxInfo
) -> None:
    email = address()
    assert cauth.post("/otp", params={"redirect_to": APP}, json={"email": email}).status_code == 200
    message = wait_for_message(cinfo.inbox_url, email)
    assert message["Subject"] == "Confirm your email address"  # no subject override: default
    code = code_in(message)
    assert len(code) == 8 and "/verify?token=" in confirmation_link(message)
    wrong = cauth.post(
        "/verify", json={"type": "email", "email": email, "token": "00000000"}, headers=V2024
    )
    assert assert_error(wrong, 403, "otp_expired")["message"] == "Token has expired or is invalid"
    session = cauth.post("/verify", json={"type": "email", "email": email, "token": code})
    assert session.status_code == 200
    assert "email_confirmed_at" in session.json()["user"]


def test_sign_in_with_otp_and_the_emailed_code(cinfo: SandboxInfo) -> None:
    email = address()
    client = app_client(cinfo)
    sent = client.auth.sign_in_with_otp({"email": email, "options": {"email_redirect_to": APP}})
    assert sent.user is None and sent.session is None
    first = client.auth.verify_otp(
        {
            "email": email,
            "token": code_in(wait_for_message(cinfo.inbox_url, email)),
            "type": "email",
        }
    )
    assert first.session is not None and first.user is not None
    assert first.user.email_confirmed_at is not None
    client.auth.sign_out()

    again = client.auth.sign_in_with_otp({"email": email, "options": {"should_create_user": False}})
    assert again.session is None
    [message, _] = wait_for_messages(cinfo.inbox_url, email, 2)
    code = code_in(message, "Subject")  # "Your code is {{ .Token }}"
    assert message["Subject"] == f"Your code is {code}"
    assert message["HTML"].strip() == f"<p>Sign in with {code}</p>"
    with pytest.raises(AuthApiError) as wrong:
        client.auth.verify_otp({"email": email, "token": "12345678", "type": "magiclink"})
    assert wrong.value.code == "otp_expired" and wrong.value.status == 403
    signed_in = client.auth.verify_otp({"email": email, "token": code, "type": "magiclink"})
    assert signed_in.session is not None
    assert client.auth.get_user().user.email == email  # type: ignore[union-attr]


def test_recovery_by_code_then_a_fresh_session_changes_the_password(
    cauth: httpx.Client, cinfo: SandboxInfo
) -> None:
    email = address()
    confirmed_user(cauth, cinfo, email)
    client = app_client(cinfo)
    assert client.auth.reset_password_for_email(email, {"redirect_to": APP}) is None
    [message, _] = wait_for_messages(cinfo.inbox_url, email, 2)
    assert message["Subject"] == "Reset your password"
    assert f"Reset code for {email}:" in message["HTML"]
    session = client.auth.verify_otp(
        {"email": email, "token": code_in(message), "type": "recovery"}
    )
    assert session.session is not None
    # The session is minutes old: no nonce is needed for the new password.
    client.auth.update_user({"password": NEW_PASSWORD})
    assert sign_in(cauth, email, NEW_PASSWORD).status_code == 200


def test_password_change_on_an_old_session_needs_the_reauthentication_nonce(
    cauth: httpx.Client, cinfo: SandboxInfo, clock: AheadClock
) -> None:
    email = address()
    confirmed_user(cauth, cinfo, email)
    first = sign_in(cauth, email).json()
    clock.offset = timedelta(hours=25)
    try:
        # The session outlives its access token: refresh it, the session stays a day old.
        refreshed = cauth.post(
            "/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": first["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text
        headers = {**V2024, **bearer(refreshed.json()["access_token"])}
        missing = cauth.put("/user", json={"password": NEW_PASSWORD}, headers=headers)
        assert assert_error(missing, 400, "reauthentication_needed")["message"] == (
            "Password update requires reauthentication"
        )
        early = cauth.put(
            "/user", json={"password": NEW_PASSWORD, "nonce": "12345678"}, headers=headers
        )
        assert_error(early, 422, "reauthentication_not_valid")  # no nonce was ever sent
        assert cauth.get("/reauthenticate", headers=headers).status_code == 200
        [message, _] = wait_for_messages(cinfo.inbox_url, email, 2)
        nonce = code_in(message, "Subject")
        assert message["Subject"] == f"{nonce} is your verification code"
        wrong = cauth.put(
            "/user", json={"password": NEW_PASSWORD, "nonce": "00000000"}, headers=headers
        )
        assert assert_error(wrong, 422, "reauthentication_not_valid")["message"] == (
            "Nonce has expired or is invalid"
        )
        right = cauth.put("/user", json={"password": NEW_PASSWORD, "nonce": nonce}, headers=headers)
        assert right.status_code == 200, right.text
        assert sign_in(cauth, email, NEW_PASSWORD).status_code == 200
        # The nonce is used up with the change (ConfirmReauthentication, UpdatePassword).
        reused = cauth.put("/user", json={"password": PASSWORD, "nonce": nonce}, headers=headers)
        assert_error(reused, 422, "reauthentication_not_valid")
    finally:
        clock.offset = timedelta()


def test_email_change_without_secure_email_change_mails_only_the_new_address(
    cauth: httpx.Client, cinfo: SandboxInfo
) -> None:
    email, new = address(), address()
    confirmed_user(cauth, cinfo, email)
    client = app_client(cinfo)
    client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    updated = client.auth.update_user({"email": new}, {"email_redirect_to": APP})
    assert updated.user.new_email == new and updated.user.email == email
    message = wait_for_message(cinfo.inbox_url, new)
    code = code_in(message)
    assert f"{code} confirms {new} (to {new})" in message["HTML"]
    assert count_messages(cinfo.inbox_url, email) == 1  # the sign-up code only
    changed = client.auth.verify_otp({"email": new, "token": code, "type": "email_change"})
    assert changed.session is not None and changed.user is not None
    assert changed.user.email == new


def test_email_change_link_without_secure_email_change_changes_at_once(
    cauth: httpx.Client, cadmin: httpx.Client, cinfo: SandboxInfo
) -> None:
    email, new = address(), address()
    confirmed_user(cauth, cinfo, email)
    current = cadmin.post(
        "/admin/generate_link",
        json={"type": "email_change_current", "email": email, "new_email": new},
        headers=V2024,
    )
    assert assert_error(current, 400, "validation_failed")["message"] == (
        "Enable secure email change to generate link for current email"
    )
    headers = bearer(sign_in(cauth, email).json()["access_token"])
    assert cauth.put("/user", json={"email": new}, headers=headers).status_code == 200
    landed = httpx.get(confirmation_link(wait_for_message(cinfo.inbox_url, new)))
    params = fragment(landed.headers["location"])
    assert params["type"] == "email_change"
    assert cauth.get("/user", headers=bearer(params["access_token"])).json()["email"] == new
