"""POST /logout?scope=global|local|others (`internal/api/logout.go`): 204, sessions revoked."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from synthetics.sandbox.auth import models
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError
from synthetics.sandbox.auth.middleware import signed_in


async def logout(api: API, request: Request) -> Response:
    """POST /logout (an empty scope means global)."""
    async with api.pool.connection() as conn, conn.transaction():
        found, user = await signed_in(api, conn, request)
        scope = request.query_params.get("scope", "")
        if scope not in ("", "global", "local", "others"):
            raise AuthError(
                400, "validation_failed", f"Unsupported logout scope {json.dumps(scope)}"
            )
        session_id = found.get("session_id")
        await models.audit(conn, "logout", user, api.now())
        if scope == "local" and session_id:
            await conn.execute("delete from auth.sessions where id = %s", (session_id,))
        elif scope == "others" and session_id:
            await conn.execute(
                "delete from auth.sessions where user_id = %s and id <> %s",
                (user["id"], session_id),
            )
        else:
            await conn.execute("delete from auth.sessions where user_id = %s", (user["id"],))
    return Response(status_code=204)
