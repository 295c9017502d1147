"""Helpers for the provider tests; the servers themselves come from tests.servers."""

from __future__ import annotations

import smtplib
import socket
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from tests.servers import READY_TIMEOUT, Running, serve

__all__ = ["READY_TIMEOUT", "Running", "ShiftableClock", "free_port", "send_smtp", "serve"]


class ShiftableClock:
    """A MailStore clock that can be set back, to store mail 'received' in the past."""

    def __init__(self) -> None:
        self.age = 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self.age)


def send_smtp(port: int, message: EmailMessage) -> None:
    """Deliver over real SMTP; returns once the server has stored it (after its 250)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


def free_port() -> int:
    """A port nothing listens on (bound then released), for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
