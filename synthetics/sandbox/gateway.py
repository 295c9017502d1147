"""The API port: Supabase's gateway in front of Auth and REST, plus the sandbox's faults endpoint.

Like Kong on a real project it demands an `apikey` (header or query) on everything except the
browser-facing Auth routes, and it is where the `flaky` fault answers 502 before any service runs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from synthetics.errors import ConfigError
from synthetics.sandbox import tokens
from synthetics.sandbox.faults import FaultState, parse_fault

#: Auth routes a browser reaches without headers (the emailed link, OAuth hops).
_KEYLESS = ("/auth/v1/verify", "/auth/v1/callback", "/auth/v1/authorize")
_SERVICES = ("/auth/v1", "/rest/v1")


class GatewayMiddleware:
    """API-key enforcement and the flaky fault, in front of every service."""

    def __init__(self, app: ASGIApp, *, keys: Collection[str], faults: FaultState) -> None:
        self.app = app
        self.keys = keys
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(_SERVICES) and self.faults.take_flaky():
            body = {"message": "An invalid response was received from the upstream server"}
            await JSONResponse(body, status_code=502)(scope, receive, send)
            return
        if path.rstrip("/") not in _KEYLESS:
            request = Request(scope)
            key = request.headers.get("apikey") or request.query_params.get("apikey")
            if not key:
                body = {
                    "message": "No API key found in request",
                    "hint": "No `apikey` request header or url param was found.",
                }
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
            if key not in self.keys:
                body = {
                    "message": "Invalid API key",
                    "hint": "Double check your Supabase `anon` or `service_role` API key.",
                }
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class FaultsEndpoint:
    """`/sandbox/v1/faults`: read and switch faults at run time; service-role key only."""

    def __init__(
        self,
        *,
        faults: FaultState,
        jwt_secret: str,
        on_change: Callable[[], Awaitable[None]],
    ) -> None:
        self.faults = faults
        self.jwt_secret = jwt_secret
        self.on_change = on_change

    def routes(self) -> list[Route]:
        """Routes to mount under /sandbox/v1."""
        return [
            Route("/faults", self.handle, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/faults/{name}", self.handle, methods=["DELETE"]),
        ]

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return False
        try:
            claims = tokens.decode(header[7:].strip(), self.jwt_secret)
        except tokens.InvalidToken:
            return False
        return claims.get("role") == "service_role"

    async def handle(self, request: Request) -> Response:
        """GET lists; POST {"fault": spec} adds; PUT {"faults": [...]} replaces; DELETE clears."""
        if not self._authorised(request):
            return JSONResponse(
                {"message": "the faults endpoint needs the service-role key as Bearer token"},
                status_code=403,
            )
        try:
            if request.method == "POST":
                body = await self._body(request)
                self.faults.add(parse_fault(str(body.get("fault", "")), source="request body"))
            elif request.method == "PUT":
                body = await self._body(request)
                specs = body.get("faults", [])
                if not isinstance(specs, list):
                    raise ConfigError("faults must be a list of strings", key="faults")
                parsed = [parse_fault(str(s), source="request body") for s in specs]
                self.faults.replace(parsed)
            elif request.method == "DELETE":
                name = request.path_params.get("name")
                if name is None:
                    self.faults.replace([])
                else:
                    self.faults.remove(name)
        except ConfigError as exc:
            return JSONResponse({"message": str(exc)}, status_code=400)
        if request.method != "GET":
            await self.on_change()
        return JSONResponse({"faults": self.faults.describe()})

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ConfigError("the request body is not JSON", key="body") from None
        if not isinstance(body, dict):
            raise ConfigError("the request body must be a JSON object", key="body")
        return body


def api_app(
    *,
    auth: ASGIApp,
    rest: ASGIApp,
    faults_endpoint: FaultsEndpoint,
    keys: Collection[str],
    faults: FaultState,
) -> Starlette:
    """The whole API port: /auth/v1, /rest/v1 and /sandbox/v1 behind the gateway."""
    app = Starlette(
        routes=[
            Mount("/auth/v1", app=auth),
            Mount("/rest/v1", app=rest),
            Mount("/sandbox/v1", routes=faults_endpoint.routes()),
        ]
    )
    app.add_middleware(GatewayMiddleware, keys=keys, faults=faults)
    return app
