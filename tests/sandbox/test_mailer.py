"""Auth's email rendering: GoTrue's default templates and html/template's escaping."""

from __future__ import annotations

import pytest

from synthetics.sandbox import mailer


@pytest.mark.parametrize(
    ("template", "data", "expected"),
    [
        ("{{ .Token }} is your code", {"Token": "123456"}, "123456 is your code"),
        ("{{.Token}}", {"Token": "1"}, "1"),
        ("Hi {{ .Data.name }}", {"Data": {"name": "Mama"}}, "Hi Mama"),
        ("[{{ .Missing }}]", {}, "[]"),  # a missing map key renders as nothing
        ("[{{ .Data.missing }}]", {"Data": {}}, "[]"),
        # htmlReplacementTable, in text and in attributes alike:
        ("{{ .Email }}", {"Email": "a+b@x.dev"}, "a&#43;b@x.dev"),
        (
            '<a href="{{ .U }}">',
            {"U": "https://x/?a=1&b='2'"},
            '<a href="https://x/?a=1&amp;b=&#39;2&#39;">',
        ),
        ("{{ .T }}", {"T": '<b>"x"</b>'}, "&lt;b&gt;&#34;x&#34;&lt;/b&gt;"),
        ("{{ if .Token }}x{{ end }}", {"Token": "1"}, "{{ if .Token }}x{{ end }}"),  # untouched
    ],
)
def test_render(template: str, data: dict[str, object], expected: str) -> None:
    assert mailer.render(template, data) == expected


def test_every_template_has_gotrues_default_subject_and_body() -> None:
    kinds = {
        mailer.CONFIRMATION, mailer.INVITE, mailer.RECOVERY, mailer.MAGIC_LINK,
        mailer.EMAIL_CHANGE, mailer.REAUTHENTICATION,
    }  # fmt: skip
    assert set(mailer.DEFAULT_SUBJECTS) == set(mailer.DEFAULT_BODIES) == kinds
    linked = kinds - {mailer.REAUTHENTICATION}
    assert all("{{ .ConfirmationURL }}" in mailer.DEFAULT_BODIES[k] for k in linked)
    assert "{{ .Token }}" in mailer.DEFAULT_BODIES[mailer.REAUTHENTICATION]


def test_email_uses_overrides_and_falls_back_to_defaults() -> None:
    message = mailer.email(
        kind=mailer.MAGIC_LINK,
        sender="Mamapace <noreply@mamapace.com>",
        to="a@mamapace.dev",
        data={"Token": "42", "ConfirmationURL": "https://x/verify?token=t&type=magiclink"},
        subjects={mailer.MAGIC_LINK: "Code {{ .Token }}"},
        bodies={},
    )
    assert message["Subject"] == "Code 42"
    assert message.get_content_type() == "text/html"
    html = message.get_content()
    assert html.startswith("<h2>Your sign-in link</h2>")
    assert 'href="https://x/verify?token=t&amp;type=magiclink"' in html


def test_confirmation_url_encodes_the_redirect_only_when_needed() -> None:
    plain = mailer.confirmation_url("https://p/auth/v1", "abc", "recovery", "mamapace://cb")
    assert plain == "https://p/auth/v1/verify?token=abc&type=recovery&redirect_to=mamapace://cb"
    query = mailer.confirmation_url("https://p/auth/v1", "abc", "signup", "https://a/cb?x=1")
    assert query.endswith("&redirect_to=https%3A%2F%2Fa%2Fcb%3Fx%3D1")
