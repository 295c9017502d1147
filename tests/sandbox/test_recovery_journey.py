"""The password-recovery sequence an `auth.recovery` check makes, with the checks' own client.

request (POST /recover) → the email (`Reset your password`, a `/verify?…type=recovery` link) →
the link's 303 to the deep link with a session and `type=recovery` (or `?code=` with PKCE) →
PUT /user with the new password → password sign-in with it; then the link is spent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from synthetics.clients.http import Http
from synthetics.clients.pkce import challenge, new_verifier
from synthetics.clients.supabase import Supabase, error_code
from synthetics.redact import Redactor
from synthetics.sandbox.server import SandboxInfo

from .authwire import APP, EXPIRED_LINK, PASSWORD, SITE, address
from .inbox import confirmation_link, wait_for_messages

NEW_PASSWORD = "staple-battery-horse"


@pytest.fixture
def api(info: SandboxInfo) -> Iterator[Supabase]:
    """The checks' Supabase client on the sandbox, with no retries to hide anything."""
    with httpx.Client(timeout=10) as client:
        yield Supabase(
            Http(client, retries=0), info.api_url, info.anon_key, info.service_role_key, Redactor()
        )


@pytest.fixture
def user(api: Supabase, cleanup: list[str]) -> str:
    """A confirmed throwaway user (admin-created, as a check without email would make it)."""
    email = address()
    made = api.admin_create_user(email, PASSWORD, {})
    assert made.status == 200, made.response.text
    cleanup.append(made.json()["id"])
    return email


def recovery_link(info: SandboxInfo, email: str) -> str:
    """The recovery email's link (the user has no other mail: it was created by the admin API)."""
    [message] = wait_for_messages(info.inbox_url, email, 1)
    assert message["Subject"] == "Reset your password"
    link = confirmation_link(message)
    assert "type=recovery" in link
    return link


def test_recovery_sequence(api: Supabase, info: SandboxInfo, user: str) -> None:
    requested = api.recover(user, redirect_to=APP)
    assert requested.status == 200 and requested.json() == {}
    link = recovery_link(info, user)

    landed = api.follow_link(link)
    assert landed.status == 303
    location = landed.response.headers["location"]
    assert location.startswith(APP + "#")
    tokens = dict(parse_qsl(urlsplit(location).fragment))
    assert tokens["type"] == "recovery" and tokens["token_type"] == "bearer"

    changed = api.update_password(tokens["access_token"], NEW_PASSWORD)
    assert changed.status == 200 and changed.json()["email"] == user
    assert api.sign_in(user, NEW_PASSWORD).status == 200
    old = api.sign_in(user, PASSWORD)
    assert old.status == 400 and error_code(old) == "invalid_credentials"

    spent = api.follow_link(link)
    assert spent.response.headers["location"] == f"{APP}#{EXPIRED_LINK}&sb="
    secrets = api.redactor.values()
    assert tokens["access_token"] in secrets and NEW_PASSWORD in secrets and link in secrets


def test_recovery_sequence_with_pkce(api: Supabase, info: SandboxInfo, user: str) -> None:
    verifier = new_verifier()
    assert api.recover(user, redirect_to=APP, code_challenge=challenge(verifier)).status == 200
    landed = api.follow_link(recovery_link(info, user))
    location = landed.response.headers["location"]
    assert location.startswith(APP + "?code=")
    code = dict(parse_qsl(urlsplit(location).query))["code"]
    session = api.exchange_code(code, verifier)
    assert session.status == 200
    assert api.update_password(session.json()["access_token"], NEW_PASSWORD).status == 200
    assert api.sign_in(user, NEW_PASSWORD).status == 200


def test_recovery_outcomes_a_check_must_tell_apart(
    api: Supabase, info: SandboxInfo, user: str, faults: Callable[..., None]
) -> None:
    # A second request inside SMTP_MAX_FREQUENCY is quota, not an outage.
    assert api.recover(user, redirect_to=APP).status == 200
    again = api.recover(user, redirect_to=APP)
    assert again.status == 429 and error_code(again) == "over_email_send_rate_limit"
    # A redirect missing from the allow-list silently becomes the Site URL.
    faults("auth.redirect_disallowed")
    other = address()
    made = api.admin_create_user(other, PASSWORD, {})
    try:
        assert api.recover(other, redirect_to=APP).status == 200
        landed = api.follow_link(recovery_link(info, other))
        assert landed.response.headers["location"].startswith(SITE + "#access_token=")
    finally:
        api.admin_delete_user(made.json()["id"])
