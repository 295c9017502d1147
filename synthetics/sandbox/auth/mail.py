"""Auth's emails and admin links (`internal/api/mail.go`).

Each `send_*` follows its GoTrue namesake: the per-address frequency limit (`SMTP_MAX_FREQUENCY`,
timed from the matching `*_sent_at` column; magic links share the recovery timer), a fresh
six-digit code, its token hash (`pkce_`-prefixed for a PKCE request), the email, and only then the
stored token. The email.rate_limit fault stands for GoTrue's global email rate limit.
`generate_link` is POST /admin/generate_link: the same tokens and links, nothing mailed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics.sandbox import mailer, tokens
from synthetics.sandbox.auth import helpers, models, password, pkce
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import DUPLICATE_EMAIL, AuthError, frequency_limited
from synthetics.sandbox.auth.middleware import require_admin
from synthetics.sandbox.auth.models import Conn

# badoux/checkmail's ValidateFormat, which GoTrue's validateEmail uses (a dot-less domain passes).
_EMAIL = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
_LINK_TYPES = ("signup", "invite", "magiclink", "recovery")
_EMAIL_CHANGE_TYPES = ("email_change_current", "email_change_new")


def valid_email(email: str) -> str:
    """validateEmail: present, at most 255 characters, well formed; lowercased."""
    if not email:
        raise AuthError(400, "validation_failed", "An email address is required")
    if len(email) > 255:
        raise AuthError(400, "validation_failed", "An email address is too long")
    if not _EMAIL.fullmatch(email):
        raise AuthError(
            400, "validation_failed", "Unable to validate email address: invalid format"
        )
    return email.lower()


def check_frequency(api: API, sent_at: datetime | None) -> None:
    """validateSentWithinFrequencyLimit: one email of a kind per address per SMTP_MAX_FREQUENCY."""
    if sent_at is None:
        return
    wait = api.settings.smtp_max_frequency - (api.now() - sent_at).total_seconds()
    if wait > 0:
        raise frequency_limited(wait)


async def deliver(
    api: API, template: str, to: str, data: Mapping[str, Any], *, failure: str
) -> None:
    """sendEmail: the global rate limit (the email.rate_limit fault), then SMTP.

    A refused hand-over is GoTrue's 500 "Error sending … email" (`failure`).
    """
    if api.faults.has("email.rate_limit"):
        raise AuthError(429, "over_email_send_rate_limit", "email rate limit exceeded")
    message = mailer.email(
        kind=template,
        sender=api.settings.sender,
        to=to,
        data=data,
        subjects=api.settings.email_subjects,
        bodies=api.settings.email_templates,
    )
    try:
        await api.mailer.send(message)
    except OSError:
        raise AuthError(500, "unexpected_failure", failure) from None


def _link(api: API, token: str, kind: str, redirect: str) -> str:
    return mailer.confirmation_url(api.external_url, token, kind, redirect)


def _code(api: API) -> str:
    return tokens.new_email_otp(api.settings.otp_length)


async def send_confirmation(
    api: API, conn: Conn, user: DictRow, *, redirect: str, use_pkce: bool = False
) -> None:
    """sendConfirmation: the sign-up email (`type=signup`)."""
    check_frequency(api, user["confirmation_sent_at"])
    code = _code(api)
    token = pkce.with_prefix(tokens.token_hash(user["email"], code), use_pkce)
    data = api.email_data(
        user,
        ConfirmationURL=_link(api, token, "signup", redirect),
        Token=code,
        TokenHash=token,
        RedirectTo=redirect,
    )
    await deliver(
        api, mailer.CONFIRMATION, user["email"], data, failure="Error sending confirmation email"
    )
    await conn.execute(
        "update auth.users set confirmation_token = %s, confirmation_sent_at = %s where id = %s",
        (token, api.now(), user["id"]),
    )


async def send_invite(api: API, conn: Conn, user: DictRow, *, redirect: str) -> None:
    """sendInvite: the invitation (`type=invite`); no frequency limit, never PKCE."""
    code = _code(api)
    token = tokens.token_hash(user["email"], code)
    data = api.email_data(
        user,
        ConfirmationURL=_link(api, token, "invite", redirect),
        Token=code,
        TokenHash=token,
        RedirectTo=redirect,
    )
    await deliver(api, mailer.INVITE, user["email"], data, failure="Error sending invite email")
    now = api.now()
    await conn.execute(
        "update auth.users set confirmation_token = %s, confirmation_sent_at = %s,"
        " invited_at = %s where id = %s",
        (token, now, now, user["id"]),
    )


async def _send_recovery_token(
    api: API,
    conn: Conn,
    user: DictRow,
    *,
    redirect: str,
    use_pkce: bool,
    kind: str,
    template: str,
    failure: str,
) -> None:
    check_frequency(api, user["recovery_sent_at"])
    code = _code(api)
    token = pkce.with_prefix(tokens.token_hash(user["email"], code), use_pkce)
    data = api.email_data(
        user,
        ConfirmationURL=_link(api, token, kind, redirect),
        Token=code,
        TokenHash=token,
        RedirectTo=redirect,
    )
    await deliver(api, template, user["email"], data, failure=failure)
    await conn.execute(
        "update auth.users set recovery_token = %s, recovery_sent_at = %s where id = %s",
        (token, api.now(), user["id"]),
    )


async def send_recovery(
    api: API, conn: Conn, user: DictRow, *, redirect: str, use_pkce: bool = False
) -> None:
    """sendPasswordRecovery: the reset-password email (`type=recovery`)."""
    await _send_recovery_token(
        api,
        conn,
        user,
        redirect=redirect,
        use_pkce=use_pkce,
        kind="recovery",
        template=mailer.RECOVERY,
        failure="Error sending recovery email",
    )


async def send_magic_link(
    api: API, conn: Conn, user: DictRow, *, redirect: str, use_pkce: bool = False
) -> None:
    """sendMagicLink: the sign-in link (`type=magiclink`), timed by the recovery timer."""
    await _send_recovery_token(
        api,
        conn,
        user,
        redirect=redirect,
        use_pkce=use_pkce,
        kind="magiclink",
        template=mailer.MAGIC_LINK,
        failure="Error sending magic link email",
    )


async def send_reauthentication(api: API, conn: Conn, user: DictRow) -> None:
    """sendReauthenticationOtp: a code (the nonce of PUT /user), no link."""
    check_frequency(api, user["reauthentication_sent_at"])
    code = _code(api)
    token = tokens.token_hash(user["email"], code)
    data = api.email_data(user, Token=code)
    await deliver(
        api,
        mailer.REAUTHENTICATION,
        user["email"],
        data,
        failure="Error sending reauthentication email",
    )
    await conn.execute(
        "update auth.users set reauthentication_token = %s, reauthentication_sent_at = %s"
        " where id = %s",
        (token, api.now(), user["id"]),
    )


async def send_email_change(
    api: API, conn: Conn, user: DictRow, new_email: str, *, redirect: str, use_pkce: bool = False
) -> None:
    """sendEmailChange: a link to the new address, and to the current one when secure.

    With secure email change (the default) both links must be followed; without it only the
    new address is mailed. Both emails use the email_change template (`type=email_change`).
    """
    check_frequency(api, user["email_change_sent_at"])
    code_new = _code(api)
    token_new = pkce.with_prefix(tokens.token_hash(new_email, code_new), use_pkce)
    current = user["email"] or ""
    sends = [(new_email, code_new, token_new)]
    token_current = user["email_change_token_current"]
    if api.settings.secure_email_change_enabled and current:
        code_current = _code(api)
        token_current = pkce.with_prefix(tokens.token_hash(current, code_current), use_pkce)
        sends.append((current, code_current, token_current))
    for address, code, token in sends:
        data = api.email_data(
            user,
            ConfirmationURL=_link(api, token, "email_change", redirect),
            NewEmail=new_email,
            Token=code,
            TokenHash=token,
            SendingTo=address,
            RedirectTo=redirect,
        )
        await deliver(
            api, mailer.EMAIL_CHANGE, address, data, failure="Error sending email change email"
        )
    await conn.execute(
        "update auth.users set email_change = %s, email_change_token_new = %s,"
        " email_change_token_current = %s, email_change_sent_at = %s,"
        " email_change_confirm_status = 0 where id = %s",
        (new_email, token_new, token_current, api.now(), user["id"]),
    )


async def duplicate_email(conn: Conn, email: str, user: DictRow | None) -> bool:
    """models.IsDuplicatedEmail: another user's email identity, or any user with that email.

    The final users-table check does not skip `user` itself, so a user's own address counts.
    """
    cur = await conn.execute(
        "select 1 from auth.identities where email = lower(%s) and user_id <> %s limit 1",
        (email, user["id"] if user is not None else None),
    )
    if await cur.fetchone() is not None:
        return True
    return await models.user_by_email(conn, email) is not None


async def generate_link(api: API, request: Request) -> Response:
    """POST /admin/generate_link: a link and OTP, created without sending any email."""
    require_admin(api, request)
    body = await helpers.body(request)
    kind = helpers.string(body, "type")
    email = valid_email(helpers.string(body, "email"))
    redirect = api.referrer(request)
    asked = helpers.string(body, "redirect_to")
    if api.redirect_allowed(asked):
        redirect = asked
    data = helpers.mapping(body, "data")
    secret = helpers.string(body, "password")
    now = api.now()
    code = _code(api)
    hashed = tokens.token_hash(email, code)
    async with api.pool.connection() as conn, conn.transaction():
        user = await models.user_by_email(conn, email)
        if user is None:
            if kind == "magiclink":
                kind, secret = "signup", secrets.token_urlsafe(48)
            elif kind in ("recovery", *_EMAIL_CHANGE_TYPES):
                raise AuthError(404, "user_not_found", "User with this email not found")
        if kind in ("signup", "invite") and user is None:
            if kind == "signup":
                if not secret:
                    raise AuthError(400, "validation_failed", "Signup requires a valid password")
                password.check_strength(api, secret)
            user = await models.insert_user(
                conn,
                now,
                email=email,
                password=secret or None,
                data=data,
                identity_metadata=False,
                cost=api.settings.password_hash_cost,
            )
        elif kind in ("signup", "invite"):
            assert user is not None
            if user["email_confirmed_at"] is not None:
                raise AuthError(422, "email_exists", DUPLICATE_EMAIL)
            if kind == "signup" and data is not None:
                await conn.execute(
                    f"update auth.users set {models.metadata_merge('raw_user_meta_data')}"
                    " where id = %s",
                    (*models.metadata_args(data), user["id"]),
                )
        elif kind not in ("magiclink", "recovery", *_EMAIL_CHANGE_TYPES):
            raise AuthError(
                400, "validation_failed", f"Invalid email action link type requested: {kind}"
            )
        assert user is not None
        if kind in ("magiclink", "recovery"):
            await models.audit(conn, "user_recovery_requested", user, now)
            await conn.execute(
                "update auth.users set recovery_token = %s, recovery_sent_at = %s where id = %s",
                (hashed, now, user["id"]),
            )
            link = _link(api, hashed, kind, redirect)
        elif kind in _EMAIL_CHANGE_TYPES:
            link = await _email_change_link(api, conn, user, kind, body, code, redirect)
        else:
            if kind == "invite":
                await models.audit(conn, "user_invited", user, now)
            update = "invited_at = %s," if kind == "invite" else ""
            await conn.execute(
                f"update auth.users set {update} confirmation_token = %s,"
                " confirmation_sent_at = %s where id = %s",
                ((now,) if kind == "invite" else ()) + (hashed, now, user["id"]),
            )
            link = _link(api, hashed, kind, redirect)
        user = await models.reload(conn, user["id"])
        result = await models.user_body(conn, user)
    result.update(
        {
            "action_link": link,
            "email_otp": code,
            "hashed_token": hashed,
            "verification_type": kind,
            "redirect_to": redirect,
        }
    )
    return JSONResponse(result)


async def _email_change_link(
    api: API,
    conn: Conn,
    user: DictRow,
    kind: str,
    body: Mapping[str, Any],
    code: str,
    redirect: str,
) -> str:
    """generate_link's email-change branch: one of the two tokens, for `new_email`.

    As in GoTrue, the response's `hashed_token` is always the hash with the current address;
    for `email_change_new` the link's token is the hash with the new one.
    """
    if kind == "email_change_current" and not api.settings.secure_email_change_enabled:
        raise AuthError(
            400,
            "validation_failed",
            "Enable secure email change to generate link for current email",
        )
    new_email = valid_email(helpers.string(body, "new_email"))
    if await duplicate_email(conn, new_email, user):
        raise AuthError(422, "email_exists", DUPLICATE_EMAIL)
    if kind == "email_change_current":
        column, token = "email_change_token_current", tokens.token_hash(user["email"] or "", code)
    else:
        column, token = "email_change_token_new", tokens.token_hash(new_email, code)
    await conn.execute(
        f"update auth.users set {column} = %s, email_change = %s, email_change_sent_at = %s,"
        " email_change_confirm_status = 0 where id = %s",
        (token, new_email, api.now(), user["id"]),
    )
    return _link(api, token, "email_change", redirect)
