"""MailSlurp: a hosted inbox for production runs, one API-created inbox per address.

REST API (mailslurp-client-* generated from MailSlurp's OpenAPI, base `https://api.mailslurp.com`):
header `x-api-key`; `POST /inboxes?name=…` → 201 `InboxDto {id, emailAddress, …}`;
`GET /waitForLatestEmail?inboxId=…&timeout=<ms>&since=<ISO>` holds the request until an email is
there and answers the `Email {id, to[], subject, body, isHTML, createdAt, …}`, or 408 "Failed to
satisfy email query …" when `timeout` passes (the server caps a wait near 300 s);
`DELETE /emails/{id}` and `DELETE /inboxes/{id}` → 204. Waiting is therefore a chain of long polls
up to the deadline: an email is seen as soon as MailSlurp has it, without polling pauses.
"""

from __future__ import annotations

import re
import time
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
from synthetics.inbox._wait import Backoff, deadline_after
from synthetics.inbox.base import InboxError, ReceivedEmail

PROVIDER = "mailslurp"
#: Longest single long poll asked for (ms); MailSlurp stops waiting at about 300 s anyway.
MAX_WAIT_MS = 290_000
#: A 408 faster than this (s) did not really wait, so the next ask pauses first.
INSTANT_S = 0.05
#: Extra read time granted beyond the server-side wait before the request counts as hung (s).
READ_GRACE_S = 10.0
_LOOKS_LIKE_HTML = re.compile(r"<\s*(html|body|a|p|div|table|br)\b", re.IGNORECASE)


class MailSlurpConfig(BaseModel):
    """`[inbox]` for MailSlurp."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["mailslurp"] = "mailslurp"
    api_key: SecretStr
    url: str = "https://api.mailslurp.com"

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_http_url(value)

    def local_part(self, tag: str) -> str | None:
        """None: MailSlurp picks each inbox's address itself (the tag is only its name)."""
        return None


def _is_html(email: Mapping[str, Any], body: str) -> bool:
    """Whether the body is HTML: `isHTML` (older) or `html` (newer), else a look at the body."""
    for flag in ("isHTML", "html"):
        value = email.get(flag)
        if isinstance(value, bool):
            return value
    return bool(_LOOKS_LIKE_HTML.search(body))


def parse_email(email: Mapping[str, Any], *, to: str | None = None) -> ReceivedEmail:
    """A MailSlurp `Email` as a ReceivedEmail (its one `body` is HTML or text per `isHTML`)."""
    recipients = [item for item in email.get("to") or [] if isinstance(item, str)]
    chosen = pick_address(recipients, to) if to else None
    body = text_field(email, "body")
    html = _is_html(email, body)
    return ReceivedEmail(
        id=str(require(email, "id", PROVIDER)),
        to=chosen or (recipients[0] if recipients else to or ""),
        subject=text_field(email, "subject"),
        html=body if html else "",
        text="" if html else body,
        received_at=parse_timestamp(email.get("createdAt")),
    )


def parse_inbox(inbox: Mapping[str, Any]) -> tuple[str, str]:
    """(id, emailAddress) of a created inbox (`InboxDto`)."""
    return str(require(inbox, "id", PROVIDER)), str(require(inbox, "emailAddress", PROVIDER))


class MailSlurpInbox(HttpInbox[MailSlurpConfig]):
    """The Inbox for MailSlurp: address_for creates an inbox, close deletes them."""

    name = PROVIDER

    def __init__(
        self,
        config: MailSlurpConfig,
        http: httpx.Client | None = None,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(config, http, backoff=backoff)
        self._inboxes: dict[str, str] = {}  # address (casefolded) → inbox id

    def _new_api(self, client: httpx.Client) -> HttpApi:
        key = self._config.api_key.get_secret_value()
        return HttpApi(
            PROVIDER,
            self._config.url,
            client,
            headers={"x-api-key": key, "Accept": "application/json"},
            secrets=[key],
        )

    def __repr__(self) -> str:
        return f"MailSlurpInbox(url={self._config.url!r}, inboxes={len(self._inboxes)})"

    def check(self) -> str:
        """`GET /user/info` (the clients' `getUserInfo`): the key's account, no inbox made."""
        info = self._api.json(self._api.call("GET", "/user/info"))
        if not isinstance(info, Mapping):
            raise InboxError("unexpected answer: user info is not an object", provider=PROVIDER)
        state = info.get("accountState")
        return "MailSlurp accepted the API key" + (f" (account {state})" if state else "")

    def address_for(self, tag: str) -> str:
        """Create an inbox named `tag` and return its address (deleted again in close())."""
        params = {"name": check_tag(tag)}
        response = self._api.call("POST", "/inboxes", params=params, ok=(200, 201))
        inbox_id, address = parse_inbox(self._api.json(response))
        self._inboxes[address.casefold()] = inbox_id
        return address

    def wait_for_email(
        self, address: str, *, timeout: float, since: datetime | None = None
    ) -> ReceivedEmail | None:
        """Long-poll the address's inbox until an email is there; None after `timeout` s."""
        inbox_id = self._inboxes.get(address.casefold())
        if inbox_id is None:
            raise ValueError(f"{address!r} was not created by this MailSlurp inbox")
        deadline = deadline_after(timeout)
        after = as_utc(since) if since is not None else None
        pauses = self._backoff.delays()
        while True:
            started = time.monotonic()
            wait_ms = min(max(int((deadline - started) * 1000), 0), MAX_WAIT_MS)
            params: dict[str, str | int] = {"inboxId": inbox_id, "timeout": wait_ms}
            if after is not None:
                params["since"] = iso_utc(after)
            response = self._api.call(
                "GET",
                "/waitForLatestEmail",
                params=params,
                ok=(200, 408),
                timeout=wait_ms / 1000 + READ_GRACE_S,
            )
            if response.status_code == 200:
                email = parse_email(self._api.json(response), to=address)
                if is_recent(email.received_at, after):
                    return email
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            answered_at_once = time.monotonic() - started < min(wait_ms / 2000, INSTANT_S)
            if response.status_code == 200 or answered_at_once:
                # An old email (a server ignoring `since`) or a 408 without waiting: pause
                # rather than spin. A 408 after a real wait is simply asked again at once.
                time.sleep(min(next(pauses), remaining))

    def delete(self, email: ReceivedEmail) -> None:
        """Delete one email (204; 404 when it is already gone)."""
        path = f"/emails/{quote(email.id, safe='')}"
        self._api.call("DELETE", path, ok=(200, 204, 404))

    def close(self) -> None:
        """Delete every inbox address_for created, then close the HTTP client if it is ours."""
        failures: list[InboxError] = []
        for address, inbox_id in list(self._inboxes.items()):
            try:
                path = f"/inboxes/{quote(inbox_id, safe='')}"
                self._api.call("DELETE", path, ok=(200, 204, 404))
            except InboxError as exc:
                failures.append(exc)  # kept in the map: a later close() tries it again
            else:
                del self._inboxes[address]
        if not failures:
            super().close()  # the client, if it is ours
            return
        first = failures[0]
        raise InboxError(
            f"could not delete {len(failures)} inbox(es); first: {first}",
            status=first.status,
            transient=first.transient,
        )
