"""Inbucket: the inbox of Supabase CLI stacks before v2.17 (reference G3).

REST API v1 (inbucket pkg/rest): `GET /api/v1/mailbox/{name}` lists message headers
(`id`, `to[]`, `date`, `posix-millis`, …) in arrival order; `GET /api/v1/mailbox/{name}/{id}` adds
`body: {text, html}`; `DELETE /api/v1/mailbox/{name}/{id}`. With Inbucket's default "local" mailbox
naming the mailbox is the address's local part, lower-cased, with any `+extension` removed
(policy.parseMailboxName) — so `synthetic+run-1@…` and `synthetic+run-2@…` share the mailbox
`synthetic`, and each message's `to` list is checked for the exact address.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, field_validator

from synthetics.inbox._common import (
    as_utc,
    check_address_template,
    check_http_url,
    fill_template,
    from_epoch_millis,
    header_addresses,
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

PROVIDER = "inbucket"


class InbucketConfig(BaseModel):
    """`[inbox]` for Inbucket."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["inbucket"] = "inbucket"
    url: str
    address_template: str

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


def mailbox_name(address: str) -> str:
    """Inbucket's mailbox for an address: local part, lower-cased, `+extension` removed."""
    local, _domain = split_address(address)
    return local.lower().split("+", 1)[0]


def _recipients(entry: Mapping[str, Any]) -> list[str]:
    value = entry.get("to")
    if not isinstance(value, list):
        return []
    return header_addresses(item for item in value if isinstance(item, str))


def received_at(entry: Mapping[str, Any]) -> datetime | None:
    """When Inbucket stored a message: `posix-millis`, else `date`."""
    return from_epoch_millis(entry.get("posix-millis")) or parse_timestamp(entry.get("date"))


def parse_message(message: Mapping[str, Any], *, to: str | None = None) -> ReceivedEmail:
    """An Inbucket message (`GET /api/v1/mailbox/{name}/{id}`) as a ReceivedEmail."""
    recipients = _recipients(message)
    chosen = pick_address(recipients, to) if to else None
    body = message.get("body")
    body = body if isinstance(body, Mapping) else {}
    return ReceivedEmail(
        id=str(require(message, "id", PROVIDER)),
        to=chosen or (recipients[0] if recipients else to or ""),
        subject=text_field(message, "subject"),
        html=text_field(body, "html"),
        text=text_field(body, "text"),
        received_at=received_at(message),
    )


def _arrival(pair: tuple[int, Mapping[str, Any]]) -> tuple[float, int]:
    """Sort key for (position, header): stored time first, then position in the listing."""
    position, entry = pair
    stamp = received_at(entry)
    return (stamp.timestamp() if stamp is not None else float("-inf"), position)


def newest_match(
    entries: list[Any], address: str, since: datetime | None
) -> Mapping[str, Any] | None:
    """The newest header in a mailbox listing sent to exactly `address`, at/after `since`."""
    matching = [
        entry
        for entry in entries
        if isinstance(entry, Mapping) and pick_address(_recipients(entry), address) is not None
    ]
    if not matching:
        return None
    # Listings come in arrival order; the stored time decides when there is one.
    newest = max(enumerate(matching), key=_arrival)[1]
    return newest if is_recent(received_at(newest), since) else None


class InbucketInbox(TemplateHttpInbox[InbucketConfig]):
    """The Inbox for Inbucket."""

    name = PROVIDER

    def wait_for_email(
        self, address: str, *, timeout: float, since: datetime | None = None
    ) -> ReceivedEmail | None:
        """Poll the address's mailbox until a message to it arrives; None after `timeout` s."""
        deadline = deadline_after(timeout)
        after = as_utc(since) if since is not None else None
        return poll(lambda: self._find(address, after), deadline=deadline, backoff=self._backoff)

    def delete(self, email: ReceivedEmail) -> None:
        """Delete one message from its mailbox."""
        self._api.call("DELETE", self._path(email.to, email.id), ok=(200, 404))

    def check(self) -> str:
        """List the mailbox the run's addresses go to (reading marks nothing seen)."""
        address = self.address_for("doctor")
        entries = self._api.json(self._api.call("GET", self._path(address)))
        if not isinstance(entries, list):
            raise InboxError("unexpected answer: the mailbox is not a list", provider=PROVIDER)
        return (
            f"Inbucket answered: mailbox {mailbox_name(address)!r} holds {len(entries)} message(s)"
        )

    def _path(self, address: str, message_id: str | None = None) -> str:
        path = f"/api/v1/mailbox/{quote(mailbox_name(address), safe='')}"
        return path if message_id is None else f"{path}/{quote(message_id, safe='')}"

    def _find(self, address: str, since: datetime | None) -> ReceivedEmail | None:
        entries = self._api.json(self._api.call("GET", self._path(address)))
        if not isinstance(entries, list):
            raise InboxError("unexpected answer: the mailbox is not a list", provider=PROVIDER)
        entry = newest_match(entries, address, since)
        if entry is None:
            return None
        response = self._api.call(
            "GET", self._path(address, str(require(entry, "id", PROVIDER))), ok=(200, 404)
        )
        if response.status_code == 404:
            return None  # deleted in between; the next poll looks again
        return parse_message(self._api.json(response), to=address)
