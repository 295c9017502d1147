"""A thin client for the Supabase APIs the checks use: Auth (GoTrue) and PostgREST, timed.

It speaks the wire protocol directly (like the official clients do) so the checks can see status
codes, headers and redirects that the official client hides. Every credential it sends or
receives is registered with the run's Redactor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from synthetics import __version__
from synthetics.clients.http import BadResponse, Call, Http
from synthetics.redact import Redactor
from synthetics.text import one_line
from synthetics.users import OwnedRows

API_VERSION = "2024-01-01"


def error_code(call: Call) -> str | None:
    """GoTrue's or PostgREST's error code of a failed call, if the body carries one."""
    try:
        body = call.response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    code = body.get("code")
    if isinstance(code, str):
        return code
    value = body.get("error_code") or body.get("error")
    return value if isinstance(value, str) else None


def error_message(call: Call) -> str:
    """The human message of a failed call (GoTrue's msg/message, PostgREST's message)."""
    try:
        body = call.response.json()
    except ValueError:
        return call.response.text[:200]
    if isinstance(body, dict):
        for key in ("msg", "message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return str(body)[:200]


def _in(ids: Sequence[str]) -> str:
    """PostgREST's `in.(…)` filter of uuids (quoted, so any text is safe)."""
    return "in.(" + ",".join('"' + i.replace('"', "") + '"' for i in ids) + ")"


def _refused(call: Call, what: str) -> str:
    code = error_code(call)
    detail = f"{code}: " if code else ""
    return f"{what} answered {call.status} ({detail}{one_line(error_message(call), limit=200)})"


