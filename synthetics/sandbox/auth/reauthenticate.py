"""GET /reauthenticate: a code for a sensitive change (`internal/api/reauthenticate.go`).

The signed-in user is mailed a code (the reauthentication template, subject "<code> is your
verification code"); PUT /user takes it as `nonce` when the password change needs one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox.auth import models
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError
from synthetics.sandbox.auth.mail import send_reauthentication
from synthetics.sandbox.auth.middleware import signed_in


async def reauthenticate(api: API, request: Request) -> Response:
    """GET /reauthenticate: 200 `{}` once the code is mailed."""
    async with api.pool.connection() as conn, conn.transaction():
        _, user = await signed_in(api, conn, request)
        if not user["email"]:
            # Phone users cannot exist here: phone sign-ups are off in the sandbox.
            raise AuthError(
                400,
                "validation_failed",
                "Reauthentication requires the user to have an email or a phone number",
            )
        if user["email_confirmed_at"] is None:
            raise AuthError(422, "email_not_confirmed", "Please verify your email first.")
        await models.audit(conn, "user_reauthenticate_requested", user, api.now())
        await send_reauthentication(api, conn, user)
    return JSONResponse({})
