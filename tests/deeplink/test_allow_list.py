"""Judging the allow-list probe's answer: the deep link, the Site URL fallback, or unknown."""

from __future__ import annotations

import pytest

from synthetics.deeplink.allow_list import PROBE_TOKEN, judge, probe_params
from synthetics.findings import Level

REDIRECT = "mamapace://auth-callback"
ERROR = "#error=access_denied&error_code=otp_expired&error_description=Email+link+is+invalid&sb="


@pytest.mark.parametrize(
    ("status", "location", "level"),
    [
        (303, REDIRECT + ERROR, Level.OK),
        (303, REDIRECT + "/" + ERROR, Level.OK),
        (303, "https://app.mamapace.com" + ERROR, Level.FAIL),  # GoTrue fell back to Site URL
        (303, "mamapace://other-callback" + ERROR, Level.FAIL),
        (303, REDIRECT + "#error=server_error&error_code=unexpected_failure", Level.UNKNOWN),
        (303, None, Level.UNKNOWN),
        (200, None, Level.UNKNOWN),  # not GoTrue's answer: a page, a proxy
        (404, None, Level.UNKNOWN),
        (429, None, Level.UNKNOWN),  # rate limited: says nothing about the list
    ],
)
def test_the_probe_answer_decides_only_what_it_proves(
    status: int, location: str | None, level: Level
) -> None:
    finding = judge(status, location, REDIRECT)
    assert finding.level is level, finding
    if level is Level.FAIL:
        assert "not on the redirect allow-list" in finding.message
        assert "Redirect URLs" in finding.fix


def test_the_probe_token_can_never_be_a_stored_token_hash() -> None:
    # GoTrue stores hex SHA-224 digests (56 hex digits), optionally prefixed with `pkce_`.
    assert not all(c in "0123456789abcdef" for c in PROBE_TOKEN.removeprefix("pkce_"))
    assert not PROBE_TOKEN.startswith("pkce_")
    assert probe_params(REDIRECT) == {
        "token": PROBE_TOKEN, "type": "signup", "redirect_to": REDIRECT
    }  # fmt: skip
