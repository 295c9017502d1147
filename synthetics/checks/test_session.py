"""The deep link's credential gives a confirmed user; password sign-in and rotation work."""

from __future__ import annotations

import pytest

from synthetics.clients.supabase import error_code
from synthetics.journey import Journey
from synthetics.plugin import CheckRecord


@pytest.mark.check("auth.session")
def test_session(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.session())


@pytest.mark.check("auth.signin")
def test_signin(journey: Journey, check: CheckRecord) -> None:
    signed = journey.signed_in()
    user = signed.user
    signin = journey.api.sign_in(user.email, user.password)
    check.measure(latency_ms=signin.elapsed_ms)
    assert signin.status == 200, f"password sign-in answered {signin.status} ({error_code(signin)})"
    first = signin.json_object()
    refresh = first.get("refresh_token")
    assert isinstance(refresh, str), "sign-in returned no refresh_token"
    rotated = journey.api.refresh(refresh)
    assert rotated.status == 200, f"refresh answered {rotated.status} ({error_code(rotated)})"
    second = rotated.json_object()
    assert second.get("refresh_token") not in (None, refresh), "the refresh token was not rotated"
    assert second.get("access_token"), "the refresh returned no access_token"
    note = "password sign-in, then refresh with rotation"
    if signed.fallback_reason:
        note += f" ({signed.fallback_reason})"
    check.note(note)
