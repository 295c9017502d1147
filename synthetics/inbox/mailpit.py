"""Mailpit: the inbox `supabase start` runs today (API 54324), and the sandbox's inbox.

REST API v1 (reference G1): `GET /api/v1/search?query=to:"addr"` lists summaries newest first
(`ID`, `To[]`, `Cc[]`, `Bcc[]`, `Created`); `GET /api/v1/message/{ID}` has `Subject`, `To`, `Text`,
`HTML` (not `Created`, which comes from the summary); `DELETE /api/v1/messages {"IDs": [...]}`.
Mailpit's `to:` search matches substrings, so every hit is checked for the exact address.

Waiting subscribes to the websocket `/api/events` (`{"Type":"new","Data":<summary>}`) so a new
message is seen the moment Mailpit stores it; when the websocket cannot be opened, or drops, the
wait polls the search API with backoff until the same deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, field_validator
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

from synthetics.inbox._common import (
    as_utc,
    check_address_template,
    check_http_url,
    fill_template,
    is_recent,
    parse_timestamp,
    pick_address,
    require,
    split_address,
    text_field,
)
from synthetics.inbox._http import TemplateHttpInbox
from synthetics.inbox._wait import deadline_after, poll
from synthetics.inbox.base import InboxError, ReceivedEmail

PROVIDER = "mailpit"
#: While subscribed, search anyway this often (s), in case an event was lost.
RESEARCH_INTERVAL = 2.0
#: Longest wait for the websocket handshake before falling back to polling (s).
EVENTS_OPEN_TIMEOUT = 3.0


class MailpitConfig(BaseModel):
    """`[inbox]` for Mailpit."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["mailpit"] = "mailpit"
    url: str
    address_template: str
    #: Subscribe to /api/events while waiting (false: poll the search API only).
    events: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("address_template")
    @classmethod
    def _check_template(cls, value: str) -> str:
        return check_address_template(value)

    def local_part(self, tag: str) -> str | None:
        """The local part of the address a run signs up with for `tag`."""
        return split_address(fill_template(self.address_template, tag))[0]


def _addresses(value: object) -> list[str]:
    """The `Address` of each entry in a Mailpit address list."""
    if not isinstance(value, list):
        return []
    return [
        entry["Address"]
        for entry in value
        if isinstance(entry, Mapping) and isinstance(entry.get("Address"), str)
    ]


def summary_matches(summary: Mapping[str, Any], address: str) -> bool:
    """Whether a message summary is addressed to exactly `address` (To, Cc or Bcc)."""
    recipients = [*_addresses(summary.get("To")), *_addresses(summary.get("Cc"))]
    recipients += _addresses(summary.get("Bcc"))
    return pick_address(recipients, address) is not None


def parse_message(
    message: Mapping[str, Any], *, created: str | None = None, to: str | None = None
) -> ReceivedEmail:
    """A Mailpit message (with its summary's `Created`) as a ReceivedEmail."""
    recipients = _addresses(message.get("To"))
    chosen = pick_address(recipients, to) if to else None
    return ReceivedEmail(
        id=str(require(message, "ID", PROVIDER)),
        to=chosen or (recipients[0] if recipients else to or ""),
        subject=text_field(message, "Subject"),
        html=text_field(message, "HTML"),
        text=text_field(message, "Text"),
        received_at=parse_timestamp(created if created is not None else message.get("Created")),
    )


def events_url(url: str) -> str:
    """The websocket URL of Mailpit's event stream under its base URL."""
    base = url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/api/events"
    return "ws://" + base[len("http://") :] + "/api/events"


