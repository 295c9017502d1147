"""A local MailSlurp API (OpenAPI of mailslurp-client-*): inboxes and the waitForLatestEmail poll.

`x-api-key` header (401 otherwise); `POST /inboxes` → 201 InboxDto; `GET /waitForLatestEmail`
holds the request until an email is there or `timeout` ms pass (then 408 "Failed to satisfy email
query …"), capped at `max_wait_ms` as the real service caps it near 300 s; `DELETE /emails/{id}`
and `DELETE /inboxes/{id}` → 204; `GET /user/info` → the key's `UserInfoDto`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.inbox.fakemail import FakeMail, Stored

DOMAIN = "mailslurp.biz"


@dataclass
class MailSlurpState:
    """The fake's inboxes (id → address) and the waits it was asked for."""

    inboxes: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    waits: list[dict[str, str]] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _email(message: Stored, inbox_id: str) -> dict[str, Any]:
    html = bool(message.html)
    return {
        "id": message.id,
        "userId": "00000000-0000-0000-0000-000000000001",
        "inboxId": inbox_id,
        "to": list(message.to),
        "from": message.sender,
        "subject": message.subject,
        "body": message.html if html else message.text,
        "isHTML": html,
        "html": html,
        "createdAt": _iso(message.received),
        "updatedAt": _iso(message.received),
        "read": message.read,
        "teamAccess": True,
        "attachments": [],
    }


def mailslurp_app(
    mail: FakeMail, *, api_key: str, max_wait_ms: int = 300_000
) -> tuple[Starlette, MailSlurpState]:
    """The MailSlurp API over `mail`: an inbox holds the messages sent to its address."""
    state = MailSlurpState()

    def authorised(request: Request) -> bool:
        return request.headers.get("x-api-key") == api_key

    def unauthorised() -> Response:
        return JSONResponse(
            {"message": "Unauthorized: invalid or missing API key"}, status_code=401
        )

    async def create_inbox(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        inbox_id = str(uuid.uuid4())
        address = f"{inbox_id}@{DOMAIN}"
        state.inboxes[inbox_id] = address
        state.names[inbox_id] = request.query_params.get("name", "")
        return JSONResponse(
            {
                "id": inbox_id,
                "userId": "00000000-0000-0000-0000-000000000001",
                "createdAt": _iso(datetime.now(UTC)),
                "name": state.names[inbox_id] or None,
                "emailAddress": address,
                "favourite": False,
                "inboxType": "HTTP_INBOX",
                "readOnly": False,
                "virtualInbox": False,
            },
            status_code=201,
        )

    async def wait_for_latest(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        params = dict(request.query_params)
        state.waits.append(params)
        inbox_id = params.get("inboxId", "")
        address = state.inboxes.get(inbox_id)
        if address is None:
            return JSONResponse({"message": "Inbox not found"}, status_code=404)
        since = datetime.fromisoformat(params["since"]) if params.get("since") else None
        unread_only = params.get("unreadOnly") == "true"
        timeout_ms = min(int(params.get("timeout", "0")), max_wait_ms)

        def latest() -> Stored | None:
            matching = [
                m
                for m in mail.messages()
                if any(a.casefold() == address.casefold() for a in m.to)
                and (since is None or m.received > since)
                and not (unread_only and m.read)
            ]
            return max(matching, key=lambda m: m.received) if matching else None

        found = await mail.wait_for(latest, timeout_ms / 1000)
        if found is None:
            return PlainTextResponse(
                f"Failed to satisfy email query for inbox ID `{inbox_id}`. Expected minimum "
                f"message count of `1`. Found at most `0`(after max timeout of `{timeout_ms} ms`).",
                status_code=408,
            )
        found.read = True
        return JSONResponse(_email(found, inbox_id))

    async def delete_email(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        if not mail.remove(str(request.path_params["id"])):
            return JSONResponse({"message": "Email not found"}, status_code=404)
        return Response(status_code=204)

    async def user_info(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        return JSONResponse(
            {
                "id": "00000000-0000-0000-0000-000000000001",
                "emailAddress": "owner@example.com",
                "accountState": "ACTIVE",
                "subscriptionType": "PRO_MONTHLY",
                "accountType": "SOLO",
                "createdAt": "2025-01-01T00:00:00.000Z",
            }
        )

    async def delete_inbox(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        if state.inboxes.pop(str(request.path_params["id"]), None) is None:
            return JSONResponse({"message": "Inbox not found"}, status_code=404)
        return Response(status_code=204)

    app = Starlette(
        routes=[
            Route("/inboxes", create_inbox, methods=["POST"]),
            Route("/inboxes/{id}", delete_inbox, methods=["DELETE"]),
            Route("/waitForLatestEmail", wait_for_latest, methods=["GET"]),
            Route("/emails/{id}", delete_email, methods=["DELETE"]),
            Route("/user/info", user_info, methods=["GET"]),
        ]
    )
    return app, state
