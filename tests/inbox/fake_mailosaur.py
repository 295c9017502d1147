"""A local Mailosaur REST API, as the official clients call it (mailosaur-python, mailosaur-node).

Basic auth with the API key as user name and an empty password (401 with an empty body
otherwise); `POST /api/messages/search?server=…&receivedAfter=…&page=…&itemsPerPage=…` with
`{"sentTo": …}` → `{"items": [summary]}` newest first plus an `x-ms-delay` header;
`GET /api/messages/{id}`; `DELETE /api/messages/{id}` → 204; `GET /api/servers/{id}` → the
server (404 for another id).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.inbox.fakemail import FakeMail, Stored


@dataclass
class MailosaurLog:
    """What the fake was asked, for assertions on the client's requests."""

    searches: list[dict[str, Any]] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _address(email: str) -> dict[str, str]:
    return {"name": "", "email": email}


def _summary(message: Stored, server: str) -> dict[str, Any]:
    return {
        "id": message.id,
        "type": "Email",
        "server": server,
        "from": [_address(message.sender)],
        "to": [_address(a) for a in message.to],
        "cc": [],
        "bcc": [],
        "received": _iso(message.received),
        "subject": message.subject,
        "summary": (message.text or message.html)[:100],
        "attachments": 0,
    }


def mailosaur_app(
    mail: FakeMail, *, server_id: str, api_key: str, delay_header: str = "250,500,1000"
) -> tuple[Starlette, MailosaurLog]:
    """The Mailosaur API over `mail` for one server; every message belongs to it."""
    log = MailosaurLog()
    expected = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()

    def authorised(request: Request) -> bool:
        return request.headers.get("authorization") == expected

    def unauthorised() -> Response:
        return Response(b"", status_code=401, headers={"www-authenticate": "Bearer"})

    async def search(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        params = dict(request.query_params)
        criteria = await request.json()
        log.searches.append({"params": params, "criteria": criteria})
        if params.get("server") != server_id:
            return JSONResponse({"type": "invalid_request", "messages": {}}, status_code=400)
        after = params.get("receivedAfter")
        since = datetime.fromisoformat(after) if after else None
        wanted = str(criteria.get("sentTo") or "").casefold()
        found = [
            m
            for m in reversed(mail.messages())
            if (not wanted or any(a.casefold() == wanted for a in m.to))
            and (since is None or m.received >= since)
        ]
        page, per_page = int(params.get("page", 0)), int(params.get("itemsPerPage", 50))
        items = found[page * per_page : (page + 1) * per_page]
        return JSONResponse(
            {"items": [_summary(m, server_id) for m in items]},
            headers={"x-ms-delay": delay_header},
        )

    async def get_message(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        message = mail.get(str(request.path_params["id"]))
        if message is None:
            return JSONResponse({"type": "invalid_request"}, status_code=404)
        body = _summary(message, server_id)
        body.update(
            html={"links": [], "images": [], "body": message.html or None},
            text={"links": [], "body": message.text or None},
            metadata={"headers": []},
        )
        return JSONResponse(body)

    async def delete_message(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        if not mail.remove(str(request.path_params["id"])):
            return JSONResponse({"type": "invalid_request"}, status_code=404)
        return Response(status_code=204)

    async def get_server(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        if request.path_params["id"] != server_id:
            return JSONResponse({"type": "invalid_request"}, status_code=404)
        return JSONResponse(
            {"id": server_id, "name": "synthetics", "users": [], "messages": len(mail.messages())}
        )

    app = Starlette(
        routes=[
            Route("/api/messages/search", search, methods=["POST"]),
            Route("/api/messages/{id}", get_message, methods=["GET"]),
            Route("/api/messages/{id}", delete_message, methods=["DELETE"]),
            Route("/api/servers/{id}", get_server, methods=["GET"]),
        ]
    )
    return app, log
