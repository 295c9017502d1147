"""Auth under /auth/v1, speaking GoTrue's wire protocol (reference/supabase-api.md, A to D).

State lives in the `auth` schema of the sandbox's Postgres, exactly where GoTrue keeps it, so the
runbook's SQL and the profile trigger see what a real project would. Requests are handled by one
`AuthService`; `AuthError` carries GoTrue's error codes and is rendered in both API-version formats.
Behaviour follows supabase/auth (`internal/api/*.go`); comments name the GoTrue function a rule
comes from where the rule is not obvious.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
from synthetics.sandbox.redirects import is_redirect_allowed, resolve_redirect
from synthetics.sandbox.settings import AuthSettings

Clock = Callable[[], datetime]
Conn = AsyncConnection[DictRow]

API_VERSION_HEADER = "X-Supabase-Api-Version"
_API_VERSION_2024 = "2024-01-01"
# badoux/checkmail's ValidateFormat, which GoTrue's validateEmail uses (a dot-less domain passes).
_EMAIL = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
_CHALLENGE_CHARS = re.compile(r"[a-zA-Z._~0-9-]+")
_BEARER = re.compile(r"(?i)^bearer (\S+$)")
_MAX_BODY = 1 << 20
_MAX_PASSWORD_BYTES = 72
_LINK_TYPES = {"signup", "invite", "recovery", "magiclink", "email_change", "email"}
_ADMIN_ROLES = {"service_role", "supabase_admin"}
_DUPLICATE_EMAIL = "A user with this email address has already been registered"
_UNEXPECTED = "Unexpected failure, please check server logs for more information"
_OAUTH_ERRORS = {
    400: "invalid_request",
    401: "unauthorized_client",
    403: "access_denied",
    500: "server_error",
    503: "temporarily_unavailable",
}
# models.ParseAuthenticationMethod for the PKCE flow of GET /verify.
_PKCE_AUTH_METHODS = {
    "signup": "email/signup",
    "invite": "invite",
    "recovery": "recovery",
    "magiclink": "magiclink",
    "email_change": "email_change",
}
_GO_DURATION = re.compile(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_GO_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
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
    """GoTrue's older OAuth-style error body: `{"error", "error_description"}`, always 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _wants_2024_errors(request: Request) -> bool:
    """DetermineClosestAPIVersion: a valid date on or after 2024-01-01 selects the new format."""
    version = request.headers.get(API_VERSION_HEADER, "")
    try:
        parsed = datetime.strptime(version, "%Y-%m-%d")
    except ValueError:
        return False
    return len(version) == 10 and parsed >= datetime(2024, 1, 1)


def error_response(request: Request, error: AuthError) -> JSONResponse:
    """Render `error` the way GoTrue's HandleResponseError does for this request's API version."""
    headers: dict[str, str] = {}
    new_format = _wants_2024_errors(request)
    if new_format:
        headers[API_VERSION_HEADER] = _API_VERSION_2024
        body: dict[str, Any] = {"code": error.code, "message": error.message}
    else:
        body = {"code": error.status, "error_code": error.code, "msg": error.message}
    # The weak-password branch sets x-sb-error-code only in the legacy format.
    if not (new_format and error.code == "weak_password"):
        headers["x-sb-error-code"] = error.code
    body.update(error.extra)
    return JSONResponse(body, status_code=error.status, headers=headers)


def _ts(value: datetime | None) -> str | None:
    """A timestamp as Go's time.Time marshals it (RFC 3339, trailing zeros of the fraction cut)."""
    if value is None:
        return None
    moment = value.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


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
        body["last_sign_in_at"] = _ts(row["last_sign_in_at"])
    body["created_at"] = _ts(row["created_at"])
    body["updated_at"] = _ts(row["updated_at"])
    if row["email"]:
        body["email"] = row["email"]
    return body


