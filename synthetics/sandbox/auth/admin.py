"""The /admin/users endpoints (`internal/api/admin.go`); the caller must hold an admin role."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime, timedelta

from psycopg.types.json import Jsonb
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox.auth import helpers, models, password
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import DUPLICATE_EMAIL, AuthError
from synthetics.sandbox.auth.mail import valid_email
from synthetics.sandbox.auth.middleware import require_admin
from synthetics.sandbox.auth.password import MAX_PASSWORD_BYTES


def _user_id(request: Request) -> uuid.UUID:
    """loadUser: the {user_id} path parameter must be a UUID (else a 404)."""
    try:
        return uuid.UUID(request.path_params["user_id"])
    except ValueError:
        raise AuthError(404, "validation_failed", "user_id must be an UUID") from None


async def list_users(api: API, request: Request) -> Response:
    """GET /admin/users?page=&per_page= (empty values mean the defaults)."""
    require_admin(api, request)

    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name, "")
        if not raw:
            return default
        if not re.fullmatch(r"[0-9]+", raw):
            raise AuthError(
                400,
                "validation_failed",
                f'Bad Pagination Parameters: strconv.ParseUint: parsing "{raw}": invalid syntax',
            )
        return max(1, int(raw))

    page, per_page = number("page", 1), number("per_page", 50)
    async with api.pool.connection() as conn:
        total_row = await (await conn.execute("select count(*) as n from auth.users")).fetchone()
        total = int(total_row["n"]) if total_row else 0
        cur = await conn.execute(
            "select * from auth.users order by created_at desc, id limit %s offset %s",
            (per_page, (page - 1) * per_page),
        )
        users = [await models.user_body(conn, row) for row in await cur.fetchall()]
    last = -(-total // per_page)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]

    def page_link(number: int, rel: str) -> str:
        return f'</admin/users?{helpers.go_encode([*params, ("page", str(number))])}>; rel="{rel}"'

    link = f"{page_link(page + 1, 'next')}, " if last > page else ""
    link += page_link(last, "last")
    headers = {"X-Total-Count": str(total), "Link": link}
    return JSONResponse({"users": users, "aud": "authenticated"}, headers=headers)


async def create_user(api: API, request: Request) -> Response:
    """POST /admin/users (adminUserCreate)."""
    require_admin(api, request)
    body = await helpers.body(request)
    email, phone = helpers.string(body, "email"), helpers.string(body, "phone")
    if not email and not phone:
        raise AuthError(
            400, "validation_failed", "Cannot create a user without either an email or phone"
        )
    if phone:
        raise AuthError(400, "phone_provider_disabled", "Phone logins are disabled")
    email = valid_email(email)
    secret = helpers.string(body, "password")
    if models.byte_length(secret) > MAX_PASSWORD_BYTES:
        raise AuthError(400, "validation_failed", "bcrypt: password length exceeds 72 bytes")
    custom_id = None
    if helpers.string(body, "id"):
        try:
            custom_id = uuid.UUID(helpers.string(body, "id"))
        except ValueError:
            raise AuthError(
                400, "validation_failed", "ID must conform to the uuid v4 format"
            ) from None
        if custom_id.int == 0:
            raise AuthError(400, "validation_failed", "ID cannot be a nil uuid")
    ban = _ban_until(api, helpers.string(body, "ban_duration"))
    async with api.pool.connection() as conn, conn.transaction():
        if await models.user_by_email(conn, email) is not None:
            raise AuthError(422, "email_exists", DUPLICATE_EMAIL)
        user = await models.insert_user(
            conn,
            api.now(),
            email=email,
            password=secret or secrets.token_urlsafe(48),
            data=helpers.mapping(body, "user_metadata"),
            app_metadata=helpers.mapping(body, "app_metadata"),
            identity_metadata=False,
            user_id=custom_id,
            role=helpers.string(body, "role") or "authenticated",
            cost=api.settings.password_hash_cost,
        )
        if helpers.boolean(body, "email_confirm"):
            user = await models.confirm(conn, user, api.now(), identity=False)
        if ban is not None:
            await conn.execute(
                "update auth.users set banned_until = %s where id = %s", (ban[0], user["id"])
            )
            user = await models.reload(conn, user["id"])
        return JSONResponse(await models.user_body(conn, user))


def _ban_until(api: API, text: str) -> tuple[datetime | None] | None:
    """ban_duration as time.ParseDuration reads it; ("none" or 0 lifts a ban)."""
    if not text:
        return None
    if text == "none":
        return (None,)
    seconds = helpers.parse_duration(text)
    return (None,) if seconds == 0 else (api.now() + timedelta(seconds=seconds),)


async def get_user(api: API, request: Request) -> Response:
    """GET /admin/users/{id}."""
    require_admin(api, request)
    user_id = _user_id(request)
    async with api.pool.connection() as conn:
        user = await models.reload(conn, user_id)
        return JSONResponse(await models.user_body(conn, user))


async def update_user(api: API, request: Request) -> Response:
    """PUT /admin/users/{id} (adminUserUpdate): metadata merged, password, email, ban."""
    require_admin(api, request)
    user_id = _user_id(request)
    async with api.pool.connection() as conn, conn.transaction():
        user = await models.reload(conn, user_id)
        body = await helpers.body(request)
        email = helpers.string(body, "email")
        if email:
            email = valid_email(email)
        if helpers.string(body, "phone"):
            raise AuthError(400, "phone_provider_disabled", "Phone logins are disabled")
        ban = _ban_until(api, helpers.string(body, "ban_duration"))
        new_password = body.get("password")
        if new_password is not None:
            new_password = helpers.string(body, "password")
            password.check_strength(api, new_password)
        now = api.now()
        if helpers.string(body, "role"):
            await conn.execute(
                "update auth.users set role = %s where id = %s",
                (helpers.string(body, "role"), user_id),
            )
        if helpers.boolean(body, "email_confirm"):
            user = await models.confirm(conn, user, now, identity=False)
        if new_password is not None:
            # UpdatePassword with no session: every session of the user is signed out.
            await models.set_password(
                conn, user_id, new_password, now, cost=api.settings.password_hash_cost
            )
        if email:
            verified = helpers.boolean(body, "email_confirm")
            await conn.execute(
                "update auth.identities set identity_data = identity_data || %s,"
                " updated_at = %s where user_id = %s and provider = 'email'",
                (Jsonb({"email": email, "email_verified": verified}), now, user_id),
            )
            await conn.execute("update auth.users set email = %s where id = %s", (email, user_id))
        for key, column in (
            ("app_metadata", "raw_app_meta_data"),
            ("user_metadata", "raw_user_meta_data"),
        ):
            updates = helpers.mapping(body, key)
            if updates is not None:
                await conn.execute(
                    f"update auth.users set {models.metadata_merge(column)} where id = %s",
                    (*models.metadata_args(updates), user_id),
                )
        if ban is not None:
            await conn.execute(
                "update auth.users set banned_until = %s where id = %s", (ban[0], user_id)
            )
        await conn.execute("update auth.users set updated_at = %s where id = %s", (now, user_id))
        user = await models.reload(conn, user_id)
        await models.audit(conn, "user_modified", user, now)
        return JSONResponse(await models.user_body(conn, user))


async def delete_user(api: API, request: Request) -> Response:
    """DELETE /admin/users/{id}: 200 `{}`; everything hanging off the user goes with it."""
    require_admin(api, request)
    user_id = _user_id(request)
    async with api.pool.connection() as conn, conn.transaction():
        user = await models.reload(conn, user_id)
        body = await helpers.body(request, optional=True)
        await models.audit(conn, "user_deleted", user, api.now())
        if helpers.boolean(body, "should_soft_delete"):
            if user["deleted_at"] is None:
                await conn.execute(
                    "update auth.users set deleted_at = %s, email = null, phone = null,"
                    " encrypted_password = '', confirmation_token = '', recovery_token = '',"
                    " raw_user_meta_data = '{}', raw_app_meta_data = '{}' where id = %s",
                    (api.now(), user_id),
                )
                await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))
                await conn.execute("delete from auth.identities where user_id = %s", (user_id,))
        else:
            await conn.execute("delete from auth.users where id = %s", (user_id,))
    return JSONResponse({})
