"""Local HTTP servers that speak each alert service's documented API, and record what came.

Slack incoming webhook   200 `ok`; 400 `invalid_payload` (not JSON), `no_text` (no text,
                         blocks or attachments), `invalid_blocks` (a block Slack's Block Kit
                         reference rejects); 404 `no_service` for an unknown hook; 429 +
                         Retry-After when told to rate-limit
PagerDuty Events API v2  202 {"status":"success","message":"Event processed","dedup_key"};
                         400 {"status":"invalid event","errors":[…]}; 429 when told
generic webhook          verifies X-Synthetics-Signature (HMAC-SHA256 over "<ts>." + the raw
                         body, computed here with hashlib, not with our code) and the
                         timestamp; 401 when either is wrong
healthchecks pings       GET/POST /ping/<uuid>[/start|/fail|/<0-255>] → 200 OK
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SLACK_HOOK = "/services/T0SYNTH/B0ALERTS/Zx9SlackWebhookSecretToken42"
PD_ROUTING_KEY = "R0UT1NGKEYsynthetics0000000000ab"  # 32 characters, as PagerDuty requires
WEBHOOK_PATH = "/hooks/receiver-4f1c-secret-path"
WEBHOOK_SECRET = "whsec-synthetics-test-signing-key"
PING_UUID = "5e1b2c3d-aaaa-4bbb-8ccc-0123456789ab"


@dataclass
class Received:
    """One request a fake service accepted or refused."""

    path: str
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Service:
    """What a fake recorded, and how it is told to misbehave."""

    received: list[Received] = field(default_factory=list)
    #: Answer 429 (with this Retry-After) to the next N requests.
    rate_limit: int = 0
    retry_after: str = "1"
    #: Answer 500 to the next N requests.
    fail: int = 0

    def accepted(self) -> list[Any]:
        """Bodies of the requests it answered with success."""
        return [r.body for r in self.received if 200 <= r.status < 300]

    def misbehave(self, request: Request, body: Any) -> Response | None:
        if self.rate_limit > 0:
            self.rate_limit -= 1
            self.received.append(Received(request.url.path, 429, body, dict(request.headers)))
            return PlainTextResponse("rate_limited", 429, headers={"Retry-After": self.retry_after})
        if self.fail > 0:
            self.fail -= 1
            self.received.append(Received(request.url.path, 500, body, dict(request.headers)))
            return PlainTextResponse("rollup_error", 500)
        return None


_BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "image"}


def _slack_block_error(blocks: Any) -> bool:
    """Whether Block Kit would refuse these blocks (the limits its reference documents)."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return True
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            return True
        kind = block["type"]
        text = block.get("text")
        if kind == "header":
            if not (isinstance(text, dict) and text.get("type") == "plain_text"):
                return True
            if not 0 < len(text.get("text", "")) <= 150:
                return True
        if kind == "section":
            fields = block.get("fields")
            if text is None and not fields:
                return True
            if text is not None and not 0 < len(text.get("text", "")) <= 3000:
                return True
            if fields is not None and (
                len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields)
            ):
                return True
        if kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                return True
    return False


def slack_app(service: Service) -> Starlette:
    """Slack's incoming webhook endpoint."""

    async def hook(request: Request) -> Response:
        raw = await request.body()
        if request.url.path != SLACK_HOOK:
            service.received.append(Received(request.url.path, 404, raw, dict(request.headers)))
            return PlainTextResponse("no_service", 404)
        try:
            body = json.loads(raw)
        except ValueError:
            service.received.append(Received(request.url.path, 400, raw, dict(request.headers)))
            return PlainTextResponse("invalid_payload", 400)
        refused = service.misbehave(request, body)
        if refused is not None:
            return refused
        answer, status = "ok", 200
        if not isinstance(body, dict) or not (
            body.get("text") or body.get("blocks") or body.get("attachments")
        ):
            answer, status = "no_text", 400
        elif "blocks" in body and _slack_block_error(body["blocks"]):
            answer, status = "invalid_blocks", 400
        service.received.append(Received(request.url.path, status, body, dict(request.headers)))
        return PlainTextResponse(answer, status)

    return Starlette(routes=[Route("/services/{rest:path}", hook, methods=["POST"])])


