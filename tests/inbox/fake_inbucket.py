"""A local Inbucket REST API v1 (inbucket pkg/rest/apiv1_controller.go, model/apiv1_model.go)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.inbox.fakemail import FakeMail, Stored


def inbucket_mailbox(address: str) -> str:
    """Inbucket's default "local" naming: local part, lower-cased, `+extension` dropped."""
    local = address.rpartition("@")[0] or address
    return local.lower().split("+", 1)[0]


def _header(message: Stored, mailbox: str) -> dict[str, Any]:
    return {
        "mailbox": mailbox,
        "id": message.id,
        "from": f"<{message.sender}>",
        "to": [f"<{address}>" for address in message.to],  # Go's mail.Address.String()
        "subject": message.subject,
        "date": message.received.isoformat(),
        "posix-millis": int(message.received.timestamp() * 1000),
        "size": len(message.raw),
        "seen": message.read,
    }


def inbucket_app(mail: FakeMail) -> Starlette:
    """The Inbucket API over `mail`: every recipient's mailbox holds the message."""

    def in_mailbox(name: str) -> list[Stored]:
        return [m for m in mail.messages() if any(inbucket_mailbox(a) == name for a in m.to)]

    def find(request: Request) -> tuple[str, Stored | None]:
        name = inbucket_mailbox(str(request.path_params["name"]))
        wanted = str(request.path_params["id"])
        return name, next((m for m in in_mailbox(name) if m.id == wanted), None)

    async def list_mailbox(request: Request) -> Response:
        name = inbucket_mailbox(str(request.path_params["name"]))
        return JSONResponse([_header(m, name) for m in in_mailbox(name)])

    async def show(request: Request) -> Response:
        name, message = find(request)
        if message is None:
            return PlainTextResponse("404 page not found", status_code=404)
        message.read = True
        body = _header(message, name)
        body.update(
            body={"text": message.text, "html": message.html},
            header={"Subject": [message.subject]},
            attachments=[],
        )
        return JSONResponse(body)

    async def delete(request: Request) -> Response:
        _name, message = find(request)
        if message is None:
            return PlainTextResponse("404 page not found", status_code=404)
        mail.remove(message.id)
        return JSONResponse("OK")

    return Starlette(
        routes=[
            Route("/api/v1/mailbox/{name}", list_mailbox, methods=["GET"]),
            Route("/api/v1/mailbox/{name}/{id}", show, methods=["GET"]),
            Route("/api/v1/mailbox/{name}/{id}", delete, methods=["DELETE"]),
        ]
    )
