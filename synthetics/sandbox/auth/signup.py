"""POST /signup (`internal/api/signup.go`), and the sign-up other endpoints run inside them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox.auth import helpers, models, password, pkce, sessions
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import UNEXPECTED, AuthError
from synthetics.sandbox.auth.mail import send_confirmation, valid_email
from synthetics.sandbox.auth.models import Conn
from synthetics.sandbox.auth.sessions import Session


async def signup(api: API, request: Request) -> Response:
    """POST /signup."""
    if api.faults.has("auth.signup_error"):
        raise AuthError(500, "unexpected_failure", UNEXPECTED)
    if api.settings.disable_signup:
        raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
    body = await helpers.body(request)
    email, phone = helpers.string(body, "email"), helpers.string(body, "phone")
    secret = helpers.string(body, "password")
    data = helpers.mapping(body, "data") or {}
    challenge = helpers.string(body, "code_challenge")
    method = helpers.string(body, "code_challenge_method")
    # validateSignupParams
    if not secret:
        raise AuthError(400, "validation_failed", "Signup requires a valid password")
    password.check_strength(api, secret)
    if email and phone:
        raise AuthError(
            400,
            "validation_failed",
            "Only an email address or phone number should be provided on signup.",
        )
    if phone and challenge:
        raise AuthError(400, "validation_failed", "PKCE not supported for phone signups")
    pkce.check_params(challenge, method)
    if phone:
        raise AuthError(400, "phone_provider_disabled", "Phone signups are disabled")
    if not email:
        raise AuthError(400, "validation_failed", "Sign up only available with email provider")
    email = valid_email(email)
    redirect = api.referrer(request)
    async with api.pool.connection() as conn, conn.transaction():
        outcome = await sign_up_email(
            api,
            conn,
            email=email,
            secret=secret,
            data=data,
            redirect=redirect,
            challenge=(challenge, method) if challenge else None,
        )
    if isinstance(outcome, Session):
        return outcome.response()
    return JSONResponse(outcome)


async def sign_up_email(
    api: API,
    conn: Conn,
    *,
    email: str,
    secret: str,
    data: Mapping[str, Any],
    redirect: str,
    challenge: tuple[str, str] | None,
) -> Session | dict[str, Any]:
    """Signup's work for a valid email: a session (autoconfirm) or the user's JSON.

    A new user gets a confirmation email. An unconfirmed one is left as it is ("we can't be
    sure of their claimed identity") and mailed again, within the frequency limit. A confirmed
    one gets a fake user, or 422 user_already_exists when autoconfirm is on.
    """
    existing = await models.user_by_email(conn, email)
    if existing is not None:
        if existing["email_confirmed_at"] is not None:
            if api.autoconfirm():
                raise AuthError(422, "user_already_exists", "User already registered")
            return await _fake_user(api, conn, existing, data)
        user = existing
    else:
        user = await models.insert_user(
            conn,
            api.now(),
            email=email,
            password=secret,
            data=data,
            cost=api.settings.password_hash_cost,
        )
        if api.autoconfirm():
            user = await models.confirm(conn, user, api.now())
            return await sessions.issue(api, conn, user, "password")
    if challenge:
        await pkce.new_flow_state(api, conn, user["id"], *challenge)
    await send_confirmation(api, conn, user, redirect=redirect, use_pkce=bool(challenge))
    user = await models.reload(conn, user["id"])
    body = await models.user_body(conn, user)
    if user["invited_at"] is not None:
        body.update({"user_metadata": {}, "identities": []})  # "Remove sensitive fields"
    return body


async def _fake_user(
    api: API, conn: Conn, existing: DictRow, data: Mapping[str, Any]
) -> dict[str, Any]:
    """sanitizeUser: the existing user with a new id and everything telling cleared."""
    await models.audit(conn, "user_repeated_signup", existing, api.now())
    now = models.ts(api.now())
    body = models.user_json(existing, [])
    for key in (
        "last_sign_in_at",
        "confirmed_at",
        "email_change_sent_at",
        "email_confirmed_at",
        "phone_confirmed_at",
        "new_email",
    ):
        body.pop(key, None)
    body.update(
        {
            "id": str(uuid.uuid4()),
            "aud": "authenticated",
            "role": "",
            "phone": "",
            "confirmation_sent_at": now,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": dict(data),
            "created_at": now,
            "updated_at": now,
        }
    )
    return body
