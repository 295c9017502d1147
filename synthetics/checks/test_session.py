"""The deep link's credential gives a confirmed user; password sign-in and rotation work."""

from __future__ import annotations

import pytest

from synthetics.clients.official import ApiRefused
from synthetics.journey import Journey
from synthetics.plugin.api import CheckRecord


@pytest.mark.check("auth.session")
def test_session(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.session())


@pytest.mark.check("auth.signin")
def test_signin(journey: Journey, check: CheckRecord) -> None:
    """With the official client: it proves the client the app's ecosystem uses works too."""
    signed = journey.signed_in()
    user = signed.user
    try:
        first = journey.official.sign_in(user.email, user.password)
        rotated = journey.official.refresh(first.refresh_token)
    except ApiRefused as exc:
        check.fail(str(exc))
    assert rotated.refresh_token != first.refresh_token, "the refresh token was not rotated"
    assert rotated.user_id == first.user_id, "the refreshed session belongs to another user"
    latency = sum(a.elapsed_ms for a in check.recorder.attempts)
    check.measure(latency_ms=latency)
    note = "password sign-in, then refresh with rotation (official supabase client)"
    if signed.fallback_reason:
        note += f" ({signed.fallback_reason})"
    check.note(note)
