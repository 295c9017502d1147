"""Auth is up, configured as the runbook expects, and a throwaway user can sign up."""

from __future__ import annotations

import pytest

from synthetics.clients.supabase import error_code
from synthetics.journey import Journey
from synthetics.plugin.api import CheckRecord
from synthetics.runtime import Runtime


@pytest.mark.check("auth.health")
def test_health(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.health())


@pytest.mark.check("auth.settings")
def test_settings(synthetics: Runtime, journey: Journey, check: CheckRecord) -> None:
    assert synthetics.api is not None
    journey.require_up("auth")
    call = synthetics.api.settings()
    check.measure(**call.measurements())
    assert call.status == 200, f"GET /auth/v1/settings answered {call.status} ({error_code(call)})"
    settings = call.json_object()
    external = settings.get("external")
    assert isinstance(external, dict), "settings have no `external` providers map"
    assert settings.get("disable_signup") is not True, "sign-ups are disabled on the target"
    assert external.get("email") is True, "the email provider is disabled on the target"
    if settings.get("mailer_autoconfirm") is True:
        check.fail(
            "confirm email is OFF (mailer_autoconfirm): users get a session without confirming "
            "their address; the app's confirmation flow is bypassed",
            "autoconfirm",
        )
    check.note("confirm email on, sign-ups on, email provider on")


@pytest.mark.check("auth.signup")
def test_signup(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.signup())


@pytest.mark.check("auth.recovery")
def test_recovery(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.recovery())
