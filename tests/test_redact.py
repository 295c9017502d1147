"""Secrets never leave: registered values and credential-shaped text are masked."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from synthetics.redact import MASK, Redactor

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnopqrstuvwxyz"


def test_registered_values_are_masked_everywhere() -> None:
    redactor = Redactor()
    redactor.add("hunter2-password", SecretStr("sb_secret_abcdef"), None, "abc")
    text = "login with hunter2-password using sb_secret_abcdef; short abc stays"
    assert redactor.redact(text) == f"login with {MASK} using {MASK}; short abc stays"


def test_credential_patterns_are_masked_without_registration() -> None:
    redactor = Redactor()
    cases = {
        f"token {JWT} end": f"token {MASK} end",
        "Authorization: Bearer abc.def-ghi": f"Authorization: Bearer {MASK}",
        "mamapace://auth-callback?code=1b2c-3d": f"mamapace://auth-callback?code={MASK}",
        "x#access_token=aaa&refresh_token=bbbbbbbbbbbb&type=signup": (
            f"x#access_token={MASK}&refresh_token={MASK}&type=signup"
        ),
        "/verify?token=pkce_0a1b2c&type=signup": f"/verify?token={MASK}&type=signup",
        '{"refresh_token": "abcdefabcdef"}': f'{{"refresh_token": "{MASK}"}}',
    }
    for raw, expected in cases.items():
        assert redactor.redact(raw) == expected


def test_nested_structures_are_redacted() -> None:
    redactor = Redactor()
    redactor.add("s3cret-value")
    value = {"a": ["s3cret-value", 1], "b": ("x s3cret-value",)}
    assert redactor.redact_any(value) == {"a": [MASK, 1], "b": (f"x {MASK}",)}


KEY = "sb_secret_" + "Zq9xW2vB7nM4kL8pR3tY6uI1oE5aS0dF"


@pytest.mark.parametrize(
    "echo",
    [
        KEY,
        KEY[:-1],  # cut short by one character
        KEY[1:],
        KEY[: len(KEY) // 2],  # half of it is still too much
        base64.b64encode(KEY.encode()).decode(),
        base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("="),
        base64.b64encode(f"{KEY}:".encode()).decode(),  # HTTP Basic with the key as user
        quote(KEY, safe=""),
        f"Authorization: Basic {base64.b64encode(b'someone:else').decode()}",
        "authorization: bearer opaque-token-value",
        "postgresql://monitor:db-password-123@db.example.internal:5432/postgres",
    ],
)
def test_every_form_of_a_secret_is_masked(echo: str) -> None:
    redactor = Redactor()
    redactor.add(KEY, f"{KEY}:")
    shown = redactor.redact(f"the target said: {echo} (end)")
    assert "[REDACTED]" in shown
    for fragment in (KEY[:12], KEY[-12:], "db-password-123", "opaque-token-value"):
        assert fragment not in shown


def test_short_and_unrelated_text_is_left_alone() -> None:
    redactor = Redactor()
    redactor.add(KEY)
    assert redactor.redact("sb_secret_ is a prefix everyone shares") == (
        "sb_secret_ is a prefix everyone shares"
    )


def test_log_records_are_redacted_whatever_logger_or_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redactor = Redactor()
    redactor.add(KEY)
    with redactor.logging(), caplog.at_level(logging.DEBUG):
        logging.getLogger("httpx").info("HTTP Request: GET /verify?token=%s", "pkce_abcdef123")
        logging.getLogger("deep.down").debug("key %s", KEY)
    text = caplog.text
    assert "pkce_abcdef123" not in text and KEY not in text
    assert text.count("[REDACTED]") == 2
    logging.getLogger("after").warning("%s", KEY)  # the factory is restored afterwards
    assert KEY in caplog.text


def test_a_secret_cut_short_by_a_message_limit_is_masked() -> None:
    redactor = Redactor()
    redactor.add(KEY)
    for cut in (8, 12, len(KEY) - 1):
        shown = redactor.redact(f"the target said: {KEY[:cut]}… (900 bytes)")
        assert KEY[:cut] not in shown
    shown = redactor.redact(f"ends with {KEY[:9]}")
    assert KEY[:9] not in shown


def test_the_longest_cut_prefix_is_masked_where_its_head_also_shows_earlier() -> None:
    """The secret's first characters can show more than once before a cut: the prefix that
    reaches the cut is masked whole, and what only looks like its start stays."""
    redactor = Redactor()
    redactor.add(KEY)
    text = f"{KEY[:6]}!{KEY[:6]} {KEY[:20]}… and {KEY[:7]}…{KEY[:8]}"
    assert redactor.redact(text) == f"{KEY[:6]}!{KEY[:6]} {MASK}… and {MASK}…{MASK}"
