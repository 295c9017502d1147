"""POST /magiclink, and the email half of /otp (`internal/api/magic_link.go`).

A confirmed user is mailed a sign-in link (`type=magiclink`, the recovery token and timer). An
unknown or unconfirmed address is signed up with a random password instead, so the email it
gets is the sign-up confirmation (`type=signup`); with autoconfirm on, the new user is
confirmed at once and mailed the sign-in link. The answer is 200 `{}` either way.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox.auth import helpers, models, pkce
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError
from synthetics.sandbox.auth.mail import send_magic_link, valid_email
from synthetics.sandbox.auth.signup import sign_up_email

_PARSE = "Could not parse request body as JSON: "


async def magic_link(api: API, request: Request) -> Response:
    """POST /magiclink (its body read by a json.Decoder: other error texts)."""
    try:
        body = await helpers.body(request)
    except AuthError as error:
        if error.code != "bad_json":
            raise
        detail = error.message.removeprefix(_PARSE)
        if "unexpected end of JSON input" in detail:
            detail = "EOF"
        raise AuthError(400, "bad_json", f"Could not read verification params: {detail}") from None
    return await send(
        api,
        request,
        email=helpers.string(body, "email"),
        data=helpers.mapping(body, "data") or {},
        challenge=helpers.string(body, "code_challenge"),
        method=helpers.string(body, "code_challenge_method"),
    )


async def send(
    api: API,
    request: Request,
    *,
    email: str,
    data: Mapping[str, Any],
    challenge: str,
    method: str,
) -> Response:
    """MagicLink: validate, sign up if need be, mail the link."""
    if not email:
        raise AuthError(422, "validation_failed", "Password recovery requires an email")
    email = valid_email(email)
    pkce.check_params(challenge, method)
    redirect = api.referrer(request)
    pair = (challenge, method) if challenge else None
    async with api.pool.connection() as conn, conn.transaction():
        user = await models.user_by_email(conn, email)
        if user is None or user["email_confirmed_at"] is None:
            # "Sign them up with temporary password"; Signup's own checks apply.
            if api.settings.disable_signup:
                raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
            await sign_up_email(
                api,
                conn,
                email=email,
                secret=secrets.token_urlsafe(33)[:33],
                data=data,
                redirect=redirect,
                challenge=pair,
            )
            if not api.autoconfirm():
                return JSONResponse({})  # the confirmation email already is the 'magic link'
            user = await models.user_by_email(conn, email)
            assert user is not None  # signed up just now
        if pair:
            await pkce.new_flow_state(
                api,
                conn,
                user["id"],
                *pair,
                authentication_method="magiclink",
                provider_type="magiclink",
            )
        await models.audit(conn, "user_recovery_requested", user, api.now())
        await send_magic_link(api, conn, user, redirect=redirect, use_pkce=bool(pair))
    return JSONResponse({})
