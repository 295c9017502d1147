"""POST /recover: the password-reset email (`internal/api/recover.go`).

200 `{}` whether or not the address is a user's (no leak). A user is mailed a `type=recovery`
link (PKCE: a `pkce_` token and a flow state); following it signs the user in with a session
whose redirect fragment says `type=recovery`, and PUT /user then sets the new password.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox.auth import helpers, models, pkce
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError
from synthetics.sandbox.auth.mail import send_recovery, valid_email


async def recover(api: API, request: Request) -> Response:
    """POST /recover."""
    body = await helpers.body(request)
    email = helpers.string(body, "email")
    challenge = helpers.string(body, "code_challenge")
    method = helpers.string(body, "code_challenge_method")
    if not email:
        raise AuthError(400, "validation_failed", "Password recovery requires an email")
    email = valid_email(email)
    pkce.check_params(challenge, method)
    redirect = api.referrer(request)
    async with api.pool.connection() as conn, conn.transaction():
        user = await models.user_by_email(conn, email)
        if user is None:
            return JSONResponse({})
        if challenge:
            await pkce.new_flow_state(
                api,
                conn,
                user["id"],
                challenge,
                method,
                authentication_method="recovery",
                provider_type="recovery",
            )
        await models.audit(conn, "user_recovery_requested", user, api.now())
        await send_recovery(api, conn, user, redirect=redirect, use_pkce=bool(challenge))
    return JSONResponse({})
