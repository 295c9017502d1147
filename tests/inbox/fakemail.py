"""The mail the fake provider servers hold: one thread-safe store each fake shapes its own way."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TypeVar

T = TypeVar("T")

SENDER = "noreply@mail.app.supabase.io"
CONFIRM_URL = (
    "https://abcdefgh.supabase.co/auth/v1/verify"
    "?token=pkce_0123456789abcdef&type=signup&redirect_to=mamapace://auth-callback"
)


def confirmation_html(url: str = CONFIRM_URL) -> str:
    """GoTrue's default confirmation body: HTML only, the link `&`-escaped in its href."""
    escaped = url.replace("&", "&amp;")
    return (
        "<h2>Confirm your signup</h2><p>Follow this link to confirm your user:</p>"
        f'<p><a href="{escaped}">Confirm your mail</a></p>'
    )


@dataclass
class Stored:
    """One delivered message."""

    id: str
    uid: int
    sender: str
    to: list[str]
    subject: str
    html: str
    text: str
    received: datetime
    raw: bytes
    headers: dict[str, str]
    flags: set[str] = field(default_factory=set)
    read: bool = False


def build_message(
    *, sender: str, to: list[str], subject: str, html: str, text: str, date: datetime,
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:  # fmt: skip
    """A message with these parts (multipart/alternative when it has both)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = make_msgid(domain="fake.test")
    for name, value in (extra_headers or {}).items():
        message[name] = value
    if text and html:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    elif html:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text)
    return message


def default_html(html: str | None, text: str) -> str:
    """The HTML body a delivery gets: GoTrue's confirmation unless told otherwise or text-only."""
    return confirmation_html() if html is None and not text else (html or "")


class FakeMail:
    """Thread-safe message store with arrival notifications for asyncio waiters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Stored] = []
        self._next_uid = 1
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def deliver(
        self,
        to: str | list[str],
        *,
        subject: str = "Confirm your email address",
        html: str | None = None,
        text: str = "",
        sender: str = SENDER,
        age: float = 0.0,
        extra_headers: dict[str, str] | None = None,
    ) -> Stored:
        """Store a message as received `age` seconds ago and wake every waiter."""
        recipients = [to] if isinstance(to, str) else list(to)
        body_html = default_html(html, text)
        received = datetime.now(UTC) - timedelta(seconds=age)
        raw = bytes(
            build_message(
                sender=sender, to=recipients, subject=subject, html=body_html, text=text,
                date=received, extra_headers=extra_headers,
            )
        )  # fmt: skip
        with self._lock:
            stored = Stored(
                id=str(uuid.uuid4()), uid=self._next_uid, sender=sender, to=recipients,
                subject=subject, html=body_html, text=text, received=received, raw=raw,
                headers=dict(extra_headers or {}),
            )  # fmt: skip
            self._next_uid += 1
            self._messages.append(stored)
            waiters = list(self._waiters)
        for loop, event in waiters:
            # A waiter whose loop has closed will never look again.
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
        return stored

    def messages(self) -> list[Stored]:
        """Every message, in arrival order."""
        with self._lock:
            return list(self._messages)

    def get(self, message_id: str) -> Stored | None:
        with self._lock:
            return next((m for m in self._messages if m.id == message_id), None)

    def remove(self, message_id: str) -> bool:
        with self._lock:
            kept = [m for m in self._messages if m.id != message_id]
            removed = len(kept) != len(self._messages)
            self._messages = kept
            return removed

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    async def wait_for(self, find: Callable[[], T | None], timeout: float) -> T | None:
        """`find()` as soon as it returns something, or None after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = asyncio.Event()
            with self._lock:
                self._waiters.append((loop, event))
            try:
                found = find()
                if found is not None:
                    return found
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                with self._lock:
                    self._waiters.remove((loop, event))
