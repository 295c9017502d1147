"""Auth's outgoing mail: GoTrue's email templates, rendered and sent over real SMTP.

The subjects and bodies are GoTrue's built-in defaults (`internal/mailer/templatemailer`); a
sandbox can override any of them by template name, as `GOTRUE_MAILER_SUBJECTS_*` and
`GOTRUE_MAILER_TEMPLATES_*` do (an app that mails a one-time code puts `{{ .Token }}` in its
template). Only `{{ .Name }}` and `{{ .Data.key }}` substitutions are understood; anything else
between braces is left as written.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus

from synthetics.sandbox.faults import FaultState

#: GoTrue's template names (the keys of `AuthSettings.email_subjects` / `email_templates`).
CONFIRMATION = "confirmation"
INVITE = "invite"
RECOVERY = "recovery"
MAGIC_LINK = "magic_link"
EMAIL_CHANGE = "email_change"
REAUTHENTICATION = "reauthentication"

DEFAULT_SUBJECTS: Mapping[str, str] = {
    INVITE: "You've been invited",
    CONFIRMATION: "Confirm your email address",
    RECOVERY: "Reset your password",
    MAGIC_LINK: "Your sign-in link",
    EMAIL_CHANGE: "Confirm your new email address",
    REAUTHENTICATION: "{{ .Token }} is your verification code",
}

DEFAULT_BODIES: Mapping[str, str] = {
    INVITE: (
        "<h2>You've been invited</h2>\n\n"
        "<p>You've been invited to create an account. Follow the link below to accept.</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Accept invitation</a></p>'
    ),
    CONFIRMATION: (
        "<h2>Confirm your email address</h2>\n\n"
        "<p>Follow the link below to confirm this email address and finish signing up.</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Confirm email address</a></p>\n'
    ),
    RECOVERY: (
        "<h2>Reset your password</h2>\n\n"
        "<p>We received a request to reset your password. Follow the link below to choose a new"
        " one.</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Reset password</a></p>\n'
        "<p>If you didn't request this, you can safely ignore this email.</p>"
    ),
    MAGIC_LINK: (
        "<h2>Your sign-in link</h2>\n\n"
        "<p>Follow the link below to sign in. This link expires shortly and can only be used"
        " once.</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Sign in</a></p>'
    ),
    EMAIL_CHANGE: (
        "<h2>Confirm your new email address</h2>\n\n"
        "<p>Follow the link below to confirm {{ .NewEmail }} as your new email address.</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Confirm new email address</a></p>\n'
        "<p>If you didn't request this change, you can safely ignore this email.</p>"
    ),
    REAUTHENTICATION: (
        "<h2>Your verification code</h2>\n\n"
        "<p>Use the code below to verify your identity. It expires shortly.</p>\n"
        "<p>{{ .Token }}</p>"
    ),
}

_ACTION = re.compile(r"\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*-?\}\}")
# html/template's htmlReplacementTable: the same escaping in text and in attribute values.
_HTML_ESCAPES = str.maketrans(
    {"\0": "\ufffd", '"': "&#34;", "&": "&amp;", "'": "&#39;", "+": "&#43;"}
    | {"<": "&lt;", ">": "&gt;"}
)


def confirmation_url(external_url: str, token: str, kind: str, redirect_to: str) -> str:
    """GoTrue's `{{ .ConfirmationURL }}`: fixed parameter order, redirect encoded only if needed.

    templatemailer's getPath: token and type through url.QueryEscape, the redirect through
    encodeRedirectURL (QueryEscape'd only when it holds `&`, `=` or `#`). QueryEscape is
    `quote_plus` with nothing but `-_.~` left safe.
    """
    if any(c in redirect_to for c in "&=#"):
        redirect_to = quote_plus(redirect_to, safe="")
    token, kind = quote_plus(token, safe=""), quote_plus(kind, safe="")
    return f"{external_url}/verify?token={token}&type={kind}&redirect_to={redirect_to}"


def render(template: str, data: Mapping[str, Any]) -> str:
    """Substitute `{{ .Name }}` / `{{ .Data.key }}`, escaped as Go's html/template does."""

    def value(match: re.Match[str]) -> str:
        found: Any = data
        for part in match.group(1).split("."):
            found = found.get(part) if isinstance(found, Mapping) else None
        if found is None:
            return ""  # html/template renders a missing map key as nothing
        text = found if isinstance(found, str) else str(found)
        return text.translate(_HTML_ESCAPES)

    return _ACTION.sub(value, template)


def email(
    *,
    kind: str,
    sender: str,
    to: str,
    data: Mapping[str, Any],
    subjects: Mapping[str, str],
    bodies: Mapping[str, str],
) -> EmailMessage:
    """One of Auth's emails: the `kind` template (override or default), HTML only."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = render(subjects.get(kind) or DEFAULT_SUBJECTS[kind], data)
    message.set_content(render(bodies.get(kind) or DEFAULT_BODIES[kind], data), subtype="html")
    return message


class Mailer:
    """Sends Auth's emails to an SMTP server, honouring the email.drop and email.delay faults."""

    def __init__(self, host: str, port: int, faults: FaultState) -> None:
        self.host = host
        self.port = port
        self.faults = faults
        self._pending: set[asyncio.Task[None]] = set()

    async def send(self, message: EmailMessage) -> None:
        """Hand `message` to SMTP (or lose it, or hold it back, as the faults say)."""
        if self.faults.has("email.drop"):
            return  # the provider accepted it and it never arrives: what the fault rehearses
        delay = self.faults.email_delay_s()
        if delay > 0:
            task = asyncio.create_task(self._send_later(message, delay))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return
        await asyncio.to_thread(self._deliver, message)

    async def _send_later(self, message: EmailMessage, delay: float) -> None:
        # A simulated slow provider: holding the message is the point of the fault.
        await asyncio.sleep(delay)
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(message)

    async def close(self) -> None:
        """Cancel mail still held back by email.delay."""
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