class MailpitInbox(TemplateHttpInbox[MailpitConfig]):
    """The Inbox for Mailpit (and the sandbox)."""

    name = PROVIDER

    def wait_for_email(
        self, address: str, *, timeout: float, since: datetime | None = None
    ) -> ReceivedEmail | None:
        """The newest message to `address` as soon as Mailpit has it; None after `timeout` s."""
        deadline = deadline_after(timeout)
        after = as_utc(since) if since is not None else None
        if self._config.events:
            connection = self._subscribe(deadline)
            if connection is not None:
                return self._wait_on_events(connection, address, after, deadline)
        return self._poll(address, after, deadline)

    def delete(self, email: ReceivedEmail) -> None:
        """Delete one message by ID."""
        if not email.id:
            # Mailpit deletes *every* message when IDs is empty: never send that.
            raise ValueError("cannot delete a message without an id")
        self._api.call("DELETE", "/api/v1/messages", json={"IDs": [email.id]}, ok=(200, 404))

    def check(self) -> str:
        """`GET /api/v1/info`: the server's version and how many messages it holds."""
        info = self._api.json(self._api.call("GET", "/api/v1/info"))
        if not isinstance(info, Mapping):
            raise InboxError("unexpected answer: /api/v1/info is not an object", provider=PROVIDER)
        version, messages = info.get("Version"), info.get("Messages")
        held = f", {messages} message(s) stored" if isinstance(messages, int) else ""
        return f"Mailpit {version or '(no version)'} answered{held}"

    def _poll(self, address: str, since: datetime | None, deadline: float) -> ReceivedEmail | None:
        return poll(lambda: self._find(address, since), deadline=deadline, backoff=self._backoff)

    def _find(self, address: str, since: datetime | None) -> ReceivedEmail | None:
        """Search once for the newest message to `address` at/after `since`."""
        response = self._api.call("GET", "/api/v1/search", params={"query": f'to:"{address}"'})
        summaries = require(self._api.json(response), "messages", PROVIDER)
        if not isinstance(summaries, list):
            raise InboxError("unexpected answer: 'messages' is not a list", provider=PROVIDER)
        for summary in summaries:  # newest first
            if not isinstance(summary, Mapping) or not summary_matches(summary, address):
                continue
            if not is_recent(parse_timestamp(summary.get("Created")), since):
                return None  # the newest match is too old, so every older one is too
            found = self._fetch(summary, address)
            if found is not None:
                return found
        return None

    def _fetch(self, summary: Mapping[str, Any], address: str) -> ReceivedEmail | None:
        """The whole message behind a summary (None if it was deleted in between)."""
        message_id = str(require(summary, "ID", PROVIDER))
        response = self._api.call(
            "GET", f"/api/v1/message/{quote(message_id, safe='')}", ok=(200, 404)
        )
        if response.status_code == 404:
            return None
        created = summary.get("Created")
        return parse_message(
            self._api.json(response),
            created=created if isinstance(created, str) else None,
            to=address,
        )

    def _subscribe(self, deadline: float) -> ClientConnection | None:
        """Open the event stream, or None when it cannot be had (then the wait polls)."""
        remaining = deadline - time.monotonic()
        try:
            return connect(
                events_url(self._config.url),
                open_timeout=max(min(remaining, EVENTS_OPEN_TIMEOUT), 0.1),
                compression=None,
            )
        except (WebSocketException, OSError, TimeoutError):
            return None

    def _wait_on_events(
        self,
        connection: ClientConnection,
        address: str,
        since: datetime | None,
        deadline: float,
    ) -> ReceivedEmail | None:
        """Search once (subscribed first, so nothing slips between), then react to events."""
        with connection:
            found = self._find(address, since)
            while found is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    frame = connection.recv(timeout=min(remaining, RESEARCH_INTERVAL))
                except TimeoutError:
                    found = self._find(address, since)
                    continue
                except (ConnectionClosed, OSError):
                    return self._poll(address, since, deadline)
                summary = _new_message(frame)
                if (
                    summary is not None
                    and summary_matches(summary, address)
                    and is_recent(parse_timestamp(summary.get("Created")), since)
                ):
                    found = self._fetch(summary, address)
            return found


def _new_message(frame: str | bytes) -> Mapping[str, Any] | None:
    """The summary carried by a `{"Type":"new"}` event, else None."""
    try:
        event = json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(event, Mapping) or event.get("Type") != "new":
        return None
    data = event.get("Data")
    return data if isinstance(data, Mapping) else None
