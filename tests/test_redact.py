"""Secrets never leave: registered values and credential-shaped text are masked."""

from __future__ import annotations

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
