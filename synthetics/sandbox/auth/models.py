"""Users and identities in the `auth` schema, and their JSON (`internal/models/user.go` …).

Functions take the connection and the moment explicitly; every timestamp comes from the caller's
clock. Link tokens live in the user's own columns (`confirmation_token`, `recovery_token`,
`email_change_token_current|new`, `reauthentication_token`), which is where GoTrue keeps them too
(its `one_time_tokens` rows mirror those columns).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import bcrypt
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from synthetics.sandbox.auth.errors import AuthError

Conn = AsyncConnection[DictRow]
NIL_INSTANCE = "00000000-0000-0000-0000-000000000000"


def ts(value: datetime | None) -> str | None:
    """A timestamp as Go's time.Time marshals it (RFC 3339, trailing zeros of the fraction cut)."""
    if value is None:
        return None
    moment = value.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


async def hash_password(password: str, cost: int) -> str:
    """crypto.GenerateFromPassword: bcrypt at `cost` (AuthSettings.password_hash_cost).

    Off the event loop, as each GoTrue request hashes in its own goroutine: bcrypt releases the
    GIL, so the sandbox's other requests go on meanwhile.
    """
    salt = bcrypt.gensalt(rounds=cost)
    hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
    return hashed.decode()


async def password_matches(password: str, hashed: str | None) -> bool:
    """Whether `password` is the one bcrypt-hashed into `hashed` (never true without a hash),
    whatever cost it was hashed at; off the event loop, as `hash_password`."""
    if not hashed:
        return False
    try:
        return await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed.encode())
    except ValueError:
        return False


def byte_length(text: str) -> int:
    """Go's len() of a string: UTF-8 bytes, which is what GoTrue's password limits count."""
    return len(text.encode())


def metadata_merge(column: str) -> str:
    """models.User.UpdateUserMetaData: keys merged in, keys set to null removed."""
    return f"{column} = (coalesce({column}, '{{}}'::jsonb) || %s) - %s::text[]"


def metadata_args(updates: Mapping[str, Any]) -> list[Any]:
    """The two parameters of `metadata_merge`: the keys to set and the keys to drop."""
    keep = {k: v for k, v in updates.items() if v is not None}
    return [Jsonb(keep), [k for k, v in updates.items() if v is None]]


def identity_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An identity as GoTrue marshals it: `identity_data`, `last_sign_in_at`, `email` omitempty."""
    body: dict[str, Any] = {
        "identity_id": str(row["id"]),
        "id": row["provider_id"],
        "user_id": str(row["user_id"]),
    }
    if row["identity_data"]:
        body["identity_data"] = row["identity_data"]
    body["provider"] = row["provider"]
    if row["last_sign_in_at"] is not None:
        body["last_sign_in_at"] = ts(row["last_sign_in_at"])
    body["created_at"] = ts(row["created_at"])
    body["updated_at"] = ts(row["updated_at"])
    if row["email"]:
        body["email"] = row["email"]
    return body


def user_json(row: Mapping[str, Any], identities: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A user as GoTrue's models.User marshals: empty timestamps omitted, `phone` never null."""
    body: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is not None:
            body[key] = ts(value) if isinstance(value, datetime) else value

    body.update(
        {
            "id": str(row["id"]),
            "aud": row["aud"] or "",
            "role": row["role"] or "",
            "email": row["email"] or "",
        }
    )
    put("email_confirmed_at", row["email_confirmed_at"])
    put("invited_at", row["invited_at"])
    body["phone"] = row["phone"] or ""
    put("phone_confirmed_at", row["phone_confirmed_at"])
    put("confirmation_sent_at", row["confirmation_sent_at"])
    put("confirmed_at", row["confirmed_at"])
    put("recovery_sent_at", row["recovery_sent_at"])
    put("new_email", row["email_change"] or None)
    put("email_change_sent_at", row["email_change_sent_at"])
    put("new_phone", row["phone_change"] or None)
    put("phone_change_sent_at", row["phone_change_sent_at"])
    put("reauthentication_sent_at", row["reauthentication_sent_at"])
    put("last_sign_in_at", row["last_sign_in_at"])
    body["app_metadata"] = row["raw_app_meta_data"] or {}
    body["user_metadata"] = row["raw_user_meta_data"] or {}
    body["identities"] = [identity_json(i) for i in identities]
    body["created_at"] = ts(row["created_at"])
    body["updated_at"] = ts(row["updated_at"])
    put("banned_until", row["banned_until"])
    put("deleted_at", row["deleted_at"])
    body["is_anonymous"] = bool(row["is_anonymous"])
    return body


def is_banned(user: Mapping[str, Any], now: datetime) -> bool:
    """models.User.IsBanned."""
    return user["banned_until"] is not None and user["banned_until"] > now


async def find_user(conn: Conn, where: str, *args: Any) -> DictRow | None:
    """The first user matching a SQL condition."""
    cur = await conn.execute(f"select * from auth.users where {where} limit 1", args)
    return await cur.fetchone()


async def user_by_email(conn: Conn, email: str) -> DictRow | None:
    """FindUserByEmailAndAudience (one audience in the sandbox)."""
    return await find_user(conn, "lower(email) = %s and is_sso_user = false", email.lower())


