"""POST /invite: an admin invites an address (`internal/api/invite.go`).

A new address becomes an unconfirmed user without a password (user_metadata = `data`) and is
mailed the invitation (`type=invite`); an unconfirmed user is invited again, a confirmed one is
422 email_exists. Following the link confirms the user and gives it a random password, which
the app then replaces through PUT /user.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox.auth import helpers, models
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import DUPLICATE_EMAIL, AuthError
from synthetics.sandbox.auth.mail import send_invite, valid_email
from synthetics.sandbox.auth.middleware import require_admin


async def invite(api: API, request: Request) -> Response:
    """POST /invite (admin)."""
    require_admin(api, request)
    body = await helpers.body(request)
    email = valid_email(helpers.string(body, "email"))
    data = helpers.mapping(body, "data")
    redirect = api.referrer(request)
    async with api.pool.connection() as conn, conn.transaction():
        user = await models.user_by_email(conn, email)
        if user is not None and user["email_confirmed_at"] is not None:
            raise AuthError(422, "email_exists", DUPLICATE_EMAIL)
        if user is None:
            user = await models.insert_user(
                conn,
                api.now(),
                email=email,
                password=None,
                data=data,
                identity_metadata=False,
                action=None,
                cost=api.settings.password_hash_cost,
            )
        await models.audit(conn, "user_invited", user, api.now())
        await send_invite(api, conn, user, redirect=redirect)
        user = await models.reload(conn, user["id"])
        return JSONResponse(await models.user_body(conn, user))