def pagerduty_app(service: Service) -> Starlette:
    """The Events API v2 enqueue endpoint."""

    async def enqueue(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            service.received.append(Received("/v2/enqueue", 400, raw, dict(request.headers)))
            return JSONResponse(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["Invalid JSON"],
                },
                400,
            )
        refused = service.misbehave(request, body)
        if refused is not None:
            return refused
        errors = []
        if len(str(body.get("routing_key", ""))) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append(
                "'event_action' is invalid (must be one of trigger, acknowledge, resolve)"
            )
        if len(str(body.get("dedup_key", ""))) > 255:
            errors.append("'dedup_key' is too long (max 255)")
        if action == "trigger":
            payload = body.get("payload") or {}
            for key in ("summary", "source", "severity"):
                if not payload.get(key):
                    errors.append(f"'payload.{key}' is missing or blank")
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' is invalid")
            if len(str(payload.get("summary", ""))) > 1024:
                errors.append("'payload.summary' is too long (max 1024)")
        elif action in ("acknowledge", "resolve") and not body.get("dedup_key"):
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if errors:
            service.received.append(Received("/v2/enqueue", 400, body, dict(request.headers)))
            return JSONResponse(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                400,
            )
        service.received.append(Received("/v2/enqueue", 202, body, dict(request.headers)))
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")},
            202,
        )

    return Starlette(routes=[Route("/v2/enqueue", enqueue, methods=["POST"])])


def webhook_app(service: Service, clock: Callable[[], datetime]) -> Starlette:
    """A receiver that verifies the signature the way the webhook docs tell receivers to."""

    async def receive(request: Request) -> Response:
        raw = await request.body()
        headers = dict(request.headers)
        stamp = headers.get("x-synthetics-timestamp", "")
        given = headers.get("x-synthetics-signature", "")
        expected = (
            "sha256="
            + hmac.new(
                WEBHOOK_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256
            ).hexdigest()
        )
        fresh = stamp.isdigit() and abs(clock().timestamp() - int(stamp)) <= 300
        if (
            request.url.path != WEBHOOK_PATH
            or not fresh
            or not hmac.compare_digest(given, expected)
        ):
            service.received.append(Received(request.url.path, 401, raw, headers))
            return PlainTextResponse("bad signature", 401)
        body = json.loads(raw)
        refused = service.misbehave(request, body)
        if refused is not None:
            return refused
        service.received.append(Received(request.url.path, 204, body, headers))
        return Response(status_code=204)

    return Starlette(routes=[Route("/hooks/{rest:path}", receive, methods=["POST"])])


def ping_app(service: Service) -> Starlette:
    """healthchecks.io's Pinging API."""

    async def ping(request: Request) -> Response:
        raw = (await request.body()).decode()
        parts = request.url.path.split("/")[2:]
        if not parts or parts[0] != PING_UUID:
            service.received.append(Received(request.url.path, 404, raw, dict(request.headers)))
            return PlainTextResponse("not found", 404)
        suffix = parts[1] if len(parts) > 1 else ""
        if (
            suffix
            and suffix not in ("start", "fail", "log")
            and not (suffix.isdigit() and int(suffix) <= 255)
        ):
            service.received.append(Received(request.url.path, 400, raw, dict(request.headers)))
            return PlainTextResponse("invalid url format", 400)
        body = {"event": suffix or "success", "rid": request.query_params.get("rid"), "body": raw}
        service.received.append(Received(request.url.path, 200, body, dict(request.headers)))
        return PlainTextResponse("OK", 200)

    return Starlette(routes=[Route("/ping/{rest:path}", ping, methods=["GET", "POST", "HEAD"])])