async def identities(conn: Conn, user_id: Any) -> list[DictRow]:
    """The user's identities, oldest first."""
    cur = await conn.execute(
        "select * from auth.identities where user_id = %s order by created_at", (user_id,)
    )
    return await cur.fetchall()


async def user_body(conn: Conn, row: DictRow) -> dict[str, Any]:
    """The user's JSON with its identities."""
    return user_json(row, await identities(conn, row["id"]))


async def reload(conn: Conn, user_id: Any) -> DictRow:
    """The user as stored now (404 user_not_found if it is gone)."""
    row = await find_user(conn, "id = %s", user_id)
    if row is None:
        raise AuthError(404, "user_not_found", "User not found")
    return row


async def audit(conn: Conn, action: str, actor: Mapping[str, Any], now: datetime) -> None:
    """models.NewAuditLogEntry."""
    payload = {
        "action": action,
        "actor_id": str(actor["id"]),
        "actor_username": actor.get("email") or "",
        "actor_via_sso": False,
        "log_type": "account" if action.startswith("user_") else "token",
    }
    await conn.execute(
        "insert into auth.audit_log_entries (id, payload, created_at, ip_address)"
        " values (%s, %s, %s, '127.0.0.1')",
        (uuid.uuid4(), Jsonb(payload), now),
    )


async def insert_user(
    conn: Conn,
    now: datetime,
    *,
    email: str,
    password: str | None,
    data: Mapping[str, Any] | None,
    app_metadata: Mapping[str, Any] | None = None,
    identity_metadata: bool = True,
    user_id: uuid.UUID | None = None,
    role: str = "authenticated",
    action: str | None = "user_signedup",
    cost: int,
) -> DictRow:
    """A new unconfirmed email user with its email identity (its password bcrypt-hashed at
    `cost`).

    With `identity_metadata` (POST /signup) the identity carries the `data` keys and becomes
    the user_metadata (Signup + RemoveUnconfirmedIdentities); the admin routes keep
    user_metadata to what they were given and the identity to the bare claims.
    """
    user_id = user_id or uuid.uuid4()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "email": email,
        "email_verified": False,
        "phone_verified": False,
    }
    extra = dict(data or {})
    if identity_metadata:
        identity_data = {**claims, **{k: v for k, v in extra.items() if k not in claims}}
        meta = dict(identity_data)
    else:
        identity_data, meta = claims, extra
    app = {"provider": "email", "providers": ["email"]}
    for key, value in (app_metadata or {}).items():
        if value is None:
            app.pop(key, None)
        else:
            app[key] = value
    await conn.execute(
        "insert into auth.users (instance_id, id, aud, role, email, encrypted_password,"
        " raw_app_meta_data, raw_user_meta_data, is_super_admin,"
        " created_at, updated_at, is_sso_user, is_anonymous)"
        " values (%s, %s, 'authenticated', %s, %s, %s, %s, %s, false, %s, %s, false, false)",
        (
            NIL_INSTANCE,
            user_id,
            role,
            email,
            await hash_password(password, cost) if password else "",
            Jsonb(app),
            Jsonb(meta),
            now,
            now,
        ),
    )
    await conn.execute(
        "insert into auth.identities (provider_id, user_id, identity_data, provider,"
        " last_sign_in_at, created_at, updated_at) values (%s, %s, %s, 'email', %s, %s, %s)",
        (str(user_id), user_id, Jsonb(identity_data), now, now, now),
    )
    row = await reload(conn, user_id)
    if action:
        await audit(conn, action, row, now)
    return row


async def confirm(conn: Conn, user: DictRow, now: datetime, *, identity: bool = True) -> DictRow:
    """models.User.Confirm (+ signupVerify's identity update when `identity`)."""
    await conn.execute(
        "update auth.users set email_confirmed_at = %s, confirmation_token = '',"
        f" {metadata_merge('raw_user_meta_data')}, updated_at = %s where id = %s",
        (now, *metadata_args({"email_verified": True}), now, user["id"]),
    )
    if identity:
        await conn.execute(
            "update auth.identities set identity_data = identity_data || %s, updated_at = %s"
            " where user_id = %s and provider = 'email' and email = lower(%s)",
            (Jsonb({"email_verified": True}), now, user["id"], user["email"] or ""),
        )
    return await reload(conn, user["id"])


async def set_password(
    conn: Conn, user_id: Any, password: str, now: datetime, *, cost: int, keep_session: Any = None
) -> None:
    """SetPassword + UpdatePassword (bcrypt at `cost`): every pending token cleared, sessions
    signed out.

    With `keep_session` (a signed-in user changing its own password) that session stays.
    """
    await conn.execute(
        "update auth.users set encrypted_password = %s, confirmation_token = '',"
        " confirmation_sent_at = null, recovery_token = '', recovery_sent_at = null,"
        " email_change_token_current = '', email_change_token_new = '',"
        " email_change_sent_at = null, phone_change_token = '', phone_change_sent_at = null,"
        " reauthentication_token = '', reauthentication_sent_at = null, updated_at = %s"
        " where id = %s",
        (await hash_password(password, cost) if password else "", now, user_id),
    )
    if keep_session is None:
        await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))
    else:
        await conn.execute(
            "delete from auth.sessions where user_id = %s and id::text <> %s",
            (user_id, str(keep_session)),
        )
