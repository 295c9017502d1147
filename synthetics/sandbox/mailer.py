"""Auth's outgoing mail: GoTrue's confirmation email, sent over real SMTP."""

from __future__ import annotations

import asyncio
import html
import smtplib
from email.message import EmailMessage
from urllib.parse import quote_plus

from synthetics.sandbox.faults import FaultState


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


def confirmation_email(*, sender: str, to: str, subject: str, url: str) -> EmailMessage:
    """The built-in confirmation template: HTML only, one link to the confirmation URL."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    link = html.escape(url, quote=True)
    message.set_content(
        "<h2>Confirm your email address</h2>\n"
        "<p>Follow this link to confirm your email address:</p>\n"
        f'<p><a href="{link}">Confirm email address</a></p>\n',
        subtype="html",
    )
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
