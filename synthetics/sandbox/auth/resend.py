"""POST /resend: a sign-up or email-change email again (`internal/api/resend.go`).

200 `{}` whatever the address (unknown, confirmed, nothing pending), so it leaks nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox.auth import helpers, models, pkce
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError
from synthetics.sandbox.auth.mail import send_confirmation, send_email_change, valid_email


async def resend(api: API, request: Request) -> Response:
    """POST /resend."""
    body = await helpers.body(request)
    kind = helpers.string(body, "type")
    email, phone = helpers.string(body, "email"), helpers.string(body, "phone")
    challenge = helpers.string(body, "code_challenge")
    method = helpers.string(body, "code_challenge_method")
    if kind in ("signup", "email_change"):
        pkce.check_params(challenge, method)
    elif kind not in ("sms", "phone_change"):
        raise AuthError(
            400,
            "validation_failed",
            "Missing one of these types: signup, email_change, sms, phone_change",
        )
    if not email and kind == "signup":
        raise AuthError(400, "validation_failed", "Type provided requires an email address")
    if not phone and kind == "sms":
        raise AuthError(400, "validation_failed", "Type provided requires a phone number")
    if email and phone:
        raise AuthError(
            400, "validation_failed", "Only an email address or phone number should be provided."
        )
    if phone:
        raise AuthError(400, "phone_provider_disabled", "Phone logins are disabled")
    if not email:
        raise AuthError(400, "validation_failed", "Missing email address or phone number")
    email = valid_email(email)
    redirect = api.referrer(request)
    async with api.pool.connection() as conn, conn.transaction():
        user = await models.user_by_email(conn, email)
        if user is None:
            return JSONResponse({})
        if kind == "signup":
            if user["email_confirmed_at"] is not None:
                return JSONResponse({})
            await models.audit(conn, "user_confirmation_requested", user, api.now())
            if challenge:
                await pkce.new_flow_state(api, conn, user["id"], challenge, method)
            await send_confirmation(api, conn, user, redirect=redirect, use_pkce=bool(challenge))
        elif kind == "email_change":
            if not user["email_change"]:
                return JSONResponse({})
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
            await send_email_change(
                api, conn, user, user["email_change"], redirect=redirect, use_pkce=bool(challenge)
            )
    return JSONResponse({})