@dataclass
class Supabase:
    """One Supabase project: URL, keys, and the Http that times and retries calls."""

    http: Http
    url: str
    anon_key: str
    service_role_key: str | None
    redactor: Redactor

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.redactor.add(self.anon_key, self.service_role_key)

    def _headers(self, bearer: str | None = None, *, key: str | None = None) -> dict[str, str]:
        apikey = key or self.anon_key
        return {
            "apikey": apikey,
            "Authorization": f"Bearer {bearer or apikey}",
            "X-Supabase-Api-Version": API_VERSION,
            "X-Client-Info": f"supabase-synthetics/{__version__}",
        }

    def _admin_headers(self) -> dict[str, str]:
        if not self.service_role_key:
            raise RuntimeError("no service-role key configured")
        return self._headers(key=self.service_role_key)

    def remember_session(self, body: Mapping[str, Any]) -> None:
        """Register the tokens of an AccessTokenResponse as secrets."""
        for key in ("access_token", "refresh_token", "provider_token"):
            value = body.get(key)
            if isinstance(value, str):
                self.redactor.add(value)

    def _session_call(self, call: Call) -> Call:
        if call.status == 200:
            try:
                body = call.response.json()
            except ValueError:
                return call
            if isinstance(body, dict):
                self.remember_session(body)
        return call

    # -- Auth -------------------------------------------------------------------------------

    def health(self) -> Call:
        """GET /auth/v1/health."""
        return self.http.request("GET", f"{self.url}/auth/v1/health", headers=self._headers())

    def rest_root(self) -> Call:
        """GET /rest/v1/ (PostgREST's root answers when REST is up)."""
        return self.http.request("GET", f"{self.url}/rest/v1/", headers=self._headers())

    def settings(self) -> Call:
        """GET /auth/v1/settings."""
        return self.http.request("GET", f"{self.url}/auth/v1/settings", headers=self._headers())

    def signup(
        self,
        email: str,
        password: str,
        *,
        redirect_to: str,
        data: Mapping[str, Any],
        code_challenge: str | None = None,
        retries: int | None = None,
    ) -> Call:
        """POST /auth/v1/signup as supabase-js does (PKCE when a challenge is given).

        `retries=0` sends it once: a lost answer may mean the user was created, which the caller
        must find out before sending it again."""
        self.redactor.add(password, code_challenge)
        body: dict[str, Any] = {"email": email, "password": password, "data": dict(data)}
        if code_challenge:
            body |= {"code_challenge": code_challenge, "code_challenge_method": "s256"}
        return self._session_call(
            self.http.request(
                "POST",
                f"{self.url}/auth/v1/signup",
                params={"redirect_to": redirect_to},
                headers=self._headers(),
                json_body=body,
                retries=retries,
            )
        )

    def follow_link(self, link: str) -> Call:
        """GET the emailed link like a mail client would: no apikey, redirects not followed."""
        self.redactor.add(link)
        return self.http.request("GET", link, label="GET /auth/v1/verify (emailed link)")

    def verify_probe(self, params: Mapping[str, str]) -> Call:
        """GET /auth/v1/verify as a mail client opens a link (no apikey, no redirect followed),
        with the query given (synthetics.deeplink.allow_list's probe)."""
        return self.http.request(
            "GET",
            f"{self.url}/auth/v1/verify",
            params=params,
            label="GET /auth/v1/verify (allow-list probe)",
            retries=0,
        )

    def exchange_code(self, code: str, verifier: str) -> Call:
        """POST /auth/v1/token?grant_type=pkce."""
        self.redactor.add(code, verifier)
        return self._session_call(
            self.http.request(
                "POST",
                f"{self.url}/auth/v1/token",
                params={"grant_type": "pkce"},
                headers=self._headers(),
                json_body={"auth_code": code, "code_verifier": verifier},
            )
        )

    def sign_in(self, email: str, password: str) -> Call:
        """POST /auth/v1/token?grant_type=password."""
        self.redactor.add(password)
        return self._session_call(
            self.http.request(
                "POST",
                f"{self.url}/auth/v1/token",
                params={"grant_type": "password"},
                headers=self._headers(),
                json_body={"email": email, "password": password},
            )
        )

    def refresh(self, refresh_token: str) -> Call:
        """POST /auth/v1/token?grant_type=refresh_token."""
        self.redactor.add(refresh_token)
        return self._session_call(
            self.http.request(
                "POST",
                f"{self.url}/auth/v1/token",
                params={"grant_type": "refresh_token"},
                headers=self._headers(),
                json_body={"refresh_token": refresh_token},
            )
        )

    def user(self, access_token: str) -> Call:
        """GET /auth/v1/user with a user's access token."""
        self.redactor.add(access_token)
        return self.http.request(
            "GET", f"{self.url}/auth/v1/user", headers=self._headers(access_token)
        )

    def recover(self, email: str, *, redirect_to: str, code_challenge: str | None = None) -> Call:
        """POST /auth/v1/recover as resetPasswordForEmail does: 200 `{}`, a recovery email."""
        self.redactor.add(code_challenge)
        body: dict[str, Any] = {"email": email}
        if code_challenge:
            body |= {"code_challenge": code_challenge, "code_challenge_method": "s256"}
        return self.http.request(
            "POST",
            f"{self.url}/auth/v1/recover",
            params={"redirect_to": redirect_to},
            headers=self._headers(),
            json_body=body,
        )

    def update_password(self, access_token: str, password: str) -> Call:
        """PUT /auth/v1/user `{password}` with a (recovery) session: 200 and the user."""
        self.redactor.add(access_token, password)
        return self.http.request(
            "PUT",
            f"{self.url}/auth/v1/user",
            label="PUT /auth/v1/user (password)",
            headers=self._headers(access_token),
            json_body={"password": password},
        )

    # -- REST -------------------------------------------------------------------------------

    def rpc(self, name: str, args: Mapping[str, Any], *, bearer: str | None) -> Call:
        """POST /rest/v1/rpc/<name> as a user (or with the anon key alone when bearer is None)."""
        return self.http.request(
            "POST",
            f"{self.url}/rest/v1/rpc/{name}",
            label=f"rpc {name}",
            headers=self._headers(bearer),
            json_body=dict(args),
        )

    def rpc_get(self, name: str, params: Mapping[str, str], *, bearer: str | None) -> Call:
        """GET /rest/v1/rpc/<name>?args: PostgREST runs it in a READ ONLY transaction, so it can
        read but never change data (the security probes)."""
        return self.http.request(
            "GET",
            f"{self.url}/rest/v1/rpc/{name}",
            label=f"GET rpc {name}",
            headers=self._headers(bearer),
            params=params,
        )

    def openapi(self) -> Call:
        """GET /rest/v1/ with the service key: PostgREST's OpenAPI description of everything the
        API exposes (it follows the caller's privileges)."""
        headers = self._admin_headers()
        headers["Accept"] = "application/openapi+json"
        return self.http.request(
            "GET", f"{self.url}/rest/v1/", label="GET /rest/v1/ (OpenAPI)", headers=headers
        )

    def table(
        self,
        method: str,
        table: str,
        *,
        bearer: str | None,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Call:
        """A direct table request (the security probes)."""
        return self.http.request(
            method,
            f"{self.url}/rest/v1/{table}",
            label=f"{method} /rest/v1/{table}",
            headers=self._headers(bearer),
            params=params,
            json_body=body,
        )

    # -- Admin (service role) ---------------------------------------------------------------

    @property
    def has_admin(self) -> bool:
        """Whether a service-role key is configured."""
        return bool(self.service_role_key)

    def admin_create_user(self, email: str, password: str, metadata: Mapping[str, Any]) -> Call:
        """POST /auth/v1/admin/users: a pre-confirmed user."""
        self.redactor.add(password)
        return self.http.request(
            "POST",
            f"{self.url}/auth/v1/admin/users",
            headers=self._admin_headers(),
            json_body={
                "email": email,
                "password": password,
                "email_confirm": True,
                "user_metadata": dict(metadata),
            },
        )

    def admin_delete_user(self, user_id: str) -> Call:
        """DELETE /auth/v1/admin/users/<id>."""
        return self.http.request(
            "DELETE",
            f"{self.url}/auth/v1/admin/users/{user_id}",
            label="DELETE /auth/v1/admin/users/<id>",
            headers=self._admin_headers(),
        )

    def admin_newest_users(self, per_page: int = 50) -> Call:
        """GET /auth/v1/admin/users: the first page, newest first."""
        return self.http.request(
            "GET",
            f"{self.url}/auth/v1/admin/users",
            params={"page": "1", "per_page": str(per_page)},
            headers=self._admin_headers(),
        )

    def service_table(
        self,
        method: str,
        table: str,
        *,
        params: Mapping[str, str] | None = None,
        prefer: str | None = None,
    ) -> Call:
        """A table request with the service role (cleanup of owned rows)."""
        headers = self._admin_headers()
        if prefer:
            headers["Prefer"] = prefer
        return self.http.request(
            method,
            f"{self.url}/rest/v1/{table}",
            label=f"{method} /rest/v1/{table} (service role)",
            headers=headers,
            params=params,
        )

    def delete_rows(self, rows: OwnedRows, ids: Sequence[str]) -> int:
        """Delete the rows whose owner column is one of `ids` (synthetics.users.OwnedRowsApi)."""
        call = self.service_table(
            "DELETE",
            rows.table,
            params={rows.column: _in(ids), "select": rows.column},
            prefer="return=representation",
        )
        if call.status not in (200, 204):
            raise BadResponse(_refused(call, f"deleting {rows} rows"))
        return len(call.json()) if call.status == 200 else 0

    def count_rows(self, rows: OwnedRows, ids: Sequence[str]) -> int:
        """How many rows whose owner column is one of `ids` remain."""
        call = self.service_table(
            "GET", rows.table, params={rows.column: _in(ids), "select": rows.column}
        )
        if call.status != 200:
            raise BadResponse(_refused(call, f"counting {rows} rows"))
        body = call.json()
        if not isinstance(body, list):
            raise BadResponse(f"counting {rows} rows answered {type(body).__name__}, not a list")
        return len(body)

    def admin_get_user(self, user_id: str) -> Call:
        """GET /auth/v1/admin/users/<id>."""
        return self.http.request(
            "GET",
            f"{self.url}/auth/v1/admin/users/{user_id}",
            label="GET /auth/v1/admin/users/<id>",
            headers=self._admin_headers(),
        )
