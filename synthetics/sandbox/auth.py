"""Auth under /auth/v1, speaking GoTrue's wire protocol (reference/supabase-api.md, A to D).

State lives in the `auth` schema of the sandbox's Postgres, exactly where GoTrue keeps it, so the
runbook's SQL and the profile trigger see what a real project would. Requests are handled by one
`AuthService`; `AuthError` carries GoTrue's error codes and is rendered in both API-version formats.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import bcrypt
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from synthetics import __version__
from synthetics.sandbox import tokens
from synthetics.sandbox.faults import FaultState
from synthetics.sandbox.mailer import Mailer, confirmation_email, confirmation_url
from synthetics.sandbox.redirects import resolve_redirect
from synthetics.sandbox.settings import AuthSettings

Clock = Callable[[], datetime]
Conn = AsyncConnection[DictRow]

API_VERSION_HEADER = "X-Supabase-Api-Version"
_API_VERSION_2024 = "2024-01-01"
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_BEARER = re.compile(r"(?i)^bearer (\S+$)")
_MAX_BODY = 1024 * 1024
_LINK_TYPES = {"signup", "invite", "recovery", "magiclink", "email_change", "email"}
_ADMIN_ROLES = {"service_role", "supabase_admin"}
_OAUTH_ERRORS = {
    400: "invalid_request",
    401: "unauthorized_client",
    403: "access_denied",
    500: "server_error",
    503: "temporarily_unavailable",
}


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


class AuthError(Exception):
    """An error GoTrue answers with: HTTP status, error code, message and optional extra keys."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


class OAuthError(Exception):
    """GoTrue's older OAuth-style error body: `{"error", "error_description"}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _wants_2024_errors(request: Request) -> bool:
    version = request.headers.get(API_VERSION_HEADER, "")
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", version)) and version >= _API_VERSION_2024


def error_response(request: Request, error: AuthError) -> JSONResponse:
    """Render `error` the way GoTrue does for this request's API version."""
    headers = {"x-sb-error-code": error.code}
    if _wants_2024_errors(request):
        headers[API_VERSION_HEADER] = _API_VERSION_2024
        body: dict[str, Any] = {"code": error.code, "message": error.message}
    else:
        body = {"code": error.status, "error_code": error.code, "msg": error.message}
    body.update(error.extra)
    return JSONResponse(body, status_code=error.status, headers=headers)


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def _password_matches(password: str, hashed: str | None) -> bool:
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


def identity_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An identity as GoTrue serialises it."""
    return {
        "identity_id": str(row["id"]),
        "id": row["provider_id"],
        "user_id": str(row["user_id"]),
        "identity_data": row["identity_data"],
        "provider": row["provider"],
        "last_sign_in_at": _ts(row["last_sign_in_at"]),
        "created_at": _ts(row["created_at"]),
        "updated_at": _ts(row["updated_at"]),
        "email": row["email"],
    }


def user_json(row: Mapping[str, Any], identities: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A user as GoTrue serialises it: empty timestamps are omitted, `phone` is never null."""
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "aud": row["aud"] or "",
        "role": row["role"] or "",
        "email": row["email"] or "",
    }
    optional = {
        "email_confirmed_at": row["email_confirmed_at"],
        "confirmed_at": row["confirmed_at"],
        "confirmation_sent_at": row["confirmation_sent_at"],
        "recovery_sent_at": row["recovery_sent_at"],
        "last_sign_in_at": row["last_sign_in_at"],
        "banned_until": row["banned_until"],
    }
    body["phone"] = row["phone"] or ""
    for key, value in optional.items():
        if value is not None:
            body[key] = _ts(value)
    if row["email_change"]:
        body["new_email"] = row["email_change"]
    body.update(
        {
            "app_metadata": row["raw_app_meta_data"] or {},
            "user_metadata": row["raw_user_meta_data"] or {},
            "identities": [identity_json(i) for i in identities],
            "created_at": _ts(row["created_at"]),
            "updated_at": _ts(row["updated_at"]),
            "is_anonymous": bool(row["is_anonymous"]),
        }
    )
    return body


def _bearer(request: Request) -> str | None:
    match = _BEARER.match(request.headers.get("authorization", ""))
    return match.group(1) if match else None


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _with_fragment(url: str, params: Mapping[str, str]) -> str:
    base = url.split("#", 1)[0]
    return f"{base}#{urlencode(sorted(params.items()))}"


