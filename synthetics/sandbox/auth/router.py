"""Routing as GoTrue's chi router does it (`internal/api/router.go`, go-chi/chi v5).

- An unknown path is chi's default `http.NotFound`: 404, `text/plain; charset=utf-8`,
  `X-Content-Type-Options: nosniff`, body `404 page not found\\n`. It never goes through
  GoTrue's error handler, so it is the same with or without `X-Supabase-Api-Version`.
- A known path with another method is 405 with one `Allow` header per method and no body.
  HEAD is not implied by GET.
- A subtree GoTrue mounts with `Route()` also answers with a trailing slash, and its middleware
  (the Bearer checks of /user, /reauthenticate and /admin) runs before any 404 or 405 there.

Every answer waits for the auth.latency fault first; `AuthError`/`OAuthError` become GoTrue's
JSON errors here.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError, OAuthError, error_response
from synthetics.sandbox.auth.errors import oauth_error_response as oauth_error

Handler = Callable[[API, Request], Awaitable[Response]]
Guard = Callable[[API, Request], Awaitable[None]]
_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Route:
    """One path and its handlers by method; `mounted` = a chi `Route()` (a trailing / too)."""

    path: str
    methods: Mapping[str, Handler]
    mounted: bool = False

    def pattern(self) -> re.Pattern[str]:
        """The path as a regular expression, `{name}` matching one segment."""
        parts, end = [], 0
        for param in _PARAM.finditer(self.path):
            parts += [re.escape(self.path[end : param.start()]), f"(?P<{param.group(1)}>[^/]+)"]
            end = param.end()
        parts.append(re.escape(self.path[end:]))
        return re.compile("".join(parts) + ("/?" if self.mounted else "") + r"\Z")


@dataclass(frozen=True)
class Mount:
    """A subtree whose middleware runs before routing inside it (chi `With(mw).Route(prefix)`)."""

    prefix: str
    guard: Guard

    def covers(self, path: str) -> bool:
        """Whether `path` is the prefix itself or below it."""
        return path == self.prefix or path.startswith(self.prefix + "/")


def not_found() -> Response:
    """Go's http.NotFound."""
    return Response(
        "404 page not found\n",
        status_code=404,
        media_type="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def method_not_allowed(methods: Sequence[str]) -> Response:
    """chi's methodNotAllowedHandler: an `Allow` header per method, status 405, no body."""
    response = Response(status_code=405)
    response.raw_headers.extend((b"allow", method.encode()) for method in methods)
    return response


class Router:
    """The ASGI app mounted at /auth/v1."""

    def __init__(self, api: API, routes: Sequence[Route], mounts: Sequence[Mount] = ()) -> None:
        self.api = api
        self.routes = [(route.pattern(), route) for route in routes]
        self.mounts = mounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = _route_path(scope)
        handler: Handler | None = None
        allowed: list[str] = []
        for pattern, route in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            handler = route.methods.get(scope["method"])
            if handler is not None:
                scope = {**scope, "path_params": match.groupdict()}
                break
            allowed = list(route.methods)
        request = Request(scope, receive)
        response = await self._answer(request, path, handler, allowed)
        await response(scope, receive, send)

    async def _answer(
        self, request: Request, path: str, handler: Handler | None, allowed: list[str]
    ) -> Response:
        latency = self.api.faults.auth_latency_s()
        if latency:
            await asyncio.sleep(latency)  # the auth.latency fault: a slow Auth on purpose
        try:
            if handler is not None:
                return await handler(self.api, request)
            for mount in self.mounts:
                if mount.covers(path):
                    await mount.guard(self.api, request)
            return method_not_allowed(allowed) if allowed else not_found()
        except AuthError as error:
            return error_response(request, error)
        except OAuthError as error:
            return oauth_error(request, error)


def _route_path(scope: Scope) -> str:
    """The path below the mount point (Starlette's get_route_path)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path
