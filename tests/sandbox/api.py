"""Raw-HTTP helpers for sandbox tests: headers, confirmed users, sign-in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from synthetics.sandbox.server import SandboxInfo

PASSWORD = "correct-horse-battery"


def headers(info: SandboxInfo, bearer: str | None = None) -> dict[str, str]:
    """Gateway headers: the anon apikey, and a Bearer token (the anon key unless given)."""
    return {"apikey": info.anon_key, "Authorization": f"Bearer {bearer or info.anon_key}"}


def service_headers(info: SandboxInfo) -> dict[str, str]:
    """Headers of a service-role caller."""
    key = info.service_role_key
    return {"apikey": key, "Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class User:
    """A confirmed user with a live access token."""

    id: str
    email: str
    access_token: str


@contextmanager
def confirmed_user(info: SandboxInfo) -> Iterator[User]:
    """Create a confirmed user through the admin API, sign it in, delete it afterwards."""
    address = f"user-{uuid.uuid4().hex[:12]}@mamapace-synthetics.dev"
    created = httpx.post(
        f"{info.api_url}/auth/v1/admin/users",
        headers=service_headers(info),
        json={"email": address, "password": PASSWORD, "email_confirm": True},
    )
    created.raise_for_status()
    user_id = created.json()["id"]
    try:
        session = httpx.post(
            f"{info.api_url}/auth/v1/token?grant_type=password",
            headers=headers(info),
            json={"email": address, "password": PASSWORD},
        )
        session.raise_for_status()
        yield User(user_id, address, session.json()["access_token"])
    finally:
        httpx.delete(f"{info.api_url}/auth/v1/admin/users/{user_id}", headers=service_headers(info))


def rpc(
    info: SandboxInfo, name: str, args: dict[str, object], bearer: str | None
) -> httpx.Response:
    """POST /rest/v1/rpc/<name> as `bearer` (anon when None)."""
    return httpx.post(
        f"{info.api_url}/rest/v1/rpc/{name}", headers=headers(info, bearer), json=args
    )


def sign_up(info: SandboxInfo, address: str, **body: object) -> httpx.Response:
    """POST /auth/v1/signup as the app does, redirecting to its deep link."""
    return httpx.post(
        f"{info.api_url}/auth/v1/signup",
        params={"redirect_to": "mamapace://auth-callback"},
        headers={**headers(info), "X-Supabase-Api-Version": "2024-01-01"},
        json={"email": address, "password": PASSWORD, **body},
    )
