"""Who is calling: the Bearer checks GoTrue runs before its handlers (auth.go, middleware.go)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request

from synthetics.sandbox import tokens
from synthetics.sandbox.auth import models
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError
from synthetics.sandbox.auth.helpers import bearer
from synthetics.sandbox.auth.models import Conn

ADMIN_ROLES = {"service_role", "supabase_admin"}


def claims(api: API, request: Request) -> dict[str, Any]:
    """extractBearerToken + parseJWTClaims."""
    token = bearer(request)
    if token is None:
        raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    try:
        return tokens.decode(token, api.jwt_secret, now=api.now().timestamp())
    except tokens.InvalidToken as exc:
        raise AuthError(
            403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}"
        ) from None


async def signed_in(api: API, conn: Conn, request: Request) -> tuple[dict[str, Any], DictRow]:
    """requireAuthentication: maybeLoadUserOrSession, then the ban check."""
    found = claims(api, request)
    sub = found.get("sub")
    if not sub:
        raise AuthError(403, "bad_jwt", "invalid claim: missing sub claim")
    try:
        user_id = uuid.UUID(str(sub))
    except ValueError:
        raise AuthError(400, "bad_jwt", "invalid claim: sub claim must be a UUID") from None
    user = await models.find_user(conn, "id = %s", user_id)
    if user is None:
        raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
    session_id = found.get("session_id")
    if session_id and session_id != str(uuid.UUID(int=0)):
        try:
            session_uuid = uuid.UUID(str(session_id))
        except ValueError:
            raise AuthError(
                403, "bad_jwt", "invalid claim: session_id claim must be a UUID"
            ) from None
        cur = await conn.execute("select 1 from auth.sessions where id = %s", (session_uuid,))
        if await cur.fetchone() is None:
            raise AuthError(
                403, "session_not_found", "Session from session_id claim in JWT does not exist"
            )
    if models.is_banned(user, api.now()):
        raise AuthError(403, "user_banned", "User is banned")
    return found, user


async def session_row(conn: Conn, found: Mapping[str, Any]) -> DictRow | None:
    """The session the access token belongs to (none for a token without `session_id`)."""
    session_id = found.get("session_id")
    if not session_id or session_id == str(uuid.UUID(int=0)):
        return None
    cur = await conn.execute("select * from auth.sessions where id = %s", (session_id,))
    return await cur.fetchone()


def require_admin(api: API, request: Request) -> None:
    """requireAdminCredentials: a Bearer JWT whose role is an admin role."""
    if claims(api, request).get("role") not in ADMIN_ROLES:
        raise AuthError(403, "not_admin", "User not allowed")


def request_aud(request: Request, found: Mapping[str, Any]) -> str:
    """requestAud: X-JWT-AUD, else the token's aud (ignored for admin roles), else default."""
    header = request.headers.get("x-jwt-aud")
    if header:
        return header
    if found.get("role") not in ADMIN_ROLES:
        aud = found.get("aud")
        if isinstance(aud, list):
            aud = aud[0] if aud else ""
        if isinstance(aud, str) and aud:
            return aud
    return "authenticated"


async def guard_user(api: API, request: Request) -> None:
    """requireAuthentication on its own, for routes GoTrue authenticates before routing."""
    async with api.pool.connection() as conn:
        await signed_in(api, conn, request)


async def guard_admin(api: API, request: Request) -> None:
    """requireAdminCredentials on its own, for the /admin subtree."""
    require_admin(api, request)