def user_json(row: Mapping[str, Any], identities: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A user as GoTrue's models.User marshals: empty timestamps omitted, `phone` never null."""
    body: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is not None:
            body[key] = _ts(value) if isinstance(value, datetime) else value

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
    body["created_at"] = _ts(row["created_at"])
    body["updated_at"] = _ts(row["updated_at"])
    put("banned_until", row["banned_until"])
    put("deleted_at", row["deleted_at"])
    body["is_anonymous"] = bool(row["is_anonymous"])
    return body


def _bearer(request: Request) -> str | None:
    match = _BEARER.match(request.headers.get("authorization", ""))
    return match.group(1) if match else None


def _go_encode(params: Sequence[tuple[str, str]]) -> str:
    """Go's url.Values.Encode: keys sorted (values kept in order), QueryEscape'd."""
    return urlencode(sorted(params, key=lambda kv: kv[0]))


def _set_query(url: str, updates: Mapping[str, str]) -> str:
    """`q := u.Query(); q.Set(...); u.RawQuery = q.Encode()`: merge, replace, sort."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in updates]
    query = _go_encode([*kept, *updates.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _see_other(location: str, headers: Mapping[str, str] | None = None) -> Response:
    """Go's http.Redirect with 303 for a GET: Location plus a tiny HTML body."""
    body = f'<a href="{html.escape(location)}">See Other</a>.\n\n'
    return Response(
        body,
        status_code=303,
        media_type="text/html; charset=utf-8",
        headers={"location": location, **(headers or {})},
    )


def _metadata_merge(column: str) -> str:
    """models.User.UpdateUserMetaData: keys merged in, keys set to null removed."""
    return f"{column} = (coalesce({column}, '{{}}'::jsonb) || %s) - %s::text[]"


def _metadata_args(updates: Mapping[str, Any]) -> list[Any]:
    keep = {k: v for k, v in updates.items() if v is not None}
    return [Jsonb(keep), [k for k, v in updates.items() if v is None]]


def _byte_length(text: str) -> int:
    """Go's len() of a string: UTF-8 bytes, which is what GoTrue's password limits count."""
    return len(text.encode())


@dataclass
class _Session:
    """An AccessTokenResponse body and the session it belongs to (for the sb-auth-* headers)."""

    body: dict[str, Any]
    session_id: str

    def headers(self) -> dict[str, str]:
        return {
            "sb-auth-user-id": str(self.body["user"]["id"]),
            "sb-auth-session-id": self.session_id,
            "sb-auth-refresh-token-prefix": str(self.body["refresh_token"])[:5],
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, headers=self.headers())


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
                return await handler(request)
            except AuthError as error:
                return error_response(request, error)
            except OAuthError as error:
                body = {"error": error.error, "error_description": error.description}
                headers = {}
                if _wants_2024_errors(request):  # HandleResponseError echoes it on every error
                    headers[API_VERSION_HEADER] = _API_VERSION_2024
                return JSONResponse(body, status_code=400, headers=headers)

        return endpoint

    async def _body(self, request: Request, *, optional: bool = False) -> dict[str, Any]:
        """retrieveRequestParams: the body must be a JSON object (`null` counts as empty)."""
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            raise AuthError(
                413,
                "request_entity_too_large",
                f"Request body too large (max {_MAX_BODY} bytes)",
            )
        if optional and not raw:
            return {}
        try:
            data = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            raise AuthError(
                400, "bad_json", f"Could not parse request body as JSON: {exc}"
            ) from None
        if not raw.strip():
            raise AuthError(
                400,
                "bad_json",
                "Could not parse request body as JSON: unexpected end of JSON input",
            )
        if data is None:
            return {}
        if not isinstance(data, dict):
            kind = "array" if isinstance(data, list) else type(data).__name__
            raise AuthError(
                400,
                "bad_json",
                f"Could not parse request body as JSON: json: cannot unmarshal {kind} into Go"
                " value of an object",
            )
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
    def _dict(body: Mapping[str, Any], key: str) -> dict[str, Any] | None:
        """A JSON object field; None when absent or null (Go leaves the map nil)."""
        value = body.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise AuthError(
                400, "bad_json", f"Could not parse request body as JSON: {key} must be an object"
            )
        return value

    @staticmethod
    def _bool(body: Mapping[str, Any], key: str) -> bool:
        value = body.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise AuthError(
                400, "bad_json", f"Could not parse request body as JSON: {key} must be a boolean"
            )
        return value

    # -- storage ----------------------------------------------------------------------------

    async def _user(self, conn: Conn, where: str, *args: Any) -> DictRow | None:
        cur = await conn.execute(f"select * from auth.users where {where} limit 1", args)
        return await cur.fetchone()

    async def _user_by_email(self, conn: Conn, email: str) -> DictRow | None:
        return await self._user(conn, "lower(email) = %s and is_sso_user = false", email.lower())

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
        data: Mapping[str, Any] | None,
        app_metadata: Mapping[str, Any] | None = None,
        identity_metadata: bool = True,
        user_id: uuid.UUID | None = None,
        role: str = "authenticated",
    ) -> DictRow:
        """A new unconfirmed email user with its email identity.

        With `identity_metadata` (POST /signup) the identity carries the `data` keys and becomes
        the user_metadata (Signup + RemoveUnconfirmedIdentities); the admin routes keep
        user_metadata to what they were given and the identity to the bare claims.
        """
        now = self.clock()
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
            " values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated',"
            " %s, %s, %s, %s, %s, false, %s, %s, false, false)",
            (
                user_id,
                role,
                email,
                _hash_password(password) if password else "",
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

    async def _confirm(self, conn: Conn, user: DictRow, *, identity: bool = True) -> DictRow:
        """models.User.Confirm (+ signupVerify's identity update when `identity`)."""
        now = self.clock()
        await conn.execute(
            "update auth.users set email_confirmed_at = %s, confirmation_token = '',"
            f" {_metadata_merge('raw_user_meta_data')}, updated_at = %s where id = %s",
            (now, *_metadata_args({"email_verified": True}), now, user["id"]),
        )
        if identity:
            await conn.execute(
                "update auth.identities set identity_data = identity_data || %s, updated_at = %s"
                " where user_id = %s and provider = 'email' and email = lower(%s)",
                (Jsonb({"email_verified": True}), now, user["id"], user["email"] or ""),
            )
        return await self._reload(conn, user["id"])

    # -- sessions ---------------------------------------------------------------------------

    async def _issue(self, conn: Conn, user: DictRow, amr_method: str) -> _Session:
        """IssueRefreshToken: a session, its first refresh token and the AccessTokenResponse."""
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
    ) -> _Session:
        # CalculateAALAndAMR: every claim of the session, most recent first.
        cur = await conn.execute(
            "select authentication_method, updated_at from auth.mfa_amr_claims"
            " where session_id = %s order by updated_at desc",
            (session_id,),
        )
        claims = await cur.fetchall()
        amr = [
            {"method": c["authentication_method"], "timestamp": int(c["updated_at"].timestamp())}
            for c in claims
        ]
        access, expires_at = tokens.issue_access_token(
            secret=self.jwt_secret,
            issuer=self.external_url,
            user=user,
            session_id=str(session_id),
            amr=amr,
            now=self.clock().timestamp(),
            ttl=self.settings.jwt_exp,
        )
        body = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.settings.jwt_exp,
            "expires_at": expires_at,
            "refresh_token": refresh,
            "user": await self._user_body(conn, user),
        }
        return _Session(body, str(session_id))

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
        elif kind == "invite":
            sql = (
                "update auth.users set confirmation_token = %s, confirmation_sent_at = %s,"
                " invited_at = %s where id = %s"
            )
        else:
            sql = (
                "update auth.users set confirmation_token = %s, confirmation_sent_at = %s"
                " where id = %s"
            )
        args = (stored, now, now, user["id"]) if kind == "invite" else (stored, now, user["id"])
        await conn.execute(sql, args)
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
        """validateSentWithinFrequencyLimit; the seconds left are truncated, as Go's division."""
        if sent_at is None:
            return
        wait = self.settings.smtp_max_frequency - (self.clock() - sent_at).total_seconds()
        if wait > 0:
            raise AuthError(
                429,
                "over_email_send_rate_limit",
                f"For security purposes, you can only request this after {int(wait)} seconds.",
            )

    def _allow_list(self) -> tuple[str, ...]:
        if self.faults.has("auth.redirect_disallowed"):
            return ()
        return self.settings.uri_allow_list

    def _redirect_allowed(self, redirect: str) -> bool:
        return is_redirect_allowed(redirect, self.settings.site_url, self._allow_list())

    def _referrer(self, request: Request) -> str:
        """utilities.GetReferrer: the `redirect_to` header if set, else the query's; then Referer.

        Each must pass the allow-list, and the Site URL is the silent fallback.
        """
        asked = request.headers.get("redirect_to") or request.query_params.get("redirect_to")
        candidates = (asked, request.headers.get("referer"))
        return resolve_redirect(candidates, self.settings.site_url, self._allow_list())

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
            raise AuthError(500, "unexpected_failure", _UNEXPECTED)
        if self.settings.disable_signup:
            raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
        body = await self._body(request)
        email, phone = self._str(body, "email"), self._str(body, "phone")
        password = self._str(body, "password")
        data = self._dict(body, "data") or {}
        challenge = self._str(body, "code_challenge")
        method = self._str(body, "code_challenge_method")
        # validateSignupParams
        if not password:
            raise AuthError(400, "validation_failed", "Signup requires a valid password")
        self._check_strength(password)
        if email and phone:
            raise AuthError(
                400,
                "validation_failed",
                "Only an email address or phone number should be provided on signup.",
            )
        if phone and challenge:
            raise AuthError(400, "validation_failed", "PKCE not supported for phone signups")
        self._check_pkce(challenge, method)
        if phone:
            raise AuthError(400, "phone_provider_disabled", "Phone signups are disabled")
        if not email:
            raise AuthError(400, "validation_failed", "Sign up only available with email provider")
        email = self._valid_email(email)
        redirect = self._referrer(request)
        pkce = (challenge, method) if challenge else None
        async with self.pool.connection() as conn, conn.transaction():
            existing = await self._user_by_email(conn, email)
            if existing is not None:
                return await self._signup_existing(conn, existing, data, redirect, pkce)
            user = await self._insert_user(conn, email=email, password=password, data=data)
            if self._autoconfirm():
                user = await self._confirm(conn, user)
                return (await self._issue(conn, user, "password")).response()
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
            return JSONResponse(await self._fake_user(conn, existing, data))
        # "do not update the user because we can't be sure of their claimed identity"
        if pkce:
            await self._new_flow_state(conn, existing["id"], *pkce)
        self._check_frequency(existing["confirmation_sent_at"])
        await self._send_link(conn, existing, redirect=redirect, pkce=bool(pkce))
        user = await self._reload(conn, existing["id"])
        return JSONResponse(await self._user_body(conn, user))

    async def _fake_user(
        self, conn: Conn, existing: DictRow, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """sanitizeUser: the existing user with a new id and everything telling cleared."""
        await self._audit(conn, "user_repeated_signup", existing)
        now = _ts(self.clock())
        body = user_json(existing, [])
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

    def _check_strength(self, password: str) -> None:
        """checkPasswordStrength: lengths in UTF-8 bytes, as Go counts them."""
        if _byte_length(password) > _MAX_PASSWORD_BYTES:
            raise AuthError(
                400,
                "validation_failed",
                f"Password cannot be longer than {_MAX_PASSWORD_BYTES} characters",
            )
        minimum = self.settings.password_min_length
        if _byte_length(password) < minimum:
            raise AuthError(
                422,
                "weak_password",
                f"Password should be at least {minimum} characters.",
                weak_password={"reasons": ["length"]},
            )

    @staticmethod
    def _check_pkce(challenge: str, method: str) -> None:
        """validatePKCEParams (the method itself is only parsed when the flow state is made)."""
        if bool(challenge) != bool(method):
            raise AuthError(
                400,
                "validation_failed",
                "PKCE flow requires code_challenge_method and code_challenge",
            )
        if not challenge:
            return
        if not 43 <= len(challenge) <= 128:
            raise AuthError(
                400,
                "validation_failed",
                "code challenge has to be between 43 and 128 characters",
            )
        if not _CHALLENGE_CHARS.fullmatch(challenge):
            raise AuthError(
                400,
                "validation_failed",
                "code challenge can only contain alphanumeric characters, hyphens, periods,"
                " underscores and tildes",
            )

    @staticmethod
    def _valid_email(email: str) -> str:
        """validateEmail."""
        if not email:
            raise AuthError(400, "validation_failed", "An email address is required")
        if len(email) > 255:
            raise AuthError(400, "validation_failed", "An email address is too long")
        if not _EMAIL.fullmatch(email):
            raise AuthError(
                400, "validation_failed", "Unable to validate email address: invalid format"
            )
        return email.lower()

    async def _new_flow_state(self, conn: Conn, user_id: Any, challenge: str, method: str) -> None:
        """generateFlowState for an email sign-up; an unknown method fails only here (a 500)."""
        if method.lower() not in ("s256", "plain"):
            raise AuthError(500, "unexpected_failure", _UNEXPECTED)
        now = self.clock()
        await conn.execute(
            "insert into auth.flow_state (id, user_id, auth_code, code_challenge_method,"
            " code_challenge, provider_type, created_at, updated_at, authentication_method)"
            " values (%s, %s, %s, %s, %s, 'email', %s, %s, 'email/signup')",
            (uuid.uuid4(), user_id, str(uuid.uuid4()), method.lower(), challenge, now, now),
        )

    async def verify_link(self, request: Request) -> Response:
        """GET /verify: the emailed link. Validation errors are JSON; the rest a 303."""
        token = request.query_params.get("token", "")
        kind = request.query_params.get("type", "")
        redirect = self._referrer(request)
        if not kind:
            raise AuthError(400, "validation_failed", "Verify requires a verification type")
        if not token:
            raise AuthError(400, "validation_failed", "Verify requires a token or a token hash")
        is_pkce = token.startswith("pkce_")
        if is_pkce and kind not in _PKCE_AUTH_METHODS:
            raise AuthError(500, "unexpected_failure", _UNEXPECTED)  # ParseAuthenticationMethod
        try:
            async with self.pool.connection() as conn, conn.transaction():
                user, resolved = await self._verify_token_hash(conn, token, kind)
                user = await self._apply_verification(conn, user, resolved)
                if is_pkce:
                    code = await self._issue_auth_code(conn, user["id"], _PKCE_AUTH_METHODS[kind])
                    return _see_other(_set_query(redirect, {"code": code}))
                session = await self._issue(conn, user, "otp")
        except AuthError as error:
            return self._error_redirect(redirect, error, is_pkce)
        params = {
            "access_token": session.body["access_token"],
            "expires_at": str(session.body["expires_at"]),
            "expires_in": str(session.body["expires_in"]),
            "refresh_token": session.body["refresh_token"],
            "sb": "",
            "token_type": "bearer",
            "type": kind,
        }
        # AccessTokenResponse.AsRedirectURL appends after a plain '#'.
        return _see_other(f"{redirect}#{_go_encode(list(params.items()))}", session.headers())

    @staticmethod
    def _error_redirect(redirect: str, error: AuthError, pkce: bool) -> Response:
        """prepErrorRedirectURL: the error in the fragment (and, for PKCE, the query too)."""
        params: dict[str, str] = {}
        if error.status in _OAUTH_ERRORS:
            params["error"] = _OAUTH_ERRORS[error.status]
        params["error_code"] = error.code
        params["error_description"] = error.message
        target = _set_query(redirect, params) if pkce else redirect
        parts = urlsplit(target)
        # Go escapes the already-encoded fragment once more: '%' becomes '%25'.
        fragment = _go_encode([*params.items(), ("sb", "")]).replace("%", "%25")
        return _see_other(urlunsplit((*parts[:4], fragment)))

    async def _verify_token_hash(
        self, conn: Conn, token_hash: str, kind: str
    ) -> tuple[DictRow, str]:
        """verifyTokenHash: the user whose stored link token is exactly `token_hash`.

        Returns the user and the verification type, an `email` link resolving to `signup` or
        `magiclink` by the token it matched.
        """
        if kind not in _LINK_TYPES:
            raise AuthError(400, "validation_failed", "Invalid email verification type")
        invalid = AuthError(403, "otp_expired", "Email link is invalid or has expired")
        if kind == "email_change":
            raise invalid  # the sandbox never issues email-change tokens
        columns = {
            "signup": ["confirmation"],
            "invite": ["confirmation"],
            "recovery": ["recovery"],
            "magiclink": ["recovery"],
            "email": ["confirmation", "recovery"],
        }[kind]
        for column in columns:
            user = await self._user(
                conn, f"{column}_token = %s and {column}_token <> ''", token_hash
            )
            if user is None:
                continue
            if user["banned_until"] is not None and user["banned_until"] > self.clock():
                raise AuthError(403, "user_banned", "User is banned")
            if self._otp_expired(user[f"{column}_sent_at"]):
                raise invalid
            if kind == "email":
                return user, "signup" if column == "confirmation" else "magiclink"
            return user, kind
        raise invalid

    def _otp_expired(self, sent_at: datetime | None) -> bool:
        if sent_at is None:
            return True
        return self.clock() > sent_at + timedelta(seconds=self.settings.otp_exp)

    async def _apply_verification(self, conn: Conn, user: DictRow, kind: str) -> DictRow:
        """signupVerify (signup, invite) or recoverVerify (recovery, magiclink)."""
        if kind in ("recovery", "magiclink"):
            await conn.execute(
                "update auth.users set recovery_token = '', updated_at = %s where id = %s",
                (self.clock(), user["id"]),
            )
            if user["email_confirmed_at"] is not None:
                return await self._reload(conn, user["id"])
            return await self._confirm(conn, user, identity=False)
        return await self._confirm(conn, user)

    async def _issue_auth_code(self, conn: Conn, user_id: Any, method: str) -> str:
        """issueAuthCode: the user's latest flow state for this authentication method."""
        cur = await conn.execute(
            "select id, auth_code from auth.flow_state where user_id = %s"
            " and authentication_method = %s order by created_at desc limit 1",
            (user_id, method),
        )
        row = await cur.fetchone()
        if row is None:
            # A 422 inside, re-wrapped by verifyGet as a 400 whose text embeds the first.
            raise AuthError(
                400,
                "flow_state_not_found",
                "No associated flow state found. 422: No valid flow state found for user.",
            )
        now = self.clock()
        await conn.execute(
            "update auth.flow_state set auth_code_issued_at = %s, updated_at = %s where id = %s",
            (now, now, row["id"]),
        )
        return str(row["auth_code"])

    async def verify_otp(self, request: Request) -> Response:
        """POST /verify: an emailed OTP (with the email) or a token hash."""
        body = await self._body(request)
        kind = self._str(body, "type")
        token, token_hash = self._str(body, "token"), self._str(body, "token_hash")
        email, phone = self._str(body, "email"), self._str(body, "phone")
        if not kind:
            raise AuthError(400, "validation_failed", "Verify requires a verification type")
        if bool(token) == bool(token_hash):
            raise AuthError(
                400, "validation_failed", "Verify requires either a token or a token hash"
            )
        async with self.pool.connection() as conn, conn.transaction():
            if token:
                if phone and not email:
                    raise AuthError(403, "otp_expired", "Token has expired or is invalid")
                if not email or phone:
                    raise AuthError(
                        400,
                        "validation_failed",
                        "Only an email address or phone number should be provided on verify",
                    )
                try:
                    email = self._valid_email(email)
                except AuthError:
                    raise AuthError(422, "validation_failed", "Invalid email format") from None
                user, kind = await self._verify_user_and_token(
                    conn, email, tokens.token_hash(email, token), kind
                )
            else:
                if email or phone or self._str(body, "redirect_to"):
                    raise AuthError(
                        400, "validation_failed", "Only the token_hash and type should be provided"
                    )
                user, kind = await self._verify_token_hash(conn, token_hash, kind)
            user = await self._apply_verification(conn, user, kind)
            return (await self._issue(conn, user, "otp")).response()

    async def _verify_user_and_token(
        self, conn: Conn, email: str, token_hash: str, kind: str
    ) -> tuple[DictRow, str]:
        """verifyUserAndToken: the OTP must match the user's stored token (`pkce_` tolerated)."""
        invalid = AuthError(403, "otp_expired", "Token has expired or is invalid")
        user = await self._user_by_email(conn, email)
        if user is None:
            raise invalid
        if user["banned_until"] is not None and user["banned_until"] > self.clock():
            raise AuthError(403, "user_banned", "User is banned")

        def valid(column: str) -> bool:
            stored = user[f"{column}_token"] or ""
            return (
                bool(stored)
                and not self._otp_expired(user[f"{column}_sent_at"])
                and stored in (token_hash, "pkce_" + token_hash)
            )

        if kind == "email":
            if valid("confirmation"):
                return user, "signup"
            if valid("recovery"):
                return user, "magiclink"
            raise invalid
        column = "confirmation" if kind in ("signup", "invite") else "recovery"
        if kind in ("signup", "invite", "recovery", "magiclink") and valid(column):
            return user, kind
        raise invalid

    async def token(self, request: Request) -> Response:
        """POST /token?grant_type=password|refresh_token|pkce."""
        grant = request.query_params.get("grant_type", "")
        if grant == "password":
            return await self._grant_password(await self._body(request))
        if grant == "refresh_token":
            return await self._grant_refresh(await self._body(request))
        if grant == "pkce":
            return await self._grant_pkce(await self._body(request))
        raise AuthError(400, "invalid_credentials", "unsupported_grant_type")

    async def _grant_password(self, body: Mapping[str, Any]) -> Response:
        """ResourceOwnerPasswordGrant."""
        email, phone = self._str(body, "email"), self._str(body, "phone")
        password = self._str(body, "password")
        if email and phone:
            raise AuthError(
                400,
                "validation_failed",
                "Only an email address or phone number should be provided on login.",
            )
        if phone:
            raise AuthError(422, "phone_provider_disabled", "Phone logins are disabled")
        if not email:
            raise AuthError(400, "validation_failed", "missing email or phone")
        invalid = AuthError(400, "invalid_credentials", "Invalid login credentials")
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._user_by_email(conn, email)
            if user is None or not user["encrypted_password"]:
                raise invalid
            if user["banned_until"] is not None and user["banned_until"] > self.clock():
                raise AuthError(400, "user_banned", "User is banned")
            if not _password_matches(password, user["encrypted_password"]):
                raise invalid
            if user["email_confirmed_at"] is None:
                raise AuthError(400, "email_not_confirmed", "Email not confirmed")
            return (await self._issue(conn, user, "password")).response()

    async def _grant_refresh(self, body: Mapping[str, Any]) -> Response:
        """RefreshTokenGrant for GoTrue's default (12-character) refresh tokens."""
        token = self._str(body, "refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token required")
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
            user = await self._user(conn, "id::text = %s", row["user_id"])
            if user is None:
                raise AuthError(
                    400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
                )
            if user["banned_until"] is not None and user["banned_until"] > self.clock():
                raise AuthError(400, "user_banned", "Invalid Refresh Token: User Banned")
            session = await (
                await conn.execute(
                    "select * from auth.sessions where id = %s", (row["session_id"],)
                )
            ).fetchone()
            if session is None:
                raise AuthError(
                    400, "session_not_found", "Invalid Refresh Token: No Valid Session Found"
                )
            issued = await self._rotate(conn, row, session["id"])
            if issued is None:
                raise AuthError(
                    400, "refresh_token_already_used", "Invalid Refresh Token: Already Used"
                )
            now = self.clock()
            await conn.execute(
                "update auth.sessions set refreshed_at = %s, updated_at = %s where id = %s",
                (now.astimezone(UTC).replace(tzinfo=None), now, session["id"]),
            )
            await self._audit(conn, "token_refreshed", user)
            response = await self._token_response(conn, user, session["id"], issued)
            return response.response()

    async def _rotate(self, conn: Conn, row: DictRow, session_id: Any) -> str | None:
        """The refresh token to hand out for `row`, or None when its reuse is refused.

        GoTrue: a revoked token whose child is the session's active token gets that child back
        (the client lost the last response); any other revoked token is allowed within the
        reuse interval after its revocation, else the whole session's tokens are revoked.
        """
        now = self.clock()
        if row["revoked"]:
            cur = await conn.execute(
                "select token, parent from auth.refresh_tokens where session_id = %s"
                " and not revoked order by id desc limit 1",
                (session_id,),
            )
            active = await cur.fetchone()
            if active is not None and active["parent"] == row["token"]:
                return str(active["token"])
            reuse_until = row["updated_at"] + timedelta(
                seconds=self.settings.refresh_token_reuse_interval
            )
            if now > reuse_until:
                # RevokeTokenFamily, committed with the error (storage.NewCommitWithError).
                await conn.execute(
                    "update auth.refresh_tokens set revoked = true, updated_at = %s"
                    " where session_id = %s and not revoked",
                    (now, session_id),
                )
                return None
        await conn.execute(
            "update auth.refresh_tokens set revoked = true, updated_at = %s where id = %s",
            (now, row["id"]),
        )
        user = {"id": row["user_id"]}
        return await self._new_refresh_token(conn, user, session_id, parent=row["token"])

    async def _grant_pkce(self, body: Mapping[str, Any]) -> Response:
        """PKCE: exchange the code from the verify redirect for a session."""
        code, verifier = self._str(body, "auth_code"), self._str(body, "code_verifier")
        if not code or not verifier:
            raise AuthError(
                400,
                "validation_failed",
                "invalid request: both auth code and code verifier should be non-empty",
            )
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "select * from auth.flow_state where auth_code = %s for update", (code,)
            )
            flow = await cur.fetchone()
            if flow is None or flow["user_id"] is None:
                raise AuthError(
                    404, "flow_state_not_found", "invalid flow state, no valid flow state found"
                )
            # FlowState.IsExpired: from creation, except magic links (from the code's issue).
            started = flow["created_at"]
            if flow["authentication_method"] == "magiclink" and flow["auth_code_issued_at"]:
                started = flow["auth_code_issued_at"]
            if self.clock() > started + timedelta(seconds=self.settings.flow_state_expiry):
                raise AuthError(
                    422, "flow_state_expired", "invalid flow state, flow state has expired"
                )
            user = await self._user(conn, "id = %s", flow["user_id"])
            if user is None:
                raise AuthError(404, "user_not_found", "User not found")
            if not tokens.pkce_challenge_matches(
                verifier, flow["code_challenge"], flow["code_challenge_method"]
            ):
                raise AuthError(
                    400,
                    "bad_code_verifier",
                    "code challenge does not match previously saved code verifier",
                )
            session = await self._issue(conn, user, flow["authentication_method"])
            await conn.execute("delete from auth.flow_state where id = %s", (flow["id"],))
            return session.response()

    # -- the signed-in user -----------------------------------------------------------------

    def _claims(self, request: Request) -> dict[str, Any]:
        """extractBearerToken + parseJWTClaims."""
        token = _bearer(request)
        if token is None:
            raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
        try:
            return tokens.decode(token, self.jwt_secret, now=self.clock().timestamp())
        except tokens.InvalidToken as exc:
            raise AuthError(
                403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}"
            ) from None

    async def _signed_in(self, conn: Conn, request: Request) -> tuple[dict[str, Any], DictRow]:
        """requireAuthentication: maybeLoadUserOrSession, then the ban check."""
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
        if session_id and session_id != str(uuid.UUID(int=0)):
            try:
                session_uuid = uuid.UUID(str(session_id))
            except ValueError:
                raise AuthError(
                    403, "bad_jwt", "invalid claim: session_id claim must be a UUID"
                ) from None
            cur = await conn.execute("select 1 from auth.sessions where id = %s", (session_uuid,))
            if await cur.fetchone() is None:
                raise AuthError(
                    403,
                    "session_not_found",
                    "Session from session_id claim in JWT does not exist",
                )
        if user["banned_until"] is not None and user["banned_until"] > self.clock():
            raise AuthError(403, "user_banned", "User is banned")
        return claims, user

    @staticmethod
    def _request_aud(request: Request, claims: Mapping[str, Any]) -> str:
        """requestAud: X-JWT-AUD, else the token's aud (ignored for admin roles), else default."""
        header = request.headers.get("x-jwt-aud")
        if header:
            return header
        if claims.get("role") not in _ADMIN_ROLES:
            aud = claims.get("aud")
            if isinstance(aud, list):
                aud = aud[0] if aud else ""
            if isinstance(aud, str) and aud:
                return aud
        return "authenticated"

    async def get_user(self, request: Request) -> Response:
        """GET /user."""
        async with self.pool.connection() as conn:
            claims, user = await self._signed_in(conn, request)
            token_aud = claims.get("aud")
            if isinstance(token_aud, list):
                token_aud = token_aud[0] if token_aud else None
            if not token_aud or self._request_aud(request, claims) != token_aud:
                raise AuthError(
                    400, "validation_failed", "Token audience doesn't match request audience"
                )
            return JSONResponse(await self._user_body(conn, user))

    async def update_user(self, request: Request) -> Response:
        """PUT /user: metadata, password and (recorded, not mailed) email change."""
        async with self.pool.connection() as conn, conn.transaction():
            claims, user = await self._signed_in(conn, request)
            body = await self._body(request)
            email = self._str(body, "email")
            if email:
                email = self._valid_email(email)
            password = body.get("password")
            if password is not None:
                password = self._str(body, "password")
                self._check_strength(password)
            if body.get("app_metadata") is not None and claims.get("role") not in _ADMIN_ROLES:
                raise AuthError(403, "not_admin", "Updating app_metadata requires admin privileges")
            if email and email != user["email"]:
                taken = await self._user_by_email(conn, email)
                if taken is not None and taken["id"] != user["id"]:
                    raise AuthError(422, "email_exists", _DUPLICATE_EMAIL)
            if password and _password_matches(password, user["encrypted_password"]):
                raise AuthError(
                    422,
                    "same_password",
                    "New password should be different from the old password.",
                )
            now = self.clock()
            if password is not None:
                # UpdatePassword: pending tokens cleared, every other session signed out.
                await conn.execute(
                    "update auth.users set encrypted_password = %s, confirmation_token = '',"
                    " confirmation_sent_at = null, recovery_token = '', recovery_sent_at = null,"
                    " email_change_token_current = '', email_change_token_new = '',"
                    " email_change_sent_at = null, updated_at = %s where id = %s",
                    (_hash_password(password) if password else "", now, user["id"]),
                )
                await conn.execute(
                    "delete from auth.sessions where user_id = %s and id::text <> %s",
                    (user["id"], str(claims.get("session_id") or "")),
                )
            data = self._dict(body, "data")
            if data is not None:
                await conn.execute(
                    f"update auth.users set {_metadata_merge('raw_user_meta_data')},"
                    " updated_at = %s where id = %s",
                    (*_metadata_args(data), now, user["id"]),
                )
            app_data = self._dict(body, "app_metadata")
            if app_data is not None:
                await conn.execute(
                    f"update auth.users set {_metadata_merge('raw_app_meta_data')},"
                    " updated_at = %s where id = %s",
                    (*_metadata_args(app_data), now, user["id"]),
                )
            if email and email != user["email"]:
                await conn.execute(
                    "update auth.users set email_change = %s, email_change_sent_at = %s"
                    " where id = %s",
                    (email, now, user["id"]),
                )
            user = await self._reload(conn, user["id"])
            await self._audit(conn, "user_modified", user)
            return JSONResponse(await self._user_body(conn, user))

    async def logout(self, request: Request) -> Response:
        """POST /logout?scope=global|local|others: 204, the session(s) revoked."""
        async with self.pool.connection() as conn, conn.transaction():
            claims, user = await self._signed_in(conn, request)
            scope = request.query_params.get("scope", "")
            if scope not in ("", "global", "local", "others"):
                raise AuthError(
                    400, "validation_failed", f"Unsupported logout scope {json.dumps(scope)}"
                )
            session_id = claims.get("session_id")
            await self._audit(conn, "logout", user)
            if scope == "local" and session_id:
                await conn.execute("delete from auth.sessions where id = %s", (session_id,))
            elif scope == "others" and session_id:
                await conn.execute(
                    "delete from auth.sessions where user_id = %s and id <> %s",
                    (user["id"], session_id),
                )
            else:
                await conn.execute("delete from auth.sessions where user_id = %s", (user["id"],))
        return Response(status_code=204)

    async def resend(self, request: Request) -> Response:
        """POST /resend: 200 `{}` whatever the address, so it leaks nothing."""
        body = await self._body(request)
        kind = self._str(body, "type")
        email, phone = self._str(body, "email"), self._str(body, "phone")
        challenge = self._str(body, "code_challenge")
        method = self._str(body, "code_challenge_method")
        if kind in ("signup", "email_change"):
            self._check_pkce(challenge, method)
        elif kind not in ("sms", "phone_change"):
            raise AuthError(
                400,
                "validation_failed",
                "Missing one of these types: signup, email_change, sms, phone_change",
            )
        if not email and kind == "signup":
            raise AuthError(400, "validation_failed", "Type provided requires an email address")
        if not phone and kind == "sms":
            raise AuthError(400, "validation_failed", "Type provided requires a phone number")
        if email and phone:
            raise AuthError(
                400,
                "validation_failed",
                "Only an email address or phone number should be provided.",
            )
        if phone:
            raise AuthError(400, "phone_provider_disabled", "Phone logins are disabled")
        if not email:
            raise AuthError(400, "validation_failed", "Missing email address or phone number")
        email = self._valid_email(email)
        redirect = self._referrer(request)
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._user_by_email(conn, email)
            if user is None or kind != "signup" or user["email_confirmed_at"] is not None:
                # Unknown, already confirmed, or an email change the sandbox does not mail.
                return JSONResponse({})
            await self._audit(conn, "user_confirmation_requested", user)
            if challenge:
                await self._new_flow_state(conn, user["id"], challenge, method)
            self._check_frequency(user["confirmation_sent_at"])
            await self._send_link(conn, user, redirect=redirect, pkce=bool(challenge))
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
        """GET /admin/users?page=&per_page= (empty values mean the defaults)."""
        self._admin(request)

        def number(name: str, default: int) -> int:
            raw = request.query_params.get(name, "")
            if not raw:
                return default
            if not re.fullmatch(r"[0-9]+", raw):
                raise AuthError(
                    400,
                    "validation_failed",
                    f'Bad Pagination Parameters: strconv.ParseUint: parsing "{raw}":'
                    " invalid syntax",
                )
            return max(1, int(raw))

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
        last = -(-total // per_page)
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
        link = ""
        if last > page:
            link += f'</admin/users?{_go_encode([*params, ("page", str(page + 1))])}>; rel="next", '
        link += f'</admin/users?{_go_encode([*params, ("page", str(last))])}>; rel="last"'
        headers = {"X-Total-Count": str(total), "Link": link}
        return JSONResponse({"users": users, "aud": "authenticated"}, headers=headers)

    async def admin_create_user(self, request: Request) -> Response:
        """POST /admin/users (adminUserCreate)."""
        self._admin(request)
        body = await self._body(request)
        email, phone = self._str(body, "email"), self._str(body, "phone")
        if not email and not phone:
            raise AuthError(
                400, "validation_failed", "Cannot create a user without either an email or phone"
            )
        if phone:
            raise AuthError(400, "phone_provider_disabled", "Phone logins are disabled")
        email = self._valid_email(email)
        password = self._str(body, "password")
        if _byte_length(password) > _MAX_PASSWORD_BYTES:
            raise AuthError(400, "validation_failed", "bcrypt: password length exceeds 72 bytes")
        custom_id = None
        if self._str(body, "id"):
            try:
                custom_id = uuid.UUID(self._str(body, "id"))
            except ValueError:
                raise AuthError(
                    400, "validation_failed", "ID must conform to the uuid v4 format"
                ) from None
            if custom_id.int == 0:
                raise AuthError(400, "validation_failed", "ID cannot be a nil uuid")
        ban = self._ban_until(self._str(body, "ban_duration"))
        async with self.pool.connection() as conn, conn.transaction():
            if await self._user_by_email(conn, email) is not None:
                raise AuthError(422, "email_exists", _DUPLICATE_EMAIL)
            user = await self._insert_user(
                conn,
                email=email,
                password=password or secrets.token_urlsafe(48),
                data=self._dict(body, "user_metadata"),
                app_metadata=self._dict(body, "app_metadata"),
                identity_metadata=False,
                user_id=custom_id,
                role=self._str(body, "role") or "authenticated",
            )
            if self._bool(body, "email_confirm"):
                user = await self._confirm(conn, user, identity=False)
            if ban is not None:
                await conn.execute(
                    "update auth.users set banned_until = %s where id = %s",
                    (ban[0], user["id"]),
                )
                user = await self._reload(conn, user["id"])
            return JSONResponse(await self._user_body(conn, user))

    def _ban_until(self, text: str) -> tuple[datetime | None] | None:
        """ban_duration as time.ParseDuration reads it; ("none" or 0 lifts a ban)."""
        if not text:
            return None
        if text == "none":
            return (None,)
        seconds = _parse_duration(text)
        return (None,) if seconds == 0 else (self.clock() + timedelta(seconds=seconds),)

    async def admin_get_user(self, request: Request) -> Response:
        """GET /admin/users/{id}."""
        self._admin(request)
        user_id = self._user_id(request)
        async with self.pool.connection() as conn:
            user = await self._reload(conn, user_id)
            return JSONResponse(await self._user_body(conn, user))

    async def admin_update_user(self, request: Request) -> Response:
        """PUT /admin/users/{id} (adminUserUpdate): metadata merged, password, email, ban."""
        self._admin(request)
        user_id = self._user_id(request)
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._reload(conn, user_id)
            body = await self._body(request)
            email = self._str(body, "email")
            if email:
                email = self._valid_email(email)
            if self._str(body, "phone"):
                raise AuthError(400, "phone_provider_disabled", "Phone logins are disabled")
            ban = self._ban_until(self._str(body, "ban_duration"))
            password = body.get("password")
            if password is not None:
                password = self._str(body, "password")
                self._check_strength(password)
            now = self.clock()
            if self._str(body, "role"):
                await conn.execute(
                    "update auth.users set role = %s where id = %s",
                    (self._str(body, "role"), user_id),
                )
            if self._bool(body, "email_confirm"):
                user = await self._confirm(conn, user, identity=False)
            if password is not None:
                # UpdatePassword with no session: every session of the user is signed out.
                await conn.execute(
                    "update auth.users set encrypted_password = %s, confirmation_token = '',"
                    " confirmation_sent_at = null, recovery_token = '', recovery_sent_at = null"
                    " where id = %s",
                    (_hash_password(password) if password else "", user_id),
                )
                await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))
            if email:
                verified = self._bool(body, "email_confirm")
                await conn.execute(
                    "update auth.identities set identity_data = identity_data || %s,"
                    " updated_at = %s where user_id = %s and provider = 'email'",
                    (Jsonb({"email": email, "email_verified": verified}), now, user_id),
                )
                await conn.execute(
                    "update auth.users set email = %s where id = %s", (email, user_id)
                )
            for key, column in (
                ("app_metadata", "raw_app_meta_data"),
                ("user_metadata", "raw_user_meta_data"),
            ):
                updates = self._dict(body, key)
                if updates is not None:
                    await conn.execute(
                        f"update auth.users set {_metadata_merge(column)} where id = %s",
                        (*_metadata_args(updates), user_id),
                    )
            if ban is not None:
                await conn.execute(
                    "update auth.users set banned_until = %s where id = %s", (ban[0], user_id)
                )
            await conn.execute(
                "update auth.users set updated_at = %s where id = %s", (now, user_id)
            )
            user = await self._reload(conn, user_id)
            await self._audit(conn, "user_modified", user)
            return JSONResponse(await self._user_body(conn, user))

    async def admin_delete_user(self, request: Request) -> Response:
        """DELETE /admin/users/{id}: 200 `{}`; everything hanging off the user goes with it."""
        self._admin(request)
        user_id = self._user_id(request)
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._reload(conn, user_id)
            body = await self._body(request, optional=True)
            await self._audit(conn, "user_deleted", user)
            if self._bool(body, "should_soft_delete"):
                if user["deleted_at"] is None:
                    await conn.execute(
                        "update auth.users set deleted_at = %s, email = null, phone = null,"
                        " encrypted_password = '', confirmation_token = '', recovery_token = '',"
                        " raw_user_meta_data = '{}', raw_app_meta_data = '{}' where id = %s",
                        (self.clock(), user_id),
                    )
                    await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))
                    await conn.execute("delete from auth.identities where user_id = %s", (user_id,))
            else:
                await conn.execute("delete from auth.users where id = %s", (user_id,))
        return JSONResponse({})

    async def admin_generate_link(self, request: Request) -> Response:
        """POST /admin/generate_link: a link and OTP, created without sending any email."""
        self._admin(request)
        body = await self._body(request)
        kind = self._str(body, "type")
        email = self._valid_email(self._str(body, "email"))
        redirect = self._referrer(request)
        asked = self._str(body, "redirect_to")
        if self._redirect_allowed(asked):
            redirect = asked
        data = self._dict(body, "data")
        password = self._str(body, "password")
        async with self.pool.connection() as conn, conn.transaction():
            user = await self._user_by_email(conn, email)
            if user is None:
                if kind == "magiclink":
                    kind, password = "signup", secrets.token_urlsafe(48)
                elif kind in ("recovery", "email_change_current", "email_change_new"):
                    raise AuthError(404, "user_not_found", "User with this email not found")
            if kind in ("signup", "invite"):
                if user is None:
                    if kind == "signup":
                        if not password:
                            raise AuthError(
                                400, "validation_failed", "Signup requires a valid password"
                            )
                        self._check_strength(password)
                    user = await self._insert_user(
                        conn,
                        email=email,
                        password=password or None,
                        data=data,
                        identity_metadata=False,
                    )
                elif user["email_confirmed_at"] is not None:
                    raise AuthError(422, "email_exists", _DUPLICATE_EMAIL)
                elif kind == "signup" and data is not None:
                    await conn.execute(
                        f"update auth.users set {_metadata_merge('raw_user_meta_data')}"
                        " where id = %s",
                        (*_metadata_args(data), user["id"]),
                    )
            elif kind not in ("magiclink", "recovery"):
                raise AuthError(
                    400, "validation_failed", f"Invalid email action link type requested: {kind}"
                )
            assert user is not None
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


def _parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds: `24h`, `1h30m`, `1.5h`, `90s`, `-1h`, `0`."""
    if text in ("0", "+0", "-0"):
        return 0.0
    match = _GO_DURATION.fullmatch(text)
    if match is None:
        raise AuthError(
            400,
            "validation_failed",
            f'invalid format for ban duration: time: invalid duration "{text}"',
        )
    total = sum(
        float(amount) * _GO_DURATION_UNITS[unit]
        for amount, unit in _GO_DURATION_PART.findall(match.group(2))
    )
    return -total if match.group(1) == "-" else total
