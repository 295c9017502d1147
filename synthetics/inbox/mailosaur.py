"""Mailosaur: a hosted inbox for production runs (`<anything>@<server id>.mailosaur.net`).

REST API as the official clients use it (mailosaur-python/-node, `https://mailosaur.com/api`):
HTTP Basic auth with the API key as user name and an empty password;
`POST /api/messages/search?server=…&receivedAfter=…&page=0&itemsPerPage=…` with a JSON body
`{"sentTo": addr, "match": "ALL"}` → `{"items": [summary…]}` newest first (a summary has `id`,
`to[]{name,email}`, `received`); `GET /api/messages/{id}` → `subject`, `received`, `to[]`,
`html{body,links[]}`, `text{body,links[]}`; `DELETE /api/messages/{id}` → 204. A search that finds
nothing answers at once, with an `x-ms-delay` header (comma-separated milliseconds per poll) that
the clients wait between polls; here it is honoured up to the backoff cap.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from synthetics.inbox._common import (
    as_utc,
    check_http_url,
    check_tag,
    is_recent,
    iso_utc,
    parse_timestamp,
    pick_address,
    require,
    text_field,
)
from synthetics.inbox._http import HttpApi, HttpInbox
from synthetics.inbox._wait import deadline_after, poll
from synthetics.inbox.base import InboxError, ReceivedEmail

PROVIDER = "mailosaur"
#: Summaries asked for per search (the newest match is all that is needed).
ITEMS_PER_PAGE = 20


class MailosaurConfig(BaseModel):
    """`[inbox]` for Mailosaur."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["mailosaur"] = "mailosaur"
    server_id: str
    api_key: SecretStr
    url: str = "https://mailosaur.com"
    domain: str = "mailosaur.net"

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("server_id", "domain")
    @classmethod
    def _check_label(cls, value: str) -> str:
        if not value or any(c.isspace() or c in "@/" for c in value):
            raise ValueError("must be a bare identifier or domain")
        return value

    def local_part(self, tag: str) -> str | None:
        """The local part of the address a run signs up with for `tag`: the tag itself."""
        return check_tag(tag)


def _emails(value: object) -> list[str]:
    """The `email` of each entry in a Mailosaur address list."""
    if not isinstance(value, list):
        return []
    return [
        entry["email"]
        for entry in value
        if isinstance(entry, Mapping) and isinstance(entry.get("email"), str)
    ]


def _body(content: object) -> str:
    return text_field(content, "body") if isinstance(content, Mapping) else ""


def parse_message(message: Mapping[str, Any], *, to: str | None = None) -> ReceivedEmail:
    """A Mailosaur message (`GET /api/messages/{id}`) as a ReceivedEmail."""
    recipients = _emails(message.get("to"))
    chosen = pick_address(recipients, to) if to else None
    return ReceivedEmail(
        id=str(require(message, "id", PROVIDER)),
        to=chosen or (recipients[0] if recipients else to or ""),
        subject=text_field(message, "subject"),
        html=_body(message.get("html")),
        text=_body(message.get("text")),
        received_at=parse_timestamp(message.get("received")),
    )


def newest_match(
    items: list[Any], address: str, since: datetime | None
) -> Mapping[str, Any] | None:
    """The newest summary sent to exactly `address` at/after `since` (items come newest first)."""
    for item in items:
        if isinstance(item, Mapping) and pick_address(_emails(item.get("to")), address):
            return item if is_recent(parse_timestamp(item.get("received")), since) else None
    return None


def delay_hint(header: str | None, poll_count: int) -> float:
    """Seconds to wait before poll `poll_count` per an `x-ms-delay` header (0 when absent/bad)."""
    if not header:
        return 0.0
    try:
        pattern = [int(part) for part in header.split(",")]
    except ValueError:
        return 0.0
    if not pattern:
        return 0.0
    return max(pattern[min(poll_count, len(pattern) - 1)], 0) / 1000


class MailosaurInbox(HttpInbox[MailosaurConfig]):
    """The Inbox for Mailosaur."""

    name = PROVIDER
    #: The pause (s) the last search's `x-ms-delay` asked for; reset at the start of each wait.
    _hint = 0.0

    def _new_api(self, client: httpx.Client) -> HttpApi:
        key = self._config.api_key.get_secret_value()
        return HttpApi(
            PROVIDER,
            self._config.url,
            client,
            auth=httpx.BasicAuth(key, ""),
            headers={"Accept": "application/json"},
            secrets=[key],
        )

    def __repr__(self) -> str:
        return f"MailosaurInbox(server_id={self._config.server_id!r}, url={self._config.url!r})"

    def check(self) -> str:
        """`GET /api/servers/{id}` (the official clients' `servers.get`): the key opens it."""
        path = f"/api/servers/{quote(self._config.server_id, safe='')}"
        server = self._api.json(self._api.call("GET", path))
        if not isinstance(server, Mapping):
            raise InboxError("unexpected answer: the server is not an object", provider=PROVIDER)
        name = server.get("name")
        return (
            f"Mailosaur server {self._config.server_id}"
            + (f" ({name})" if name else "")
            + (" answered")
        )

    def address_for(self, tag: str) -> str:
        """`<tag>@<server id>.<domain>`: every address of the server's domain reaches it."""
        return f"{check_tag(tag)}@{self._config.server_id}.{self._config.domain}"

    def wait_for_email(
        self, address: str, *, timeout: float, since: datetime | None = None
    ) -> ReceivedEmail | None:
        """Search until a message to `address` is there; None after `timeout` s."""
        deadline = deadline_after(timeout)
        after = as_utc(since) if since is not None else None
        self._hint = 0.0
        polls = itertools.count()

        def probe() -> ReceivedEmail | None:
            return self._find(address, after, next(polls))

        return poll(probe, deadline=deadline, backoff=self._backoff, pace=lambda: self._hint)

    def delete(self, email: ReceivedEmail) -> None:
        """Delete one message (204; 404 when it is already gone)."""
        self._api.call("DELETE", self._message_path(email.id), ok=(200, 204, 404))

    @staticmethod
    def _message_path(message_id: str) -> str:
        return f"/api/messages/{quote(message_id, safe='')}"

    def _find(self, address: str, since: datetime | None, count: int) -> ReceivedEmail | None:
        params: dict[str, str | int] = {
            "server": self._config.server_id,
            "page": 0,
            "itemsPerPage": ITEMS_PER_PAGE,
        }
        if since is not None:
            # Whole seconds, rounded down, as the official client sends it; the exact bound is
            # applied to the answer below.
            params["receivedAfter"] = iso_utc(since.replace(microsecond=0), millis=False)
        response = self._api.call(
            "POST", "/api/messages/search", params=params, json={"sentTo": address, "match": "ALL"}
        )
        self._hint = delay_hint(response.headers.get("x-ms-delay"), count)
        items = require(self._api.json(response), "items", PROVIDER)
        if not isinstance(items, list):
            raise InboxError("unexpected answer: 'items' is not a list", provider=PROVIDER)
        summary = newest_match(items, address, since)
        if summary is None:
            return None
        message_id = str(require(summary, "id", PROVIDER))
        message = self._api.call("GET", self._message_path(message_id), ok=(200, 404))
        if message.status_code == 404:
            return None
        return parse_message(self._api.json(message), to=address)
