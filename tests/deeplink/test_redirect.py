"""Reading confirmation redirects as the app's handler does, and judging them."""

from __future__ import annotations

import pytest

from synthetics.deeplink.redirect import judge, judge_second_click, parse_landing, same_target

REDIRECT = "mamapace://auth-callback"
IMPLICIT = (
    "mamapace://auth-callback#access_token=aaa&expires_at=1&expires_in=3600"
    "&refresh_token=bbb&sb=&token_type=bearer&type=signup"
)
PKCE = "mamapace://auth-callback?code=7d4e0b0e-5f6a-4c1d-9a8e-2f1b3c4d5e6f"
EXPIRED = (
    "mamapace://auth-callback#error=access_denied&error_code=otp_expired"
    "&error_description=Email+link+is+invalid+or+has+expired&sb="
)


def test_fragment_tokens_are_read_like_the_app() -> None:
    landing = parse_landing(IMPLICIT)
    assert landing.credential == "tokens"
    assert landing.params["type"] == "signup"
    assert landing.error is None
    assert "aaa" not in landing.describe() and "bbb" not in landing.describe()


def test_pkce_code_in_the_query() -> None:
    landing = parse_landing(PKCE)
    assert landing.credential == "code"
    assert landing.describe() == "mamapace://auth-callback?code=…"


def test_error_redirects_are_recognised() -> None:
    landing = parse_landing(EXPIRED)
    assert landing.credential is None
    assert landing.error == "otp_expired: Email link is invalid or has expired"


@pytest.mark.parametrize(
    ("location", "accepts", "problem"),
    [
        (IMPLICIT, ["tokens", "code"], None),
        (PKCE, ["tokens", "code"], None),
        (PKCE, ["code"], None),
        (PKCE, ["tokens"], "no session and no message"),
        (IMPLICIT, ["code"], "accepts only code"),
        (EXPIRED, ["tokens", "code"], "with an error instead of a session: otp_expired"),
        (
            "https://app.mamapace.com#access_token=a&refresh_token=b",
            ["tokens"],
            "instead of mamapace://auth-callback",
        ),
        ("mamapace://auth-callback", ["tokens"], "carries no tokens and no code"),
        ("mamapace://other-callback?code=x", ["code"], "instead of"),
    ],
)
def test_judge(location: str, accepts: list[str], problem: str | None) -> None:
    verdict = judge(parse_landing(location), REDIRECT, accepts)
    if problem is None:
        assert verdict is None
    else:
        assert verdict is not None and problem in verdict


def test_same_target_ignores_case_and_trailing_slash() -> None:
    assert same_target(parse_landing("MAMAPACE://auth-callback/?code=1"), REDIRECT)
    assert same_target(parse_landing("https://app.example.org/cb/"), "https://app.example.org/cb")
    assert not same_target(
        parse_landing("https://app.example.org/cb"), "https://app.example.org/other"
    )


#: GoTrue's error redirect for a PKCE link: the error in the query and, escaped once more, the
#: fragment (`%` → `%25`), as the sandbox and GoTrue send it.
PKCE_EXPIRED = (
    "mamapace://auth-callback?error=access_denied&error_code=otp_expired"
    "&error_description=Email+link+is+invalid+or+has+expired#error=access_denied"
    "&error_code=otp_expired&error_description=Email%2Blink%2Bis%2Binvalid%2Bor%2Bhas%2Bexpired"
    "&sb="
)


@pytest.mark.parametrize(
    ("location", "code", "credential"),
    [
        (EXPIRED, "otp_expired", None),
        (PKCE_EXPIRED, "otp_expired", None),
        ("mamapace://auth-callback#error=server_error", "server_error", None),
        (IMPLICIT, None, "tokens"),
        (PKCE, None, "code"),
        ("mamapace://auth-callback?code=&error_code=", None, None),
    ],
)
def test_error_and_credential_parsing(
    location: str, code: str | None, credential: str | None
) -> None:
    landing = parse_landing(location)
    assert landing.error_code == code
    assert landing.credential == credential
    assert landing.base == "mamapace://auth-callback"


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        (EXPIRED, None),
        (PKCE_EXPIRED, None),
        ("https://app.mamapace.com/#error_code=otp_expired", None),  # elsewhere: redirect's job
        (PKCE, "still lands on mamapace://auth-callback?code=… with a PKCE code"),
        (IMPLICIT, "with session tokens: the link is not single-use"),
        ("mamapace://auth-callback", "without an error: the app cannot tell the user"),
        (
            "mamapace://auth-callback#error=server_error&error_code=unexpected_failure",
            "lands with unexpected_failure",
        ),
    ],
)
def test_judge_second_click(location: str, problem: str | None) -> None:
    verdict = judge_second_click(parse_landing(location), REDIRECT)
    if problem is None:
        assert verdict is None
    else:
        assert verdict is not None and problem in verdict
        assert "aaa" not in verdict and "bbb" not in verdict  # never the token values
