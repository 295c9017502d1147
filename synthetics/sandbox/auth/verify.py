"""GET and POST /verify: emailed links and codes (`internal/api/verify.go`).

GET is the link a browser follows: always a 303, to the redirect with the session in the
fragment (`type=<verification type>`), `?code=` for a PKCE link, or the error in the fragment.
POST takes a token hash, or an emailed code with its address, and answers a session.
With secure email change the first of the two email-change links only records itself
(`message=Confirmation link accepted…`); the second changes the address.
"""

from __future__ import annotations

import secrets
from typing import Any

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox import tokens
from synthetics.sandbox.auth import helpers, models, pkce, sessions
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import OAUTH_ERRORS, UNEXPECTED, AuthError
from synthetics.sandbox.auth.mail import valid_email
from synthetics.sandbox.auth.models import Conn

LINK_TYPES = ("signup", "invite", "recovery", "magiclink", "email_change", "email")
SINGLE_CONFIRMATION = (
    "Confirmation link accepted. Please proceed to confirm link sent to the other email"
)
_INVALID_LINK = "Email link is invalid or has expired"
_INVALID_CODE = "Token has expired or is invalid"
# The token columns each verification type is looked up in (verifyTokenHash).
_COLUMNS = {
    "signup": ("confirmation_token",),
    "invite": ("confirmation_token",),
    "recovery": ("recovery_token",),
    "magiclink": ("recovery_token",),
    "email": ("confirmation_token", "recovery_token"),
    "email_change": ("email_change_token_current", "email_change_token_new"),
}
_SENT_AT = {
    "confirmation_token": "confirmation_sent_at",
    "recovery_token": "recovery_sent_at",
    "email_change_token_current": "email_change_sent_at",
    "email_change_token_new": "email_change_sent_at",
}


async def verify_get(api: API, request: Request) -> Response:
    """GET /verify: the emailed link. Validation errors are JSON; the rest a 303."""
    token = request.query_params.get("token", "")
    kind = request.query_params.get("type", "")
    redirect = api.referrer(request)
    if not kind:
        raise AuthError(400, "validation_failed", "Verify requires a verification type")
    if not token:
        raise AuthError(400, "validation_failed", "Verify requires a token or a token hash")
    is_pkce = token.startswith(pkce.PREFIX)
    if is_pkce and kind not in pkce.AUTH_METHODS:
        raise AuthError(500, "unexpected_failure", UNEXPECTED)  # ParseAuthenticationMethod
    try:
        async with api.pool.connection() as conn, conn.transaction():
            user, resolved = await verify_token_hash(api, conn, token, kind)
            verified = await apply(api, conn, user, resolved, token)
            if verified is None:
                return helpers.see_other(_message_redirect(redirect, SINGLE_CONFIRMATION, is_pkce))
            if is_pkce:
                method = pkce.AUTH_METHODS[kind]
                code = await pkce.issue_auth_code(api, conn, verified["id"], method)
                return helpers.see_other(helpers.set_query(redirect, {"code": code}))
            session = await sessions.issue(api, conn, verified, "otp")
    except AuthError as error:
        return helpers.see_other(_error_redirect(redirect, error, is_pkce))
    params = {
        "access_token": session.body["access_token"],
        "expires_at": str(session.body["expires_at"]),
        "expires_in": str(session.body["expires_in"]),
        "refresh_token": session.body["refresh_token"],
        "sb": "",
        "token_type": "bearer",
        "type": kind,
    }
    # AccessTokenResponse.AsRedirectURL appends after a plain '#'.
    location = f"{redirect}#{helpers.go_encode(list(params.items()))}"
    return helpers.see_other(location, session.headers())


def _error_redirect(redirect: str, error: AuthError, pkce_flow: bool) -> str:
    """prepErrorRedirectURL: the error in the fragment (and, for PKCE, the query too)."""
    params: dict[str, str] = {}
    if error.status in OAUTH_ERRORS:
        params["error"] = OAUTH_ERRORS[error.status]
    params["error_code"] = error.code
    params["error_description"] = error.message
    target = helpers.set_query(redirect, params) if pkce_flow else redirect
    return helpers.with_fragment(target, [*params.items(), ("sb", "")])


