"""Sessions and the AccessTokenResponse (GoTrue's `issueRefreshToken`, `internal/tokens`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.rows import DictRow
from starlette.responses import JSONResponse

from synthetics.sandbox import tokens
from synthetics.sandbox.auth import models
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.models import Conn


@dataclass
class Session:
    """An AccessTokenResponse body and the session it belongs to (for the sb-auth-* headers)."""

    body: dict[str, Any]
    session_id: str

    def headers(self) -> dict[str, str]:
        """The sb-auth-* headers GoTrue sets when it issues a session."""
        return {
            "sb-auth-user-id": str(self.body["user"]["id"]),
            "sb-auth-session-id": self.session_id,
            "sb-auth-refresh-token-prefix": str(self.body["refresh_token"])[:5],
        }

    def response(self) -> JSONResponse:
        """The 200 answer carrying this session."""
        return JSONResponse(self.body, headers=self.headers())


async def issue(api: API, conn: Conn, user: DictRow, amr_method: str) -> Session:
    """IssueRefreshToken: a session, its first refresh token and the AccessTokenResponse."""
    now = api.now()
    session_id = uuid.uuid4()
    await conn.execute(
        "insert into auth.sessions (id, user_id, created_at, updated_at, aal)"
        " values (%s, %s, %s, %s, 'aal1')",
        (session_id, user["id"], now, now),
    )
    await conn.execute(
        "insert into auth.mfa_amr_claims (session_id, created_at, updated_at,"
        " authentication_method, id) values (%s, %s, %s, %s, %s)",
        (session_id, now, now, amr_method, uuid.uuid4()),
    )
    await conn.execute(
        "update auth.users set last_sign_in_at = %s, updated_at = %s where id = %s",
        (now, now, user["id"]),
    )
    refresh = await new_refresh_token(api, conn, user, session_id, parent=None)
    user = await models.reload(conn, user["id"])
    await models.audit(conn, "login", user, now)
    return await token_response(api, conn, user, session_id, refresh)


async def new_refresh_token(
    api: API, conn: Conn, user: Mapping[str, Any], session_id: Any, parent: str | None
) -> str:
    """A new refresh token of the session, child of `parent`."""
    now = api.now()
    token = tokens.new_refresh_token()
    await conn.execute(
        "insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at,"
        " updated_at, parent, session_id) values (%s, %s, %s, false, %s, %s, %s, %s)",
        (models.NIL_INSTANCE, token, str(user["id"]), now, now, parent, session_id),
    )
    return token


async def token_response(
    api: API, conn: Conn, user: DictRow, session_id: Any, refresh: str
) -> Session:
    """The AccessTokenResponse for `user` in this session with this refresh token."""
    # CalculateAALAndAMR: every claim of the session, most recent first.
    cur = await conn.execute(
        "select authentication_method, updated_at from auth.mfa_amr_claims"
        " where session_id = %s order by updated_at desc",
        (session_id,),
    )
    claims = await cur.fetchall()
    amr = [
        {"method": c["authentication_method"], "timestamp": int(c["updated_at"].timestamp())}
        for c in claims
    ]
    access, expires_at = tokens.issue_access_token(
        secret=api.jwt_secret,
        issuer=api.external_url,
        user=user,
        session_id=str(session_id),
        amr=amr,
        now=api.now().timestamp(),
        ttl=api.settings.jwt_exp,
    )
    body = {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": api.settings.jwt_exp,
        "expires_at": expires_at,
        "refresh_token": refresh,
        "user": await models.user_body(conn, user),
    }
    return Session(body, str(session_id))
