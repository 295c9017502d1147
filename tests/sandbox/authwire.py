"""Raw-HTTP helpers for the Auth wire tests: addresses, sign-up, links, GoTrue's error bodies."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt

from synthetics.sandbox.server import SandboxInfo

from .inbox import confirmation_link, wait_for_message

PASSWORD = "correct-horse-battery"
APP = "mamapace://auth-callback"
SITE = "https://app.mamapace.com"
V2024 = {"X-Supabase-Api-Version": "2024-01-01"}
SESSION_KEYS = {"access_token", "token_type", "expires_in", "expires_at", "refresh_token", "user"}
FRAGMENT_KEYS = [
    "access_token", "expires_at", "expires_in", "refresh_token", "sb", "token_type", "type",
]  # fmt: skip
EXPIRED_LINK = (
    "error=access_denied&error_code=otp_expired"
    "&error_description=Email+link+is+invalid+or+has+expired"
)


def address() -> str:
    """A fresh address."""
    return f"wire-{uuid.uuid4().hex[:12]}@mamapace-synthetics.dev"


def sign_up(
    auth: httpx.Client,
    email: str,
    cleanup: list[str] | None = None,
    *,
    redirect_to: str | None = APP,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    """POST /signup as supabase-py does (redirect in the query, `data` always sent)."""
    params = {"redirect_to": redirect_to} if redirect_to else {}
    payload = {"email": email, "password": PASSWORD, "data": {}, **body}
    response = auth.post("/signup", params=params, json=payload, headers=headers)
    if cleanup is not None and response.status_code == 200 and response.json().get("role"):
        cleanup.append(response.json()["id"])
    return response


def fragment(location: str) -> dict[str, str]:
    """The parameters after `#` of a redirect."""
    return dict(parse_qsl(urlsplit(location).fragment, keep_blank_values=True))


def query(location: str) -> dict[str, str]:
    """The query parameters of a URL."""
    return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))


def emailed_link(info: SandboxInfo, email: str) -> str:
    """The /verify link of the newest email to `email`."""
    return confirmation_link(wait_for_message(info.inbox_url, email))


def confirmed(auth: httpx.Client, info: SandboxInfo, email: str, cleanup: list[str]) -> str:
    """Sign `email` up and click its link; returns the user id."""
    user_id = sign_up(auth, email, cleanup).json()["id"]
    assert httpx.get(emailed_link(info, email)).status_code == 303
    return str(user_id)


def sign_in(auth: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    """The password grant."""
    return auth.post(
        "/token", params={"grant_type": "password"}, json={"email": email, "password": password}
    )


def claims_of(info: SandboxInfo, token: str) -> dict[str, Any]:
    """A verified access token's claims."""
    decoded: dict[str, Any] = jwt.decode(
        token, info.jwt_secret, algorithms=["HS256"], audience="authenticated"
    )
    return decoded


def bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def assert_legacy_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """GoTrue's pre-2024 error body and its x-sb-error-code header."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == status and body["error_code"] == code, body
    assert isinstance(body["msg"], str) and body["msg"]
    assert response.headers["x-sb-error-code"] == code
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """GoTrue's 2024-01-01 error body (the request sent X-Supabase-Api-Version)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert response.headers["X-Supabase-Api-Version"] == "2024-01-01"
    return body
