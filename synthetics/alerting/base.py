"""The channel contract: one small Protocol, what a delivery answers, and the HTTP glue.

    Channel   name / type / secrets() / send(notification, sender) -> Receipt
    Receipt   what a channel answered: ok or not, the HTTP status, the service's own words

A channel module owns its config model (pydantic, `extra="forbid"`, secrets as SecretStr), a
pure function building its request body from a Notification, and a pure function reading the
service's answer. `post_and_parse` joins them to the one sender (`sender.Sender`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from synthetics.alerting.model import Notification
from synthetics.alerting.sender import Answer, DeliveryError, Sender


@dataclass(frozen=True)
class Receipt:
    """One delivery's outcome."""

    channel: str
    ok: bool
    status: int | None = None
    detail: str = ""
    attempts: int = 1

    def line(self) -> str:
        """`oncall: ok (HTTP 200, ok)` / `pager: FAILED (HTTP 400, …)`."""
        verdict = "ok" if self.ok else "FAILED"
        status = f"HTTP {self.status}" if self.status is not None else "no answer"
        detail = f", {self.detail}" if self.detail else ""
        tries = f", {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.channel}: {verdict} ({status}{detail}{tries})"


@runtime_checkable
class Channel(Protocol):
    """Somewhere notifications go."""

    name: str
    type: str

    def secrets(self) -> tuple[str, ...]:
        """The secret values this channel holds (URL, key): registered with the redactor."""
        ...

    def send(self, note: Notification, sender: Sender) -> Receipt:
        """Deliver `note` (never raises for a delivery problem: the receipt says it)."""
        ...


#: A channel's reading of the service's answer: (ok, short detail).
Parse = Callable[[Answer], tuple[bool, str]]


def post_and_parse(
    channel: str,
    sender: Sender,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    parse: Parse,
    secrets: tuple[str, ...],
) -> Receipt:
    """Send through the one sender, read the answer with the channel's own parser."""
    try:
        answer = sender.post(channel, url, body=body, headers=headers, secrets=secrets)
    except DeliveryError as exc:
        detail = str(exc).removeprefix(f"{channel}: ")
        return Receipt(channel, False, exc.status, sender.redactor.redact(detail), 0)
    ok, detail = parse(answer)
    return Receipt(channel, ok, answer.status, sender.redactor.redact(detail), answer.attempts)