def _message_redirect(redirect: str, message: str, pkce_flow: bool) -> str:
    """prepRedirectURL: the message in the fragment (and, for PKCE, the query); query re-sorted."""
    target = helpers.set_query(redirect, {"message": message} if pkce_flow else {})
    return helpers.with_fragment(target, [("message", message), ("sb", "")])


async def verify_post(api: API, request: Request) -> Response:
    """POST /verify: an emailed code (with its address) or a token hash."""
    body = await helpers.body(request)
    kind = helpers.string(body, "type")
    token, token_hash = helpers.string(body, "token"), helpers.string(body, "token_hash")
    email, phone = helpers.string(body, "email"), helpers.string(body, "phone")
    if not kind:
        raise AuthError(400, "validation_failed", "Verify requires a verification type")
    if bool(token) == bool(token_hash):
        raise AuthError(400, "validation_failed", "Verify requires either a token or a token hash")
    async with api.pool.connection() as conn, conn.transaction():
        if token:
            if phone and not email:
                raise AuthError(403, "otp_expired", _INVALID_CODE)
            if not email or phone:
                raise AuthError(
                    400,
                    "validation_failed",
                    "Only an email address or phone number should be provided on verify",
                )
            try:
                email = valid_email(email)
            except AuthError:
                raise AuthError(422, "validation_failed", "Invalid email format") from None
            token_hash = tokens.token_hash(email, token)
            user, kind = await verify_user_and_token(api, conn, email, token_hash, kind)
        else:
            if email or phone or helpers.string(body, "redirect_to"):
                raise AuthError(
                    400, "validation_failed", "Only the token_hash and type should be provided"
                )
            user, kind = await verify_token_hash(api, conn, token_hash, kind)
        verified = await apply(api, conn, user, kind, token_hash)
        if verified is None:
            return JSONResponse({"code": "200", "msg": SINGLE_CONFIRMATION})
        return (await sessions.issue(api, conn, verified, "otp")).response()


async def verify_token_hash(
    api: API, conn: Conn, token_hash: str, kind: str
) -> tuple[DictRow, str]:
    """verifyTokenHash: the user whose stored link token is exactly `token_hash`.

    Returns the user and the verification type, an `email` link resolving to `signup` or
    `magiclink` by the token it matched.
    """
    if kind not in LINK_TYPES:
        raise AuthError(400, "validation_failed", "Invalid email verification type")
    invalid = AuthError(403, "otp_expired", _INVALID_LINK)
    for column in _COLUMNS[kind]:
        user = await models.find_user(conn, f"{column} = %s and {column} <> ''", token_hash)
        if user is None:
            continue
        if models.is_banned(user, api.now()):
            raise AuthError(403, "user_banned", "User is banned")
        if api.otp_expired(user[_SENT_AT[column]]):
            raise invalid
        if kind == "email":
            return user, "signup" if column == "confirmation_token" else "magiclink"
        return user, kind
    raise invalid


async def verify_user_and_token(
    api: API, conn: Conn, email: str, token_hash: str, kind: str
) -> tuple[DictRow, str]:
    """verifyUserAndToken: the code must match the user's stored token (`pkce_` tolerated).

    An email-change code is looked up by its token alone (FindUserForEmailChange): the address
    only goes into the hash, the current one for the current address's code, the new one else.
    """
    invalid = AuthError(403, "otp_expired", _INVALID_CODE)
    if kind == "email_change":
        user = await _user_for_email_change(api, conn, token_hash)
    else:
        user = await models.user_by_email(conn, email)
    if user is None:
        raise invalid
    if models.is_banned(user, api.now()):
        raise AuthError(403, "user_banned", "User is banned")

    def valid(column: str) -> bool:
        return api.otp_valid(token_hash, user[column], user[_SENT_AT[column]])

    if kind == "email":
        if valid("confirmation_token"):
            return user, "signup"
        if valid("recovery_token"):
            return user, "magiclink"
        raise invalid
    if kind in _COLUMNS and any(valid(column) for column in _COLUMNS[kind]):
        return user, kind
    raise invalid


