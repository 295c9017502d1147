"""GET and PUT /user: the signed-in user (`internal/api/user.go`).

PUT changes metadata and the password at once; a new email address is not set but mailed for
confirmation (to the new address, and to the current one with secure email change) and shows as
`new_email` until confirmed through /verify?type=email_change.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox import tokens
from synthetics.sandbox.auth import helpers, models, password, pkce
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import DUPLICATE_EMAIL, AuthError
from synthetics.sandbox.auth.mail import duplicate_email, send_email_change, valid_email
from synthetics.sandbox.auth.middleware import ADMIN_ROLES, request_aud, session_row, signed_in
from synthetics.sandbox.auth.models import Conn

_INVALID_NONCE = "Nonce has expired or is invalid"
#: A session younger than this may change its password without a nonce.
_RECENT_SIGN_IN = timedelta(hours=24)


async def get_user(api: API, request: Request) -> Response:
    """GET /user."""
    async with api.pool.connection() as conn:
        found, user = await signed_in(api, conn, request)
        token_aud = found.get("aud")
        if isinstance(token_aud, list):
            token_aud = token_aud[0] if token_aud else None
        if not token_aud or request_aud(request, found) != token_aud:
            raise AuthError(
                400, "validation_failed", "Token audience doesn't match request audience"
            )
        return JSONResponse(await models.user_body(conn, user))


async def update_user(api: API, request: Request) -> Response:
    """PUT /user (UserUpdate)."""
    redirect = api.referrer(request)
    async with api.pool.connection() as conn, conn.transaction():
        found, user = await signed_in(api, conn, request)
        body = await helpers.body(request)
        email = helpers.string(body, "email")
        if email:
            email = valid_email(email)
        new_password = body.get("password")
        if new_password is not None:
            new_password = helpers.string(body, "password")
            password.check_strength(api, new_password)
        nonce = helpers.string(body, "nonce")
        challenge = helpers.string(body, "code_challenge")
        method = helpers.string(body, "code_challenge_method")
        if body.get("app_metadata") is not None and found.get("role") not in ADMIN_ROLES:
            raise AuthError(403, "not_admin", "Updating app_metadata requires admin privileges")
        changing_email = bool(email) and email != user["email"]
        if changing_email and await duplicate_email(conn, email, user):
            raise AuthError(422, "email_exists", DUPLICATE_EMAIL)
        if new_password is not None:
            if api.settings.update_password_require_reauthentication:
                session = await session_row(conn, found)
                if session is None or api.now() > session["created_at"] + _RECENT_SIGN_IN:
                    if not nonce:
                        raise AuthError(
                            400,
                            "reauthentication_needed",
                            "Password update requires reauthentication",
                        )
                    await _verify_reauthentication(api, conn, user, nonce)
            if new_password and await models.password_matches(
                new_password, user["encrypted_password"]
            ):
                raise AuthError(
                    422, "same_password", "New password should be different from the old password."
                )
        now = api.now()
        if new_password is not None:
            await models.set_password(
                conn,
                user["id"],
                new_password,
                now,
                cost=api.settings.password_hash_cost,
                keep_session=found.get("session_id") or None,
            )
            await models.audit(conn, "user_updated_password", user, now)
        for key, column in (("data", "raw_user_meta_data"), ("app_metadata", "raw_app_meta_data")):
            updates = helpers.mapping(body, key)
            if updates is not None:
                await conn.execute(
                    f"update auth.users set {models.metadata_merge(column)}, updated_at = %s"
                    " where id = %s",
                    (*models.metadata_args(updates), now, user["id"]),
                )
        if changing_email:
            if challenge:
                await pkce.new_flow_state(
                    api,
                    conn,
                    user["id"],
                    challenge,
                    method,
                    authentication_method="email_change",
                    provider_type="email_change",
                )
            user = await models.reload(conn, user["id"])
            await send_email_change(
                api, conn, user, email, redirect=redirect, use_pkce=bool(challenge)
            )
        user = await models.reload(conn, user["id"])
        await models.audit(conn, "user_modified", user, now)
        return JSONResponse(await models.user_body(conn, user))


async def _verify_reauthentication(api: API, conn: Conn, user: DictRow, nonce: str) -> None:
    """verifyReauthentication: the emailed code, once, within MAILER_OTP_EXP."""
    stored: Any = user["reauthentication_token"]
    sent_at = user["reauthentication_sent_at"]
    if not stored or sent_at is None:
        raise AuthError(422, "reauthentication_not_valid", _INVALID_NONCE)
    if not api.otp_valid(tokens.token_hash(user["email"] or "", nonce), stored, sent_at):
        raise AuthError(422, "reauthentication_not_valid", _INVALID_NONCE)
    await conn.execute(
        "update auth.users set reauthentication_token = '' where id = %s", (user["id"],)
    )
