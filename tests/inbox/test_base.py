"""The inbox contract's pure parts: link extraction, ReceivedEmail, InboxError."""

from __future__ import annotations

import dataclasses

import pytest

from synthetics.errors import SyntheticsError
from synthetics.inbox import InboxError, ReceivedEmail, find_confirmation_link

VERIFY = (
    "http://127.0.0.1:54321/auth/v1/verify"
    "?token=pkce_abc&type=signup&redirect_to=mamapace://auth-callback"
)
ESCAPED = VERIFY.replace("&", "&amp;")


def email(html: str = "", text: str = "") -> ReceivedEmail:
    return ReceivedEmail(id="1", to="a@b.c", subject="s", html=html, text=text, received_at=None)


@pytest.mark.parametrize(
    ("html", "text", "expected"),
    [
        pytest.param(
            f'<p><a href="{ESCAPED}">Confirm email address</a></p>', "", VERIFY,
            id="gotrue-default-escaped-href",
        ),
        pytest.param(f"<a href='{VERIFY}'>Confirm</a>", "", VERIFY, id="raw-ampersands"),
        pytest.param(f"<a href={VERIFY.split('&')[0]}>x</a>", "", VERIFY.split("&")[0],
                     id="unquoted-attribute"),
        pytest.param(
            f'<a href="https://mamapace.app/help">Help</a><a href="{ESCAPED}">Go</a>', "",
            VERIFY, id="first-verify-link-not-first-link",
        ),
        pytest.param(
            f'<p>Willkommen! <a class="btn" href="{ESCAPED}">Konto aktivieren</a></p>', "",
            VERIFY, id="custom-template-wording",
        ),
        pytest.param(
            f'<a href="  {ESCAPED}\n">x</a>', "", VERIFY, id="whitespace-around-href",
        ),
        pytest.param(
            f'<!-- <a href="{ESCAPED}&amp;old=1">old</a> --><a href="{ESCAPED}">x</a>', "",
            VERIFY, id="commented-out-link-ignored",
        ),
        pytest.param(
            '<a href="https://x.supabase.co/auth/v1/verify?token=t&amp;type=signup'
            '&amp;redirect_to=https%3A%2F%2Fapp.example%2Fcb%3Fa%3D1%26b%3D2">x</a>', "",
            "https://x.supabase.co/auth/v1/verify?token=t&type=signup"
            "&redirect_to=https%3A%2F%2Fapp.example%2Fcb%3Fa%3D1%26b%3D2",
            id="percent-encoded-redirect",
        ),
        pytest.param(
            '<a href="https://h/verify?token=t&notify=1&amp;type=signup">x</a>', "",
            "https://h/verify?token=t&notify=1&type=signup",
            id="legacy-entity-prefix-left-alone-in-attribute",
        ),
        pytest.param(
            f'<a title="see href=/verify?fake" data-href="/verify?no" href="{ESCAPED}">x</a>',
            "", VERIFY, id="href-text-inside-other-attributes",
        ),
        pytest.param(f'<A HREF = "{ESCAPED}">x</A>', "", VERIFY, id="upper-case-and-spaces"),
        pytest.param("", f"Confirm your account:\n{VERIFY}\n", VERIFY, id="text-only"),
        pytest.param("", f"Open {VERIFY}.", VERIFY, id="text-trailing-period"),
        pytest.param("", f"Confirm email address ( {VERIFY} )", VERIFY,
                     id="text-mailpit-derived-parentheses"),
        pytest.param("", f"<{VERIFY}>", VERIFY, id="text-angle-brackets"),
        pytest.param(
            '<a href="https://mamapace.app/">Home</a>', f"Link: {VERIFY}", VERIFY,
            id="html-without-verify-falls-back-to-text",
        ),
        pytest.param('<a href="https://mamapace.app/">Home</a>', "", None, id="no-verify-link"),
        pytest.param("", "Your code is 123456", None, id="text-without-link"),
        pytest.param("", "", None, id="empty"),
        pytest.param(
            '<a href="https://h/auth/v1/verify">no query</a>', "", None, id="verify-without-query",
        ),
    ],
)  # fmt: skip
def test_find_confirmation_link(html: str, text: str, expected: str | None) -> None:
    assert find_confirmation_link(email(html, text)) == expected


def test_received_email_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        email().subject = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "boom"),
        ({"provider": "mailpit"}, "mailpit: boom"),
        ({"provider": "mailosaur", "status": 503, "transient": True}, "mailosaur: boom"),
    ],
)
def test_inbox_error(kwargs: dict[str, object], message: str) -> None:
    error = InboxError("boom", **kwargs)  # type: ignore[arg-type]
    assert isinstance(error, SyntheticsError)
    assert str(error) == message
    assert error.provider == kwargs.get("provider")
    assert error.status == kwargs.get("status")
    assert error.transient is kwargs.get("transient", False)