class AuthService:
    """GoTrue's endpoints over the `auth` schema."""

    def __init__(
        self,
        *,
        settings: AuthSettings,
        jwt_secret: str,
        pool: AsyncConnectionPool[Any],
        mailer: Mailer,
        faults: FaultState,
        external_url: str,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.jwt_secret = jwt_secret
        self.pool = pool
        self.mailer = mailer
        self.faults = faults
        self.external_url = external_url.rstrip("/")
        self.clock = clock

    # -- plumbing ---------------------------------------------------------------------------

    def router(self) -> Router:
        """The ASGI app to mount under /auth/v1."""
        e = self._endpoint
        return Router(
            routes=[
                Route("/health", e(self.health), methods=["GET"]),
                Route("/settings", e(self.get_settings), methods=["GET"]),
                Route("/.well-known/jwks.json", e(self.jwks), methods=["GET"]),
                Route("/signup", e(self.signup), methods=["POST"]),
                Route("/verify", e(self.verify_link), methods=["GET"]),
                Route("/verify", e(self.verify_otp), methods=["POST"]),
                Route("/token", e(self.token), methods=["POST"]),
                Route("/user", e(self.get_user), methods=["GET"]),
                Route("/user", e(self.update_user), methods=["PUT"]),
                Route("/logout", e(self.logout), methods=["POST"]),
                Route("/resend", e(self.resend), methods=["POST"]),
                Route("/admin/users", e(self.admin_list_users), methods=["GET"]),
                Route("/admin/users", e(self.admin_create_user), methods=["POST"]),
                Route("/admin/users/{user_id}", e(self.admin_get_user), methods=["GET"]),
                Route("/admin/users/{user_id}", e(self.admin_update_user), methods=["PUT"]),
                Route("/admin/users/{user_id}", e(self.admin_delete_user), methods=["DELETE"]),
                Route("/admin/generate_link", e(self.admin_generate_link), methods=["POST"]),
            ]
        )

    def _endpoint(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            latency = self.faults.auth_latency_s()
            if latency:
                await asyncio.sleep(latency)  # the auth.latency fault: a slow Auth on purpose
            try:
                response = await handler(request)
            except AuthError as error:
                return error_response(request, error)
            except OAuthError as error:
                body = {"error": error.error, "error_description": error.description}
                return JSONResponse(body, status_code=error.status)
            if _wants_2024_errors(request):
                response.headers[API_VERSION_HEADER] = _API_VERSION_2024
            return response

        return endpoint

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            raise AuthError(413, "request_entity_too_large", "Request entity too large")
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise AuthError(
                400, "bad_json", f"Could not parse request body as JSON: {exc}"
            ) from None
        if not isinstance(data, dict):
            raise AuthError(400, "bad_json", "Could not parse request body as JSON: not an object")
        return data

    @staticmethod
    def _str(body: Mapping[str, Any], key: str) -> str:
        value = body.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise AuthError(
                400, "bad_json", f"Could not parse request body as JSON: {key} must be a string"
            )
        return value

    @staticmethod
    def _dict(body: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = body.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise AuthError(
                400, "bad_json", f"Could not parse request body as JSON: {key} must be an object"
            )
        return value

    # -- storage ----------------------------------------------------------------------------

    async def _user(self, conn: Conn, where: str, *args: Any) -> DictRow | None:
        cur = await conn.execute(f"select * from auth.users where {where} limit 1", args)
        return await cur.fetchone()

    async def _identities(self, conn: Conn, user_id: Any) -> list[DictRow]:
        cur = await conn.execute(
            "select * from auth.identities where user_id = %s order by created_at", (user_id,)
        )
        return await cur.fetchall()

    async def _user_body(self, conn: Conn, row: DictRow) -> dict[str, Any]:
        return user_json(row, await self._identities(conn, row["id"]))

    async def _reload(self, conn: Conn, user_id: Any) -> DictRow:
        row = await self._user(conn, "id = %s", user_id)
        if row is None:
            raise AuthError(404, "user_not_found", "User not found")
        return row

    async def _audit(self, conn: Conn, action: str, actor: Mapping[str, Any]) -> None:
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
            (uuid.uuid4(), Jsonb(payload), self.clock()),
        )

    async def _insert_user(
        self,
        conn: Conn,
        *,
        email: str,
        password: str | None,
        user_metadata: Mapping[str, Any],
        app_metadata: Mapping[str, Any] | None = None,
        confirmed: bool = False,
    ) -> DictRow:
        now = self.clock()
        user_id = uuid.uuid4()
        identity_data = {
            "sub": str(user_id),
            "email": email,
            "email_verified": confirmed,
            "phone_verified": False,
        }
        meta = {**identity_data, **dict(user_metadata)}
        app = {"provider": "email", "providers": ["email"], **dict(app_metadata or {})}
        await conn.execute(
            "insert into auth.users (instance_id, id, aud, role, email, encrypted_password,"
            " email_confirmed_at, raw_app_meta_data, raw_user_meta_data, is_super_admin,"
            " created_at, updated_at, is_sso_user, is_anonymous)"
            " values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated',"
            " 'authenticated', %s, %s, %s, %s, %s, false, %s, %s, false, false)",
            (
                user_id,
                email,
                _hash_password(password) if password else "",
                now if confirmed else None,
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
        row = await self._reload(conn, user_id)
        await self._audit(conn, "user_signedup", row)
        return row

    async def _confirm(self, conn: Conn, user: DictRow) -> DictRow:
        now = self.clock()
        verified = Jsonb({"email_verified": True})
        await conn.execute(
            "update auth.users set email_confirmed_at = coalesce(email_confirmed_at, %s),"
            " confirmation_token = '', raw_user_meta_data = coalesce(raw_user_meta_data, '{}')"
            " || %s, updated_at = %s where id = %s",
            (now, verified, now, user["id"]),
        )
        await conn.execute(
            "update auth.identities set identity_data = identity_data || %s, updated_at = %s"
            " where user_id = %s and provider = 'email'",
            (verified, now, user["id"]),
        )
        return await self._reload(conn, user["id"])

    # -- sessions ---------------------------------------------------------------------------

    async def _issue(self, conn: Conn, user: DictRow, amr_method: str) -> dict[str, Any]:
        """Create a session with its first refresh token; return GoTrue's AccessTokenResponse."""
        now = self.clock()
        session_id = uuid.uuid4()
        await conn.execute(
            "insert into auth.sessions (id, user_id, created_at, updated_at, aal)"
            " values (%s, %s, %s, %s, 'aal1')",
            (session_id, user["id"], now, now),
        )
        await conn.execute(
            "insert into auth.mfa_amr_claims (session_id, created_at, updated_at,"
            " authentication_method, id) values (%s, %s, %s, %s, %s)",
            (session_id, now, now, amr_method, uuid.uuid4()),
        )
        await conn.execute(
            "update auth.users set last_sign_in_at = %s, updated_at = %s where id = %s",
            (now, now, user["id"]),
        )
        await conn.execute(
            "update auth.identities set last_sign_in_at = %s where user_id = %s",
            (now, user["id"]),
        )
        refresh = await self._new_refresh_token(conn, user, session_id, parent=None)
        user = await self._reload(conn, user["id"])
        await self._audit(conn, "login", user)
        return await self._token_response(conn, user, session_id, refresh)

    async def _new_refresh_token(
        self, conn: Conn, user: Mapping[str, Any], session_id: Any, parent: str | None
    ) -> str:
        now = self.clock()
        token = tokens.new_refresh_token()
        await conn.execute(
            "insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at,"
            " updated_at, parent, session_id) values ('00000000-0000-0000-0000-000000000000',"
            " %s, %s, false, %s, %s, %s, %s)",
            (token, str(user["id"]), now, now, parent, session_id),
        )
        return token

    async def _token_response(
        self, conn: Conn, user: DictRow, session_id: Any, refresh: str
    ) -> dict[str, Any]:
        cur = await conn.execute(
            "select authentication_method, created_at from auth.mfa_amr_claims"
            " where session_id = %s order by created_at limit 1",
            (session_id,),
        )
        amr = await cur.fetchone()
        method = amr["authentication_method"] if amr else "password"
        stamp = int((amr["created_at"] if amr else self.clock()).timestamp())
        access, expires_at = tokens.issue_access_token(
            secret=self.jwt_secret,
            issuer=self.external_url,
            user=user,
            session_id=str(session_id),
            amr_method=method,
            amr_timestamp=stamp,
            now=self.clock().timestamp(),
            ttl=self.settings.jwt_exp,
        )
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.settings.jwt_exp,
            "expires_at": expires_at,
            "refresh_token": refresh,
            "user": await self._user_body(conn, user),
        }

    @staticmethod
    def _session_response(body: dict[str, Any]) -> JSONResponse:
        user_id = body["user"]["id"]
        return JSONResponse(body, headers={"sb-auth-user-id": user_id})

    # -- confirmation mail ------------------------------------------------------------------

    async def _send_link(
        self,
        conn: Conn,
        user: DictRow,
        *,
        redirect: str,
        kind: str = "signup",
        pkce: bool = False,
        send: bool = True,
    ) -> tuple[str, str]:
        """Store a fresh link token for `user` and mail the link; returns (otp, stored token)."""
        now = self.clock()
        email = user["email"]
        otp = tokens.new_email_otp()
        stored = tokens.token_hash(email, otp)
        if pkce:
            stored = "pkce_" + stored
        if kind in ("recovery", "magiclink"):
            sql = "update auth.users set recovery_token = %s, recovery_sent_at = %s where id = %s"
        else:
            sql = (
                "update auth.users set confirmation_token = %s, confirmation_sent_at = %s"
                " where id = %s"
            )
        await conn.execute(sql, (stored, now, user["id"]))
        if send:
            if self.faults.has("email.rate_limit"):
                raise AuthError(429, "over_email_send_rate_limit", "email rate limit exceeded")
            url = confirmation_url(self.external_url, stored, kind, redirect)
            message = confirmation_email(
                sender=self.settings.sender,
                to=email,
                subject=self.settings.confirmation_subject,
                url=url,
            )
            try:
                await self.mailer.send(message)
            except OSError:
                raise AuthError(
                    500, "unexpected_failure", "Error sending confirmation email"
                ) from None
        return otp, stored

    def _check_frequency(self, sent_at: datetime | None) -> None:
        if sent_at is None:
            return
        wait = self.settings.smtp_max_frequency - (self.clock() - sent_at).total_seconds()
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise AuthError(
                429,
                "over_email_send_rate_limit",
                f"For security purposes, you can only request this after {seconds} seconds.",
            )

    def _redirect(self, *candidates: str | None) -> str:
        allow = () if self.faults.has("auth.redirect_disallowed") else self.settings.uri_allow_list
        return resolve_redirect(candidates, self.settings.site_url, allow)

    def _autoconfirm(self) -> bool:
        return self.settings.mailer_autoconfirm or self.faults.has("auth.autoconfirm")

    # -- public endpoints -------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        """GET /health."""
        return JSONResponse(
            {
                "version": f"synthetics-sandbox-{__version__}",
                "name": "GoTrue",
                "description": "GoTrue is a user registration and authentication API",
            }
        )

    async def get_settings(self, request: Request) -> Response:
        """GET /settings: which providers are on and whether confirmation is required."""
        providers = ["anonymous_users", "apple", "azure", "bitbucket", "discord", "facebook"]
        providers += ["figma", "github", "gitlab", "google", "keycloak", "kakao", "linkedin_oidc"]
        providers += ["notion", "phone", "slack_oidc", "spotify", "twitch", "twitter", "workos"]
        external = {name: False for name in providers}
        external["email"] = True
        return JSONResponse(
            {
                "external": dict(sorted(external.items())),
                "disable_signup": self.settings.disable_signup,
                "mailer_autoconfirm": self._autoconfirm(),
                "phone_autoconfirm": False,
                "sms_provider": "",
                "saml_enabled": False,
            }
        )

    async def jwks(self, request: Request) -> Response:
        """GET /.well-known/jwks.json: empty for an HS256-only project."""
        return JSONResponse({"keys": []})

    async def signup(self, request: Request) -> Response:
        """POST /signup."""
        if self.faults.has("auth.signup_error"):
            raise AuthError(
                500,
                "unexpected_failure",
                "Unexpected failure, please check server logs for more information",
            )
        if self.settings.disable_signup:
            raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
        body = await self._body(request)
        email, phone = self._str(body, "email"), self._str(body, "phone")
        password = self._str(body, "password")
        data = self._dict(body, "data")
        challenge = self._str(body, "code_challenge")
        method = self._str(body, "code_challenge_method")
        if not password:
            raise AuthError(400, "validation_failed", "Signup requires a valid password")
        if len(password) > 72:
            raise AuthError(
                400, "validation_failed", "Password cannot be longer than 72 characters"
            )
        self._check_strength(password)
        if email and phone:
            raise AuthError(
                400,
                "validation_failed",
                "Only an email address or phone number should be provided on signup.",
            )
        pkce = self._check_pkce(challenge, method)
        if phone:
            raise AuthError(400, "phone_provider_disabled", "Phone signups are disabled")
        email = self._valid_email(email)
        redirect = self._redirect(
            request.headers.get("redirect_to"),
            request.query_params.get("redirect_to"),
            request.headers.get("referer"),
        )
        async with self.pool.connection() as conn, conn.transaction():
            existing = await self._user(conn, "lower(email) = %s and is_sso_user = false", email)
            if existing is not None:
                return await self._signup_existing(conn, existing, data, redirect, pkce)
            user = await self._insert_user(conn, email=email, password=password, user_metadata=data)
            if self._autoconfirm():
                user = await self._confirm(conn, user)
                return self._session_response(await self._issue(conn, user, "password"))
            if pkce:
                await self._new_flow_state(conn, user["id"], *pkce)
            await self._send_link(conn, user, redirect=redirect, pkce=bool(pkce))
            user = await self._reload(conn, user["id"])
            return JSONResponse(await self._user_body(conn, user))

    async def _signup_existing(
        self,
        conn: Conn,
        existing: DictRow,
        data: Mapping[str, Any],
        redirect: str,
        pkce: tuple[str, str] | None,
    ) -> Response:
        if existing["email_confirmed_at"] is not None:
            if self._autoconfirm():
                raise AuthError(422, "user_already_exists", "User already registered")
            # GoTrue hides that the address is taken: a made-up user, no email.
            now = _ts(self.clock())
            return JSONResponse(
                {
                    "id": str(uuid.uuid4()),
                    "aud": "authenticated",
                    "role": "",
                    "email": existing["email"],
                    "phone": "",
                    "confirmation_sent_at": now,
                    "app_metadata": {"provider": "email", "providers": ["email"]},
                    "user_metadata": dict(data),
                    "identities": [],
                    "created_at": now,
                    "updated_at": now,
                    "is_anonymous": False,
                }
            )
        self._check_frequency(existing["confirmation_sent_at"])
        if pkce:
            await conn.execute("delete from auth.flow_state where user_id = %s", (existing["id"],))
            await self._new_flow_state(conn, existing["id"], *pkce)
        await self._send_link(conn, existing, redirect=redirect, pkce=bool(pkce))
        user = await self._reload(conn, existing["id"])
        return JSONResponse(await self._user_body(conn, user))

    def _check_strength(self, password: str) -> None:
        minimum = self.settings.password_min_length
        if len(password) < minimum:
            raise AuthError(
                422,
                "weak_password",
                f"Password should be at least {minimum} characters.",
                weak_password={"reasons": ["length"]},
            )

    @staticmethod
    def _check_pkce(challenge: str, method: str) -> tuple[str, str] | None:
        if not challenge and not method:
            return None
        if not challenge or not method:
            raise AuthError(
                400,
                "validation_failed",
                "PKCE flow requires code_challenge_method and code_challenge",
            )
        if method.lower() not in ("s256", "plain"):
            raise AuthError(
                400, "validation_failed", f"code challenge method {method} not supported"
            )
        if not _CHALLENGE.match(challenge):
            raise AuthError(
                400,
                "validation_failed",
                "code challenge has to be between 43 and 128 characters",
            )
        return challenge, method.lower()

    @staticmethod
    def _valid_email(email: str) -> str:
        if not email:
            raise AuthError(400, "validation_failed", "An email address is required")
        if len(email) > 255:
            raise AuthError(
                400, "validation_failed", "Unable to validate email address: address is too long"
            )
        if not _EMAIL.match(email):
            raise AuthError(
                400, "validation_failed", "Unable to validate email address: invalid format"
            )
        return email.lower()

    async def _new_flow_state(self, conn: Conn, user_id: Any, challenge: str, method: str) -> None:
        now = self.clock()
        await conn.execute(
            "insert into auth.flow_state (id, user_id, auth_code, code_challenge_method,"
            " code_challenge, provider_type, created_at, updated_at, authentication_method)"
            " values (%s, %s, %s, %s, %s, 'email', %s, %s, 'email/signup')",
            (uuid.uuid4(), user_id, str(uuid.uuid4()), method, challenge, now, now),
        )

    async def verify_link(self, request: Request) -> Response:
        """GET /verify: the emailed link. Always a 303, errors in the fragment."""
        token = request.query_params.get("token", "")
        kind = request.query_params.get("type", "")
        redirect = self._redirect(request.query_params.get("redirect_to"))
        is_pkce = token.startswith("pkce_")
        if kind not in _LINK_TYPES:
            return self._error_redirect(
                redirect, 400, "validation_failed", "Verify requires a verification type", is_pkce
            )
        if not token:
            return self._error_redirect(
                redirect,
                400,
                "validation_failed",
                "Verify requires a token or a token hash",
                is_pkce,
            )
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._user_by_link_token(conn, token, kind)
            if user is None:
                return self._error_redirect(
                    redirect, 403, "otp_expired", "Email link is invalid or has expired", is_pkce
                )
            await self._consume_link(conn, user, kind)
            user = await self._confirm(conn, user)
            if is_pkce:
                code = await self._issue_auth_code(conn, user["id"])
                if code is None:
                    return self._error_redirect(
                        redirect, 404, "flow_state_not_found", "Flow state not found", is_pkce
                    )
                return Response(
                    status_code=303, headers={"location": _with_query(redirect, {"code": code})}
                )
            session = await self._issue(conn, user, "otp")
        params = {
            "access_token": session["access_token"],
            "expires_at": str(session["expires_at"]),
            "expires_in": str(session["expires_in"]),
            "refresh_token": session["refresh_token"],
            "sb": "",
            "token_type": "bearer",
            "type": kind,
        }
        return Response(status_code=303, headers={"location": _with_fragment(redirect, params)})

    def _error_redirect(
        self, redirect: str, status: int, code: str, description: str, pkce: bool
    ) -> Response:
        params = {
            "error": _OAUTH_ERRORS.get(status, "server_error"),
            "error_code": code,
            "error_description": description,
        }
        target = _with_query(redirect, params) if pkce else redirect
        location = _with_fragment(target, {**params, "sb": ""})
        return Response(status_code=303, headers={"location": location})

    async def _user_by_link_token(self, conn: Conn, token: str, kind: str) -> DictRow | None:
        if kind in ("signup", "invite"):
            column, sent = "confirmation_token", "confirmation_sent_at"
        elif kind in ("recovery", "magiclink"):
            column, sent = "recovery_token", "recovery_sent_at"
        else:
            user = await self._user_by_link_token(conn, token, "signup")
            return user or await self._user_by_link_token(conn, token, "recovery")
        user = await self._user(conn, f"{column} = %s and {column} <> ''", token)
        if user is None or user[sent] is None:
            return None
        if self.clock() > user[sent] + timedelta(seconds=self.settings.otp_exp):
            return None
        return user

    async def _consume_link(self, conn: Conn, user: DictRow, kind: str) -> None:
        if kind in ("recovery", "magiclink", "email"):
            await conn.execute(
                "update auth.users set recovery_token = '' where id = %s", (user["id"],)
            )

    async def _issue_auth_code(self, conn: Conn, user_id: Any) -> str | None:
        cur = await conn.execute(
            "update auth.flow_state set auth_code_issued_at = %s, updated_at = %s"
            " where id = (select id from auth.flow_state where user_id = %s"
            " order by created_at desc limit 1) returning auth_code",
            (self.clock(), self.clock(), user_id),
        )
        row = await cur.fetchone()
        return None if row is None else str(row["auth_code"])

    async def verify_otp(self, request: Request) -> Response:
        """POST /verify: an emailed OTP (with the email) or a token hash."""
        body = await self._body(request)
        kind = self._str(body, "type")
        token, token_hash = self._str(body, "token"), self._str(body, "token_hash")
        email = self._str(body, "email").lower()
        if kind not in _LINK_TYPES:
            raise AuthError(400, "validation_failed", "Verify requires a verification type")
        if token_hash and (email or self._str(body, "phone") or body.get("redirect_to")):
            raise AuthError(
                400, "validation_failed", "Only the token_hash and type should be provided"
            )
        if token:
            if not email:
                raise AuthError(
                    400,
                    "validation_failed",
                    "Only an email address or phone number should be provided on verify",
                )
            token_hash = tokens.token_hash(email, token)
        if not token_hash:
            raise AuthError(400, "validation_failed", "Verify requires a token or a token hash")
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._user_by_link_token(conn, token_hash, kind)
            if user is None:
                user = await self._user_by_link_token(conn, "pkce_" + token_hash, kind)
            if user is None:
                raise AuthError(403, "otp_expired", "Token has expired or is invalid")
            await self._consume_link(conn, user, kind)
            user = await self._confirm(conn, user)
            return self._session_response(await self._issue(conn, user, "otp"))

    async def token(self, request: Request) -> Response:
        """POST /token?grant_type=password|refresh_token|pkce."""
        grant = request.query_params.get("grant_type", "")
        body = await self._body(request)
        if grant == "password":
            return await self._grant_password(body)
        if grant == "refresh_token":
            return await self._grant_refresh(body)
        if grant == "pkce":
            return await self._grant_pkce(body)
        raise AuthError(400, "invalid_credentials", "unsupported_grant_type")

    async def _grant_password(self, body: Mapping[str, Any]) -> Response:
        email = self._str(body, "email").lower()
        password = self._str(body, "password")
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._user(conn, "lower(email) = %s", email) if email else None
            if user is None or not _password_matches(password, user["encrypted_password"]):
                raise AuthError(400, "invalid_credentials", "Invalid login credentials")
            if user["banned_until"] is not None and user["banned_until"] > self.clock():
                raise AuthError(400, "user_banned", "User is banned")
            if user["email_confirmed_at"] is None:
                raise AuthError(400, "email_not_confirmed", "Email not confirmed")
            return self._session_response(await self._issue(conn, user, "password"))

    async def _grant_refresh(self, body: Mapping[str, Any]) -> Response:
        token = self._str(body, "refresh_token")
        if not token:
            raise OAuthError(400, "invalid_request", "refresh_token required")
        if not tokens.is_refresh_token_shaped(token):
            raise AuthError(400, "validation_failed", "Refresh token is not valid")
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "select * from auth.refresh_tokens where token = %s for update", (token,)
            )
            row = await cur.fetchone()
            if row is None:
                raise AuthError(
                    400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
                )
            session = await (
                await conn.execute(
                    "select * from auth.sessions where id = %s", (row["session_id"],)
                )
            ).fetchone()
            if session is None:
                raise AuthError(400, "session_not_found", "Invalid Refresh Token: Session Expired")
            user = await self._user(conn, "id = %s", session["user_id"])
            if user is None:
                raise AuthError(400, "user_not_found", "User not found")
            if row["revoked"]:
                child = await self._reusable_child(conn, token)
                if child is None:
                    raise AuthError(
                        400,
                        "refresh_token_already_used",
                        "Invalid Refresh Token: Already Used",
                    )
                body = await self._token_response(conn, user, session["id"], child)
                return self._session_response(body)
            now = self.clock()
            await conn.execute(
                "update auth.refresh_tokens set revoked = true, updated_at = %s where id = %s",
                (now, row["id"]),
            )
            await conn.execute(
                "update auth.sessions set refreshed_at = %s, updated_at = %s where id = %s",
                (now.replace(tzinfo=None), now, session["id"]),
            )
            fresh = await self._new_refresh_token(conn, user, session["id"], parent=token)
            await self._audit(conn, "token_refreshed", user)
            return self._session_response(
                await self._token_response(conn, user, session["id"], fresh)
            )

    async def _reusable_child(self, conn: Conn, token: str) -> str | None:
        """Within the reuse interval a revoked token yields its live successor (GoTrue's grace)."""
        cur = await conn.execute(
            "select token, created_at, revoked from auth.refresh_tokens where parent = %s", (token,)
        )
        child = await cur.fetchone()
        if child is None or child["revoked"]:
            return None
        age = (self.clock() - child["created_at"]).total_seconds()
        return str(child["token"]) if age <= self.settings.refresh_token_reuse_interval else None

    async def _grant_pkce(self, body: Mapping[str, Any]) -> Response:
        code, verifier = self._str(body, "auth_code"), self._str(body, "code_verifier")
        if not code or not verifier:
            raise AuthError(
                400,
                "validation_failed",
                "invalid request: both auth code and code verifier should be non-empty",
            )
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "select * from auth.flow_state where auth_code = %s and auth_code_issued_at"
                " is not null for update",
                (code,),
            )
            flow = await cur.fetchone()
            if flow is None:
                raise AuthError(
                    404, "flow_state_not_found", "invalid flow state, no valid flow state found"
                )
            started = flow["auth_code_issued_at"] or flow["created_at"]
            if self.clock() > started + timedelta(seconds=self.settings.flow_state_expiry):
                raise AuthError(
                    422,
                    "flow_state_expired",
                    "invalid flow state, flow state has expired",
                )
            if not tokens.pkce_challenge_matches(
                verifier, flow["code_challenge"], flow["code_challenge_method"]
            ):
                raise AuthError(
                    400,
                    "bad_code_verifier",
                    "code challenge does not match previously saved code verifier",
                )
            user = await self._user(conn, "id = %s", flow["user_id"])
            if user is None:
                raise AuthError(404, "user_not_found", "User not found")
            await conn.execute("delete from auth.flow_state where id = %s", (flow["id"],))
            return self._session_response(await self._issue(conn, user, "otp"))

    # -- the signed-in user -----------------------------------------------------------------

    def _claims(self, request: Request) -> dict[str, Any]:
        token = _bearer(request)
        if token is None:
            raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
        try:
            return tokens.decode(token, self.jwt_secret, now=self.clock().timestamp())
        except tokens.InvalidToken as exc:
            raise AuthError(403, "bad_jwt", f"invalid JWT: {exc}") from None

    async def _signed_in(self, conn: Conn, request: Request) -> tuple[dict[str, Any], DictRow]:
        claims = self._claims(request)
        sub = claims.get("sub")
        if not sub:
            raise AuthError(403, "bad_jwt", "invalid claim: missing sub claim")
        try:
            user_id = uuid.UUID(str(sub))
        except ValueError:
            raise AuthError(400, "bad_jwt", "invalid claim: sub claim must be a UUID") from None
        user = await self._user(conn, "id = %s", user_id)
        if user is None:
            raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
        session_id = claims.get("session_id")
        if session_id:
            cur = await conn.execute("select 1 from auth.sessions where id = %s", (session_id,))
            if await cur.fetchone() is None:
                raise AuthError(
                    403,
                    "session_not_found",
                    "Session from session_id claim in JWT does not exist",
                )
        return claims, user

    async def get_user(self, request: Request) -> Response:
        """GET /user."""
        async with self.pool.connection() as conn:
            _, user = await self._signed_in(conn, request)
            return JSONResponse(await self._user_body(conn, user))

    async def update_user(self, request: Request) -> Response:
        """PUT /user: metadata, password and (recorded, not mailed) email change."""
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            _, user = await self._signed_in(conn, request)
            now = self.clock()
            data = self._dict(body, "data")
            if data:
                await conn.execute(
                    "update auth.users set raw_user_meta_data = coalesce(raw_user_meta_data,"
                    " '{}') || %s, updated_at = %s where id = %s",
                    (Jsonb(data), now, user["id"]),
                )
            password = self._str(body, "password")
            if password:
                if _password_matches(password, user["encrypted_password"]):
                    raise AuthError(
                        422,
                        "same_password",
                        "New password should be different from the old password.",
                    )
                self._check_strength(password)
                await conn.execute(
                    "update auth.users set encrypted_password = %s, updated_at = %s where id = %s",
                    (_hash_password(password), now, user["id"]),
                )
            email = self._str(body, "email").lower()
            if email and email != user["email"]:
                taken = await self._user(conn, "lower(email) = %s", email)
                if taken is not None:
                    raise AuthError(
                        422,
                        "email_exists",
                        "A user with this email address has already been registered",
                    )
                await conn.execute(
                    "update auth.users set email_change = %s, email_change_sent_at = %s"
                    " where id = %s",
                    (self._valid_email(email), now, user["id"]),
                )
            user = await self._reload(conn, user["id"])
            await self._audit(conn, "user_modified", user)
            return JSONResponse(await self._user_body(conn, user))

    async def logout(self, request: Request) -> Response:
        """POST /logout?scope=global|local|others: 204, the session(s) revoked."""
        scope = request.query_params.get("scope", "global")
        if scope not in ("global", "local", "others"):
            raise AuthError(400, "validation_failed", f"Unsupported logout scope {scope!r}")
        async with self.pool.connection() as conn, conn.transaction():
            claims, user = await self._signed_in(conn, request)
            session_id = claims.get("session_id")
            if scope == "global" or not session_id:
                await conn.execute("delete from auth.sessions where user_id = %s", (user["id"],))
            elif scope == "local":
                await conn.execute("delete from auth.sessions where id = %s", (session_id,))
            else:
                await conn.execute(
                    "delete from auth.sessions where user_id = %s and id <> %s",
                    (user["id"], session_id),
                )
            await self._audit(conn, "logout", user)
        return Response(status_code=204)

    async def resend(self, request: Request) -> Response:
        """POST /resend: 200 `{}` whatever the address, so it leaks nothing."""
        body = await self._body(request)
        kind = self._str(body, "type")
        if kind not in ("signup", "email_change", "sms", "phone_change"):
            raise AuthError(
                400,
                "validation_failed",
                "Missing one of these types: signup, email_change, sms, phone_change",
            )
        email = self._str(body, "email").lower()
        if kind != "signup" or not email:
            return JSONResponse({})
        redirect = self._redirect(
            request.headers.get("redirect_to"),
            request.query_params.get("redirect_to"),
            request.headers.get("referer"),
        )
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._user(conn, "lower(email) = %s", email)
            if user is None or user["email_confirmed_at"] is not None:
                return JSONResponse({})
            self._check_frequency(user["confirmation_sent_at"])
            pkce = str(user["confirmation_token"] or "").startswith("pkce_")
            await self._send_link(conn, user, redirect=redirect, pkce=pkce)
        return JSONResponse({})

    # -- admin ------------------------------------------------------------------------------

    def _admin(self, request: Request) -> None:
        claims = self._claims(request)
        if claims.get("role") not in _ADMIN_ROLES:
            raise AuthError(403, "not_admin", "User not allowed")

    @staticmethod
    def _user_id(request: Request) -> uuid.UUID:
        try:
            return uuid.UUID(request.path_params["user_id"])
        except ValueError:
            raise AuthError(404, "validation_failed", "user_id must be an UUID") from None

    async def admin_list_users(self, request: Request) -> Response:
        """GET /admin/users?page=&per_page=."""
        self._admin(request)

        def number(name: str, default: int) -> int:
            raw = request.query_params.get(name, "")
            if not raw:
                return default
            try:
                return max(1, int(raw))
            except ValueError:
                raise AuthError(
                    400, "validation_failed", f"Bad Pagination Parameters: {name}"
                ) from None

        page, per_page = number("page", 1), number("per_page", 50)
        async with self.pool.connection() as conn:
            total_row = await (
                await conn.execute("select count(*) as n from auth.users")
            ).fetchone()
            total = int(total_row["n"]) if total_row else 0
            cur = await conn.execute(
                "select * from auth.users order by created_at desc, id limit %s offset %s",
                (per_page, (page - 1) * per_page),
            )
            users = [await self._user_body(conn, row) for row in await cur.fetchall()]
        last = max(1, -(-total // per_page))
        links = []
        if page < last:
            links.append(f'</admin/users?page={page + 1}&per_page={per_page}>; rel="next"')
        links.append(f'</admin/users?page={last}&per_page={per_page}>; rel="last"')
        headers = {"X-Total-Count": str(total), "Link": ", ".join(links)}
        return JSONResponse({"users": users, "aud": "authenticated"}, headers=headers)

    async def admin_create_user(self, request: Request) -> Response:
        """POST /admin/users."""
        self._admin(request)
        body = await self._body(request)
        email = self._valid_email(self._str(body, "email"))
        password = self._str(body, "password")
        if password:
            self._check_strength(password)
        async with self.pool.connection() as conn, conn.transaction():
            if await self._user(conn, "lower(email) = %s", email) is not None:
                raise AuthError(
                    422,
                    "email_exists",
                    "A user with this email address has already been registered",
                )
            user = await self._insert_user(
                conn,
                email=email,
                password=password or None,
                user_metadata=self._dict(body, "user_metadata"),
                app_metadata=self._dict(body, "app_metadata"),
                confirmed=bool(body.get("email_confirm")),
            )
            return JSONResponse(await self._user_body(conn, user))

    async def admin_get_user(self, request: Request) -> Response:
        """GET /admin/users/{id}."""
        self._admin(request)
        user_id = self._user_id(request)
        async with self.pool.connection() as conn:
            user = await self._reload(conn, user_id)
            return JSONResponse(await self._user_body(conn, user))

    async def admin_update_user(self, request: Request) -> Response:
        """PUT /admin/users/{id}: metadata (merged), password, email, confirmation, ban."""
        self._admin(request)
        user_id = self._user_id(request)
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._reload(conn, user_id)
            now = self.clock()
            sets: list[str] = []
            args: list[Any] = []
            for key, column in (
                ("user_metadata", "raw_user_meta_data"),
                ("app_metadata", "raw_app_meta_data"),
            ):
                if key in body:
                    sets.append(f"{column} = coalesce({column}, '{{}}') || %s")
                    args.append(Jsonb(self._dict(body, key)))
            if self._str(body, "password"):
                sets.append("encrypted_password = %s")
                args.append(_hash_password(self._str(body, "password")))
            if self._str(body, "email"):
                sets.append("email = %s")
                args.append(self._valid_email(self._str(body, "email")))
            if body.get("email_confirm") is True:
                sets.append("email_confirmed_at = coalesce(email_confirmed_at, %s)")
                args.append(now)
            ban = self._str(body, "ban_duration")
            if ban:
                sets.append("banned_until = %s")
                args.append(None if ban == "none" else now + _parse_duration(ban))
            if sets:
                sets.append("updated_at = %s")
                args.extend([now, user["id"]])
                await conn.execute(f"update auth.users set {', '.join(sets)} where id = %s", args)
            user = await self._reload(conn, user_id)
            return JSONResponse(await self._user_body(conn, user))

    async def admin_delete_user(self, request: Request) -> Response:
        """DELETE /admin/users/{id}: 200 `{}`; everything hanging off the user goes with it."""
        self._admin(request)
        user_id = self._user_id(request)
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._reload(conn, user_id)
            if body.get("should_soft_delete") is True:
                await conn.execute(
                    "update auth.users set deleted_at = %s, email = null, phone = null,"
                    " encrypted_password = '' where id = %s",
                    (self.clock(), user_id),
                )
                await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))
                await conn.execute("delete from auth.identities where user_id = %s", (user_id,))
            else:
                await conn.execute("delete from auth.users where id = %s", (user_id,))
            await self._audit(conn, "user_deleted", user)
        return JSONResponse({})

    async def admin_generate_link(self, request: Request) -> Response:
        """POST /admin/generate_link: a link and OTP, created without sending any email."""
        self._admin(request)
        body = await self._body(request)
        kind = self._str(body, "type")
        if kind not in ("signup", "invite", "magiclink", "recovery"):
            raise AuthError(
                400, "validation_failed", f"Invalid email action link type requested: {kind}"
            )
        email = self._valid_email(self._str(body, "email"))
        redirect = self._redirect(self._str(body, "redirect_to") or None)
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._user(conn, "lower(email) = %s", email)
            if kind in ("signup", "invite"):
                if user is not None and user["email_confirmed_at"] is not None:
                    raise AuthError(
                        422,
                        "email_exists",
                        "A user with this email address has already been registered",
                    )
                if user is None:
                    password = self._str(body, "password")
                    if kind == "signup" and not password:
                        raise AuthError(
                            400, "validation_failed", "Signup requires a valid password"
                        )
                    user = await self._insert_user(
                        conn,
                        email=email,
                        password=password or None,
                        user_metadata=self._dict(body, "data"),
                    )
            elif user is None:
                if kind == "recovery":
                    raise AuthError(404, "user_not_found", "User with this email not found")
                kind = "signup"
                user = await self._insert_user(
                    conn, email=email, password=None, user_metadata=self._dict(body, "data")
                )
            otp, stored = await self._send_link(
                conn, user, redirect=redirect, kind=kind, send=False
            )
            user = await self._reload(conn, user["id"])
            result = await self._user_body(conn, user)
        result.update(
            {
                "action_link": confirmation_url(self.external_url, stored, kind, redirect),
                "email_otp": otp,
                "hashed_token": stored,
                "verification_type": kind,
                "redirect_to": redirect,
            }
        )
        return JSONResponse(result)


def _parse_duration(text: str) -> timedelta:
    """Go-style durations as GoTrue's ban_duration takes them: `24h`, `30m`, `1h30m`, `90s`."""
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(h|m|s|ms)", text):
        total += float(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    if total <= 0 and text != "0s":
        raise AuthError(400, "validation_failed", f"invalid format for ban duration: {text}")
    return timedelta(seconds=total)
