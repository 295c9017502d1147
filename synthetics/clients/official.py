"""The official Supabase Auth client, where the wire detail does not matter: admin users,
password sign-in and refresh-token rotation. Using it also proves the official client works
against the target.

It is `supabase_auth`'s SyncGoTrueClient, the library that `supabase.create_client(...).auth` is
(supabase-py's auth client is a thin subclass of it), made with the same headers and options.
The `supabase` umbrella package is not loaded for it: its PostgREST, Storage, Realtime and
Functions clients, which a run never uses, cost every run ~0.1 s of CPU to import.

Its requests go through the run's recording transport, so they are timed, bounded and counted
like ours. Its errors are translated here, at the boundary: `AuthApiError` → `ApiRefused` (the
target answered and refused), retryable errors and transport failures → `TransportFailure`,
anything else the client could not parse → `BadResponse`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from supabase_auth import SyncGoTrueClient, SyncMemoryStorage
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError

from synthetics.clients.http import BadResponse, TransportFailure
from synthetics.errors import SyntheticsError
from synthetics.redact import Redactor
from synthetics.text import one_line

T = TypeVar("T")


class ApiRefused(SyntheticsError):
    """The target answered an official-client call with an API error (status and code kept)."""

    def __init__(self, message: str, *, status: int | None, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except AuthApiError as exc:
        code = str(exc.code) if exc.code else None
        detail = one_line(exc.message, limit=200)
        raise ApiRefused(
            f"{what} answered {exc.status} ({code or 'no code'}: {detail})",
            status=exc.status,
            code=code,
        ) from None
    except AuthRetryableError as exc:
        raise TransportFailure(f"{what} failed: {one_line(str(exc), limit=200)}") from None
    except httpx.TransportError as exc:
        raise TransportFailure(f"{what} failed: {type(exc).__name__}") from None
    except (AuthError, ValueError, TypeError, KeyError) as exc:
        # The client could not make sense of the answer (its strict models refused it).
        raise BadResponse(
            f"{what}: the official client could not read the answer ({type(exc).__name__}: "
            f"{one_line(str(exc), limit=200)})"
        ) from None


@dataclass(frozen=True)
class Tokens:
    """A session's tokens and its user."""

    access_token: str
    refresh_token: str
    user_id: str
    email: str


class Official:
    """The official client for one project, sharing the run's HTTP client (transport)."""

    def __init__(
        self,
        url: str,
        anon_key: str,
        service_role_key: str | None,
        *,
        http_client: httpx.Client,
        redactor: Redactor,
    ) -> None:
        self.url = url.rstrip("/")
        self.anon_key = anon_key
        self.service_role_key = service_role_key
        self._http = http_client
        self._redactor = redactor
        self._admin: SyncGoTrueClient | None = None

    def _client(self, key: str) -> SyncGoTrueClient:
        # What create_client(url, key, ClientOptions(...)) makes its `.auth` with.
        return SyncGoTrueClient(
            url=f"{self.url}/auth/v1",
            headers={"apiKey": key, "Authorization": f"Bearer {key}"},
            auto_refresh_token=False,
            persist_session=False,
            storage=SyncMemoryStorage(),
            http_client=self._http,
            flow_type="implicit",
        )

    def _admin_client(self) -> SyncGoTrueClient:
        # A client of its own: the official client rewrites Authorization on sign-in, in a dict
        # its admin API shares, so admin calls never go through a client that signs users in.
        if not self.service_role_key:
            raise ApiRefused("no service-role key configured", status=None, code=None)
        if self._admin is None:
            self._admin = self._client(self.service_role_key)
        return self._admin

    def _call(self, what: str, action: Callable[[], T]) -> T:
        with _translated(what):
            return action()

    # -- admin users (synthetics.users.AdminUsers) ------------------------------------------

    def create_user(self, email: str, password: str, metadata: Mapping[str, Any]) -> str:
        """A pre-confirmed user through the admin API; its id."""
        self._redactor.add(password)
        admin = self._admin_client().admin
        created = self._call(
            "admin user creation",
            lambda: admin.create_user(
                {
                    "email": email,
                    "password": password,
                    "email_confirm": True,
                    "user_metadata": dict(metadata),
                }
            ),
        )
        return str(created.user.id)

    def delete_user(self, user_id: str) -> bool:
        """Delete a user; False when it was already gone."""
        admin = self._admin_client().admin
        try:
            self._call("DELETE /auth/v1/admin/users/<id>", lambda: admin.delete_user(user_id))
        except ApiRefused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def user_exists(self, user_id: str) -> bool:
        """Whether the user still exists."""
        admin = self._admin_client().admin
        try:
            self._call("GET /auth/v1/admin/users/<id>", lambda: admin.get_user_by_id(user_id))
        except ApiRefused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def users_page(self, page: int, per_page: int) -> list[dict[str, Any]]:
        """One page of users (newest first): id, email, created_at, user_metadata."""
        admin = self._admin_client().admin
        users = self._call(
            "GET /auth/v1/admin/users", lambda: admin.list_users(page=page, per_page=per_page)
        )
        return [
            {
                "id": str(u.id),
                "email": u.email or "",
                "created_at": u.created_at,
                "user_metadata": dict(u.user_metadata or {}),
            }
            for u in users
        ]

    # -- sessions ---------------------------------------------------------------------------

    def sign_in(self, email: str, password: str) -> Tokens:
        """Password sign-in with a fresh client, as the app's client does."""
        self._redactor.add(password)
        auth = self._client(self.anon_key)
        response = self._call(
            "password sign-in",
            lambda: auth.sign_in_with_password({"email": email, "password": password}),
        )
        return self._tokens(response, "password sign-in")

    def refresh(self, refresh_token: str) -> Tokens:
        """Rotate a refresh token with a fresh client."""
        self._redactor.add(refresh_token)
        auth = self._client(self.anon_key)
        response = self._call("refresh", lambda: auth.refresh_session(refresh_token))
        return self._tokens(response, "refresh")

    def _tokens(self, response: Any, what: str) -> Tokens:
        session, user = response.session, response.user
        if session is None or user is None:
            raise BadResponse(f"{what} returned no session")
        self._redactor.add(session.access_token, session.refresh_token)
        return Tokens(session.access_token, session.refresh_token, str(user.id), user.email or "")