async def _user_for_email_change(api: API, conn: Conn, token_hash: str) -> DictRow | None:
    columns = ["email_change_token_new"]
    if api.settings.secure_email_change_enabled:
        columns.insert(0, "email_change_token_current")
    for column in columns:
        user = await models.find_user(
            conn, f"{column} in (%s, %s) and {column} <> ''", token_hash, pkce.PREFIX + token_hash
        )
        if user is not None:
            return user
    return None


async def apply(api: API, conn: Conn, user: DictRow, kind: str, token_hash: str) -> DictRow | None:
    """What a verified token does; None when it was the first of two email-change links."""
    if kind in ("signup", "invite"):
        return await _signup_verify(api, conn, user)
    if kind in ("recovery", "magiclink"):
        return await _recover_verify(api, conn, user)
    if kind == "email_change":
        return await _email_change_verify(api, conn, user, token_hash)
    raise AuthError(400, "validation_failed", "Unsupported verification type")


async def _signup_verify(api: API, conn: Conn, user: DictRow) -> DictRow:
    """signupVerify: an invited user without a password gets a random one; then Confirm."""
    if not user["encrypted_password"] and user["invited_at"] is not None:
        await models.set_password(
            conn,
            user["id"],
            secrets.token_urlsafe(48),
            api.now(),
            cost=api.settings.password_hash_cost,
        )
        user = await models.reload(conn, user["id"])
    return await models.confirm(conn, user, api.now())


async def _recover_verify(api: API, conn: Conn, user: DictRow) -> DictRow:
    """recoverVerify: the recovery token is used up; an unconfirmed user becomes confirmed."""
    await conn.execute(
        "update auth.users set recovery_token = '', updated_at = %s where id = %s",
        (api.now(), user["id"]),
    )
    if user["email_confirmed_at"] is not None:
        return await models.reload(conn, user["id"])
    return await models.confirm(conn, user, api.now(), identity=False)


async def _email_change_verify(
    api: API, conn: Conn, user: DictRow, token_hash: str
) -> DictRow | None:
    """emailChangeVerify: one of two confirmations, or the change itself."""
    now = api.now()
    if (
        not api.autoconfirm()
        and api.settings.secure_email_change_enabled
        and not user["email_change_confirm_status"]
        and user["email"]
    ):
        used = ""
        if token_hash == user["email_change_token_current"]:
            used = "email_change_token_current = '',"
        elif token_hash == user["email_change_token_new"]:
            used = "email_change_token_new = '',"
        await conn.execute(
            f"update auth.users set {used} email_change_confirm_status = 1 where id = %s",
            (user["id"],),
        )
        return None
    new_email = user["email_change"] or ""
    await models.audit(conn, "user_modified", user, now)
    cur = await conn.execute(
        "select id from auth.identities where user_id = %s and provider = 'email'", (user["id"],)
    )
    identity = await cur.fetchone()
    claims: dict[str, Any] = {"email": new_email, "email_verified": True}
    if identity is None:
        await conn.execute(
            "insert into auth.identities (provider_id, user_id, identity_data, provider,"
            " last_sign_in_at, created_at, updated_at) values (%s, %s, %s, 'email', %s, %s, %s)",
            (str(user["id"]), user["id"], Jsonb({"sub": str(user["id"]), **claims}), now, now, now),
        )
    else:
        await conn.execute(
            "update auth.identities set identity_data = identity_data || %s, updated_at = %s"
            " where id = %s",
            (Jsonb(claims), now, identity["id"]),
        )
    # ConfirmEmailChange: the new address, every email-change field reset.
    await conn.execute(
        "update auth.users set email = %s, email_change = '', email_change_token_current = '',"
        " email_change_token_new = '', email_change_confirm_status = 0, updated_at = %s"
        " where id = %s",
        (new_email, now, user["id"]),
    )
    user = await models.reload(conn, user["id"])
    if user["email_confirmed_at"] is None:
        user = await models.confirm(conn, user, now, identity=False)
    return user
