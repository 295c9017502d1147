"""POST /otp: sign in (or up) by email link or code (`internal/api/otp.go`).

`create_user` (default true) lets an unknown address sign up; false answers 422 otp_disabled for
it. Email requests are MagicLink's (see magic_link.py); phone OTP needs an SMS provider, which
the sandbox does not have.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from synthetics.sandbox.auth import helpers, magic_link, models, pkce
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError
from synthetics.sandbox.auth.mail import valid_email


async def otp(api: API, request: Request) -> Response:
    """POST /otp."""
    body = await helpers.body(request)
    email, phone = helpers.string(body, "email"), helpers.string(body, "phone")
    channel = helpers.string(body, "channel")
    create_user = helpers.boolean(body, "create_user", default=True)
    data = helpers.mapping(body, "data") or {}
    challenge = helpers.string(body, "code_challenge")
    method = helpers.string(body, "code_challenge_method")
    # OtpParams.Validate
    if email and phone:
        raise AuthError(
            400, "validation_failed", "Only an email address or phone number should be provided"
        )
    if email and channel:
        raise AuthError(400, "validation_failed", "Channel should only be specified with Phone OTP")
    pkce.check_params(challenge, method)
    if not create_user and (email or phone):  # shouldCreateUser
        exists = False
        if email:
            async with api.pool.connection() as conn:
                exists = await models.user_by_email(conn, valid_email(email)) is not None
        if not exists:  # no user can have a phone here
            raise AuthError(422, "otp_disabled", "Signups not allowed for otp")
    if email:
        return await magic_link.send(
            api, request, email=email, data=data, challenge=challenge, method=method
        )
    if phone:
        raise AuthError(400, "phone_provider_disabled", "Unsupported phone provider")
    raise AuthError(400, "validation_failed", "One of email or phone must be set")
