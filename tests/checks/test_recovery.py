"""auth.recovery: off for Mamapace (skipped, with the reason); on, the whole reset journey."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks.test_runs import FAST, check, run

ON = ["--set", "auth.recovery=true", "--set", "deeplink.browser=off", "--only", "auth"]


def test_off_by_default_it_says_why(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, "--only", "auth", "--set", "deeplink.browser=off")
    assert code == 0
    recovery = check(results, "auth.recovery")
    assert recovery["status"] == "skipped"
    assert "auth.recovery = false" in recovery["message"]


@pytest.mark.parametrize("flow", ["pkce", "implicit"])
def test_a_reset_goes_email_deep_link_new_password_sign_in(tmp_path: Path, flow: str) -> None:
    code, results, output = run(tmp_path, *ON, "--set", f"auth.flow={flow}")
    assert code == 0, output
    recovery = check(results, "auth.recovery")
    assert recovery["status"] == "ok"
    assert "signed in with the new one" in recovery["message"]
    assert ("code=" if flow == "pkce" else "type=recovery") in recovery["message"]


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("email.drop", "no recovery email"),
        ("auth.redirect_disallowed", "instead of mamapace://auth-callback"),
    ],
)
def test_a_broken_reset_is_critical(tmp_path: Path, fault: str, says: str) -> None:
    code, results, output = run(tmp_path, *ON, *FAST, "--fault", fault)
    assert code == 2, output
    recovery = check(results, "auth.recovery")
    assert recovery["status"] == "critical"
    assert says in recovery["message"]
