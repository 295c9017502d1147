"""POST /token?grant_type=password|refresh_token|pkce (`internal/api/token.go`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request
from starlette.responses import Response

from synthetics.sandbox import tokens
from synthetics.sandbox.auth import helpers, models, sessions
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError, OAuthError
from synthetics.sandbox.auth.models import Conn

_NOT_FOUND = "Invalid Refresh Token: Refresh Token Not Found"


async def token(api: API, request: Request) -> Response:
    """POST /token: the grant type comes from the query string."""
    grant = request.query_params.get("grant_type", "")
    if grant == "password":
        return await _password(api, await helpers.body(request))
    if grant == "refresh_token":
        return await _refresh(api, await helpers.body(request))
    if grant == "pkce":
        return await _pkce(api, await helpers.body(request))
    raise AuthError(400, "invalid_credentials", "unsupported_grant_type")


async def _password(api: API, body: Mapping[str, Any]) -> Response:
    """ResourceOwnerPasswordGrant."""
    email, phone = helpers.string(body, "email"), helpers.string(body, "phone")
    secret = helpers.string(body, "password")
    if email and phone:
        raise AuthError(
            400,
            "validation_failed",
            "Only an email address or phone number should be provided on login.",
        )
    if phone:
        raise AuthError(422, "phone_provider_disabled", "Phone logins are disabled")
    if not email:
        raise AuthError(400, "validation_failed", "missing email or phone")
    invalid = AuthError(400, "invalid_credentials", "Invalid login credentials")
    async with api.pool.connection() as conn, conn.transaction():
        user = await models.user_by_email(conn, email)
        if user is None or not user["encrypted_password"]:
            raise invalid
        if models.is_banned(user, api.now()):
            raise AuthError(400, "user_banned", "User is banned")
        if not await models.password_matches(secret, user["encrypted_password"]):
            raise invalid
        if user["email_confirmed_at"] is None:
            raise AuthError(400, "email_not_confirmed", "Email not confirmed")
        return (await sessions.issue(api, conn, user, "password")).response()


async def _refresh(api: API, body: Mapping[str, Any]) -> Response:
    """RefreshTokenGrant for GoTrue's default (12-character) refresh tokens."""
    given = helpers.string(body, "refresh_token")
    if not given:
        raise OAuthError("invalid_request", "refresh_token required")
    if not tokens.is_refresh_token_shaped(given):
        raise AuthError(400, "validation_failed", "Refresh token is not valid")
    async with api.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "select * from auth.refresh_tokens where token = %s for update", (given,)
        )
        row = await cur.fetchone()
        if row is None:
            raise AuthError(400, "refresh_token_not_found", _NOT_FOUND)
        user = await models.find_user(conn, "id::text = %s", row["user_id"])
        if user is None:
            raise AuthError(400, "refresh_token_not_found", _NOT_FOUND)
        if models.is_banned(user, api.now()):
            raise AuthError(400, "user_banned", "Invalid Refresh Token: User Banned")
        cur = await conn.execute("select * from auth.sessions where id = %s", (row["session_id"],))
        session = await cur.fetchone()
        if session is None:
            raise AuthError(
                400, "session_not_found", "Invalid Refresh Token: No Valid Session Found"
            )
        issued = await _rotate(api, conn, row, session["id"])
        if issued is None:
            raise AuthError(
                400, "refresh_token_already_used", "Invalid Refresh Token: Already Used"
            )
        now = api.now()
        await conn.execute(
            "update auth.sessions set refreshed_at = %s, updated_at = %s where id = %s",
            (now.astimezone(UTC).replace(tzinfo=None), now, session["id"]),
        )
        await models.audit(conn, "token_refreshed", user, now)
        response = await sessions.token_response(api, conn, user, session["id"], issued)
        return response.response()


async def _rotate(api: API, conn: Conn, row: DictRow, session_id: Any) -> str | None:
    """The refresh token to hand out for `row`, or None when its reuse is refused.

    GoTrue: a revoked token whose child is the session's active token gets that child back
    (the client lost the last response); any other revoked token is allowed within the
    reuse interval after its revocation, else the whole session's tokens are revoked.
    """
    now = api.now()
    if row["revoked"]:
        cur = await conn.execute(
            "select token, parent from auth.refresh_tokens where session_id = %s"
            " and not revoked order by id desc limit 1",
            (session_id,),
        )
        active = await cur.fetchone()
        if active is not None and active["parent"] == row["token"]:
            return str(active["token"])
        reuse_until = row["updated_at"] + timedelta(
            seconds=api.settings.refresh_token_reuse_interval
        )
        if now > reuse_until:
            # RevokeTokenFamily, committed with the error (storage.NewCommitWithError).
            await conn.execute(
                "update auth.refresh_tokens set revoked = true, updated_at = %s"
                " where session_id = %s and not revoked",
                (now, session_id),
            )
            return None
    await conn.execute(
        "update auth.refresh_tokens set revoked = true, updated_at = %s where id = %s",
        (now, row["id"]),
    )
    user = {"id": row["user_id"]}
    return await sessions.new_refresh_token(api, conn, user, session_id, parent=row["token"])


async def _pkce(api: API, body: Mapping[str, Any]) -> Response:
    """PKCE: exchange the code from the verify redirect for a session."""
    code, verifier = helpers.string(body, "auth_code"), helpers.string(body, "code_verifier")
    if not code or not verifier:
        raise AuthError(
            400,
            "validation_failed",
            "invalid request: both auth code and code verifier should be non-empty",
        )
    async with api.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "select * from auth.flow_state where auth_code = %s for update", (code,)
        )
        flow = await cur.fetchone()
        if flow is None or flow["user_id"] is None:
            raise AuthError(
                404, "flow_state_not_found", "invalid flow state, no valid flow state found"
            )
        # FlowState.IsExpired: from creation, except magic links (from the code's issue).
        started = flow["created_at"]
        if flow["authentication_method"] == "magiclink" and flow["auth_code_issued_at"]:
            started = flow["auth_code_issued_at"]
        if api.now() > started + timedelta(seconds=api.settings.flow_state_expiry):
            raise AuthError(422, "flow_state_expired", "invalid flow state, flow state has expired")
        user = await models.find_user(conn, "id = %s", flow["user_id"])
        if user is None:
            raise AuthError(404, "user_not_found", "User not found")
        if not tokens.pkce_challenge_matches(
            verifier, flow["code_challenge"], flow["code_challenge_method"]
        ):
            raise AuthError(
                400,
                "bad_code_verifier",
                "code challenge does not match previously saved code verifier",
            )
        session = await sessions.issue(api, conn, user, flow["authentication_method"])
        await conn.execute("delete from auth.flow_state where id = %s", (flow["id"],))
        return session.response()
