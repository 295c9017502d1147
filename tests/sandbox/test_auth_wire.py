"""The sandbox's Auth on the wire, over real HTTP, against GoTrue's behaviour (reference A-D, F).

Raw httpx calls through the gateway at /auth/v1; confirmation emails are read back through the
Mailpit-compatible inbox. Every test uses fresh addresses, so tests share the session sandbox.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import jwt
import psycopg
import pytest

from synthetics.sandbox.server import Sandbox, SandboxInfo

from .authwire import (
    APP,
    EXPIRED_LINK,
    FRAGMENT_KEYS,
    PASSWORD,
    SESSION_KEYS,
    SITE,
    V2024,
    address,
    assert_error,
    assert_legacy_error,
    bearer,
    claims_of,
    confirmed,
    emailed_link,
    fragment,
    pkce_pair,
    sign_in,
    sign_up,
)
from .inbox import count_messages, wait_for_message

USER_KEYS = {
    "id", "aud", "role", "email", "phone", "confirmation_sent_at", "app_metadata",
    "user_metadata", "identities", "created_at", "updated_at", "is_anonymous",
}  # fmt: skip
IDENTITY_KEYS = {
    "identity_id", "id", "user_id", "identity_data", "provider", "last_sign_in_at",
    "created_at", "updated_at", "email",
}  # fmt: skip


# -- public endpoints ---------------------------------------------------------------------------


def test_health(auth: httpx.Client) -> None:
    response = auth.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"version", "name", "description"}
    assert body["name"] == "GoTrue"
    assert body["description"] == "GoTrue is a user registration and authentication API"


def test_settings(auth: httpx.Client) -> None:
    response = auth.get("/settings")
    assert response.status_code == 200
    body = response.json()
    assert body["mailer_autoconfirm"] is False
    assert body["disable_signup"] is False
    assert body["phone_autoconfirm"] is False
    assert body["external"]["email"] is True
    assert body["external"]["phone"] is False
    assert all(isinstance(v, bool) for v in body["external"].values())


def test_jwks_is_empty_for_hs256(auth: httpx.Client) -> None:
    response = auth.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == {"keys": []}


# -- sign-up ------------------------------------------------------------------------------------


def test_signup_returns_a_bare_user_and_mails_the_link(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    response = sign_up(auth, email.upper(), cleanup, data={"locale": "ja", "plan": "free"})
    assert response.status_code == 200
    assert "sb-auth-user-id" not in response.headers  # no session was issued
    user = response.json()
    assert set(user) == USER_KEYS  # no session keys, no empty timestamps
    assert user["email"] == email  # lowercased
    assert user["phone"] == ""
    assert user["aud"] == "authenticated" and user["role"] == "authenticated"
    assert user["is_anonymous"] is False
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["user_metadata"] == {
        "sub": user["id"],
        "email": email,
        "email_verified": False,
        "phone_verified": False,
        "locale": "ja",
        "plan": "free",
    }
    [identity] = user["identities"]
    assert set(identity) == IDENTITY_KEYS
    assert identity["id"] == identity["user_id"] == user["id"]
    assert identity["provider"] == "email" and identity["email"] == email
    assert identity["identity_data"]["sub"] == user["id"]
    assert identity["identity_data"]["email_verified"] is False
    assert uuid.UUID(identity["identity_id"])
    for key in ("created_at", "updated_at", "confirmation_sent_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", user[key])

    link = emailed_link(info, email)
    match = re.fullmatch(
        rf"{re.escape(info.api_url)}/auth/v1/verify\?token=([0-9a-f]{{56}})"
        rf"&type=signup&redirect_to={re.escape(APP)}",
        link,
    )
    assert match, link


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("query", APP),
        ("header", APP),
        ("referer", SITE + "/welcome"),
        ("header-beats-query", SITE),  # the header alone is tried; disallowed → Referer → Site
        ("disallowed", SITE),
    ],
)
def test_signup_redirect_sources(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str], how: str, expected: str
) -> None:
    email = address()
    query: str | None = None
    headers: dict[str, str] = {}
    if how == "query":
        query = APP
    elif how == "header":
        headers["redirect_to"] = APP
    elif how == "referer":
        headers["Referer"] = SITE + "/welcome"
    elif how == "header-beats-query":
        query, headers["redirect_to"] = APP, "https://evil.example.com/cb"
    else:
        query = "https://evil.example.com/cb"
    assert sign_up(auth, email, cleanup, redirect_to=query, headers=headers).status_code == 200
    link = emailed_link(info, email)
    assert parse_qs(urlsplit(link).query)["redirect_to"] == [expected]
    assert link.endswith(f"&redirect_to={expected}")


def test_signup_redirect_with_query_is_encoded_in_the_link(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    target = SITE + "/cb?next=my feed&x=1"
    assert sign_up(auth, email, cleanup, redirect_to=target).status_code == 200
    link = emailed_link(info, email)
    # Go's url.QueryEscape, as encodeRedirectURL applies it when `&`, `=` or `#` appear.
    assert link.endswith(
        "&redirect_to=https%3A%2F%2Fapp.mamapace.com%2Fcb%3Fnext%3Dmy+feed%26x%3D1"
    )
    assert parse_qs(urlsplit(link).query)["redirect_to"] == [target]


def test_password_length_counts_utf8_bytes(auth: httpx.Client, cleanup: list[str]) -> None:
    # Go's len() counts bytes: three two-byte characters meet the six-character minimum...
    assert sign_up(auth, address(), cleanup, password="ééé").status_code == 200
    # ...and 37 of them exceed the 72-character maximum.
    too_long = sign_up(auth, address(), password="é" * 37, headers=V2024)
    assert_error(too_long, 400, "validation_failed")


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"password": None}, 400, "validation_failed", "Signup requires a valid password"),
        ({"password": "x" * 73}, 400, "validation_failed", "Password cannot be longer than 72"),
        ({"password": "abc"}, 422, "weak_password", "Password should be at least 6 characters."),
        ({"phone": "+15555550100"}, 400, "validation_failed", "Only an email address or phone"),
        ({"email": "not-an-email"}, 400, "validation_failed", "Unable to validate email address"),
        ({"email": "x@mamapace.dev\n"}, 400, "validation_failed", "Unable to validate email"),
        ({"code_challenge": "a" * 43}, 400, "validation_failed", "PKCE flow requires"),
        (
            {"code_challenge": "short", "code_challenge_method": "s256"},
            400,
            "validation_failed",
            "code challenge has to be between 43 and 128 characters",
        ),
    ],
)
def test_signup_validation(
    auth: httpx.Client,
    info: SandboxInfo,
    body: dict[str, Any],
    status: int,
    code: str,
    message: str,
) -> None:
    email = address()
    body = {"email": email, **body}
    response = sign_up(auth, body.pop("email"), headers=V2024, **body)
    error = assert_error(response, status, code)
    assert error["message"].startswith(message)
    if code == "weak_password":
        assert error["weak_password"] == {"reasons": ["length"]}
        assert set(error) == {"code", "message", "weak_password"}
        assert "x-sb-error-code" not in response.headers  # GoTrue's weak-password branch
    else:
        assert set(error) == {"code", "message"}
        assert response.headers["x-sb-error-code"] == code
    assert count_messages(info.inbox_url, email) == 0


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'{"email": "a@b.dev", "password":', "Could not parse request body as JSON"),
        (b'[{"email": "a@b.dev", "password": "correct-horse"}]', "cannot unmarshal array"),
        (b"", "unexpected end of JSON input"),
    ],
)
def test_signup_bad_json(auth: httpx.Client, content: bytes, detail: str) -> None:
    response = auth.post(
        "/signup", content=content, headers={"Content-Type": "application/json", **V2024}
    )
    assert detail in assert_error(response, 400, "bad_json")["message"]


def test_error_body_formats(auth: httpx.Client) -> None:
    body = {"email": address(), "password": ""}
    new = auth.post("/signup", json=body, headers=V2024)
    assert new.json() == {
        "code": "validation_failed",
        "message": "Signup requires a valid password",
    }
    assert new.headers["X-Supabase-Api-Version"] == "2024-01-01"
    assert new.headers["x-sb-error-code"] == "validation_failed"

    later = auth.post("/signup", json=body, headers={"X-Supabase-Api-Version": "2025-06-30"})
    assert later.json()["code"] == "validation_failed"
    assert later.headers["X-Supabase-Api-Version"] == "2024-01-01"  # the closest known version

    legacy = auth.post("/signup", json=body)
    assert legacy.status_code == 400
    assert legacy.json() == {
        "code": 400,
        "error_code": "validation_failed",
        "msg": "Signup requires a valid password",
    }
    assert "X-Supabase-Api-Version" not in legacy.headers
    assert legacy.headers["x-sb-error-code"] == "validation_failed"

    weak = auth.post("/signup", json={"email": address(), "password": "abc"})
    assert weak.json() == {
        "code": 422,
        "error_code": "weak_password",
        "msg": "Password should be at least 6 characters.",
        "weak_password": {"reasons": ["length"]},
    }
    assert weak.headers["x-sb-error-code"] == "weak_password"

    # Only errors echo the version header.
    assert "X-Supabase-Api-Version" not in auth.get("/health", headers=V2024).headers


def test_duplicate_of_confirmed_user_gets_a_fake_user_and_no_email(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    real_id = confirmed(auth, info, email, cleanup)
    fake = sign_up(auth, email, data={"nickname": "again"})
    assert fake.status_code == 200
    user = fake.json()
    assert user["id"] != real_id and uuid.UUID(user["id"])
    assert user["role"] == "" and user["identities"] == []
    assert user["email"] == email and user["phone"] == ""
    assert user["user_metadata"] == {"nickname": "again"}
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert "email_confirmed_at" not in user and "last_sign_in_at" not in user
    assert "confirmation_sent_at" in user
    time.sleep(0.2)  # a second email, if any, would have arrived by now
    assert count_messages(info.inbox_url, email) == 1


def test_duplicate_of_unconfirmed_user_within_a_minute_is_rate_limited(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    first = sign_up(auth, email, cleanup)
    assert first.status_code == 200
    wait_for_message(info.inbox_url, email)
    again = sign_up(auth, email, headers=V2024)
    error = assert_error(again, 429, "over_email_send_rate_limit")
    match = re.fullmatch(
        r"For security purposes, you can only request this after (\d+) seconds\.",
        error["message"],
    )
    assert match and 50 <= int(match.group(1)) <= 59, error["message"]
    assert count_messages(info.inbox_url, email) == 1


# -- the emailed link ---------------------------------------------------------------------------


def test_verify_link_signs_in_once(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    user_id = sign_up(auth, email, cleanup).json()["id"]
    link = emailed_link(info, email)

    landed = httpx.get(link)  # a browser: no apikey, no headers
    assert landed.status_code == 303
    location = landed.headers["location"]
    assert location.startswith(APP + "#")
    pairs = parse_qsl(urlsplit(location).fragment, keep_blank_values=True)
    assert [k for k, _ in pairs] == FRAGMENT_KEYS  # sorted, as Go's url.Values.Encode
    params = dict(pairs)
    assert params["token_type"] == "bearer" and params["type"] == "signup" and params["sb"] == ""
    assert params["expires_in"] == "3600"
    assert abs(int(params["expires_at"]) - (time.time() + 3600)) < 30
    assert re.fullmatch(r"[a-z0-9]{12}", params["refresh_token"])
    assert landed.headers["sb-auth-user-id"] == user_id

    me = auth.get("/user", headers=bearer(params["access_token"]))
    assert me.status_code == 200
    user = me.json()
    assert user["id"] == user_id and "email_confirmed_at" in user and "confirmed_at" in user
    assert user["user_metadata"]["email_verified"] is True
    assert user["identities"][0]["identity_data"]["email_verified"] is True

    again = httpx.get(link)
    assert again.status_code == 303
    assert again.headers["location"] == f"{APP}#{EXPIRED_LINK}&sb="


def test_verify_unknown_token_and_validation(auth: httpx.Client, info: SandboxInfo) -> None:
    unknown = httpx.get(
        f"{info.api_url}/auth/v1/verify",
        params={"token": "0" * 56, "type": "signup", "redirect_to": APP},
    )
    assert unknown.status_code == 303
    assert unknown.headers["location"] == f"{APP}#{EXPIRED_LINK}&sb="

    disallowed = httpx.get(
        f"{info.api_url}/auth/v1/verify",
        params={"token": "0" * 56, "type": "signup", "redirect_to": "https://evil.example.com"},
    )
    assert disallowed.headers["location"] == f"{SITE}#{EXPIRED_LINK}&sb="

    bad_type = httpx.get(
        f"{info.api_url}/auth/v1/verify", params={"token": "0" * 56, "type": "bogus"}
    )
    assert bad_type.status_code == 303
    assert fragment(bad_type.headers["location"])["error"] == "invalid_request"

    no_type = httpx.get(f"{info.api_url}/auth/v1/verify", params={"token": "0" * 56})
    assert_legacy_error(no_type, 400, "validation_failed")


def test_access_token_claims(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    user_id = sign_up(auth, email, cleanup).json()["id"]
    params = fragment(httpx.get(emailed_link(info, email)).headers["location"])
    token = params["access_token"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = claims_of(info, token)
    assert claims["iss"] == f"{info.api_url}/auth/v1"
    assert claims["sub"] == user_id
    assert claims["aud"] == "authenticated"
    assert claims["role"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["exp"] == int(params["expires_at"])
    assert uuid.UUID(claims["session_id"])
    assert claims["aal"] == "aal1"
    [amr] = claims["amr"]
    assert amr["method"] == "otp" and abs(amr["timestamp"] - time.time()) < 30
    assert claims["email"] == email and claims["phone"] == ""
    assert claims["is_anonymous"] is False
    assert claims["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert claims["user_metadata"]["email_verified"] is True

    session = sign_in(auth, email)
    assert session.status_code == 200
    assert set(session.json()) == SESSION_KEYS
    assert session.headers["sb-auth-user-id"] == user_id
    password_claims = claims_of(info, session.json()["access_token"])
    assert password_claims["amr"][0]["method"] == "password"
    assert session.headers["sb-auth-session-id"] == password_claims["session_id"]
    assert password_claims["session_id"] != claims["session_id"]


def test_pkce_sign_up(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    verifier, challenge = pkce_pair()
    response = sign_up(auth, email, cleanup, code_challenge=challenge, code_challenge_method="s256")
    assert response.status_code == 200 and "access_token" not in response.json()
    link = emailed_link(info, email)
    assert parse_qs(urlsplit(link).query)["token"][0].startswith("pkce_")

    landed = httpx.get(link)
    assert landed.status_code == 303
    location = landed.headers["location"]
    match = re.fullmatch(rf"{re.escape(APP)}\?code=([0-9a-f-]{{36}})", location)
    assert match, location
    code = match.group(1)
    assert uuid.UUID(code)

    exchange = "/token?grant_type=pkce"
    wrong = auth.post(exchange, json={"auth_code": code, "code_verifier": "x" * 43}, headers=V2024)
    assert_error(wrong, 400, "bad_code_verifier")
    right = auth.post(exchange, json={"auth_code": code, "code_verifier": verifier})
    assert right.status_code == 200
    assert set(right.json()) == SESSION_KEYS
    assert right.json()["user"]["email"] == email
    claims = claims_of(info, right.json()["access_token"])
    assert claims["amr"][0]["method"] == "email/signup"  # the flow state's method
    reused = auth.post(exchange, json={"auth_code": code, "code_verifier": verifier}, headers=V2024)
    assert_error(reused, 404, "flow_state_not_found")
    empty = auth.post(exchange, json={"auth_code": code}, headers=V2024)
    assert_error(empty, 400, "validation_failed")

    # A used PKCE link reports the error in the query as well as in the fragment.
    again = httpx.get(link)
    assert again.status_code == 303
    assert again.headers["location"] == f"{APP}?{EXPIRED_LINK}#{EXPIRED_LINK}&sb="


def test_verify_post_with_token_hash_and_otp(
    auth: httpx.Client, admin: httpx.Client, cleanup: list[str]
) -> None:
    by_hash, by_otp = address(), address()
    links = {}
    for email in (by_hash, by_otp):
        made = admin.post(
            "/admin/generate_link", json={"type": "signup", "email": email, "password": PASSWORD}
        )
        assert made.status_code == 200
        cleanup.append(made.json()["id"])
        links[email] = made.json()

    hashed = links[by_hash]["hashed_token"]
    session = auth.post("/verify", json={"type": "signup", "token_hash": hashed})
    assert session.status_code == 200
    assert set(session.json()) == SESSION_KEYS
    assert session.json()["token_type"] == "bearer" and session.json()["expires_in"] == 3600
    assert "email_confirmed_at" in session.json()["user"]
    assert session.headers["sb-auth-user-id"] == links[by_hash]["id"]

    otp = links[by_otp]["email_otp"]
    with_otp = auth.post("/verify", json={"type": "signup", "email": by_otp, "token": otp})
    assert with_otp.status_code == 200
    assert with_otp.json()["user"]["email"] == by_otp

    mixed = auth.post(
        "/verify",
        json={"type": "signup", "token_hash": hashed, "email": by_hash},
        headers=V2024,
    )
    assert assert_error(mixed, 400, "validation_failed")["message"] == (
        "Only the token_hash and type should be provided"
    )
    used = auth.post("/verify", json={"type": "signup", "token_hash": hashed}, headers=V2024)
    assert assert_error(used, 403, "otp_expired")["message"] == (
        "Email link is invalid or has expired"
    )
    bad_otp = auth.post(
        "/verify", json={"type": "signup", "email": by_otp, "token": "000000"}, headers=V2024
    )
    assert assert_error(bad_otp, 403, "otp_expired")["message"] == (
        "Token has expired or is invalid"
    )
    neither = auth.post("/verify", json={"type": "signup"}, headers=V2024)
    assert_error(neither, 400, "validation_failed")


# -- the token endpoint -------------------------------------------------------------------------


def test_password_grant_errors(auth: httpx.Client, cleanup: list[str]) -> None:
    email = address()
    assert sign_up(auth, email, cleanup).status_code == 200
    unconfirmed = auth.post(
        "/token?grant_type=password", json={"email": email, "password": PASSWORD}, headers=V2024
    )
    assert assert_error(unconfirmed, 400, "email_not_confirmed")["message"] == "Email not confirmed"
    wrong = auth.post("/token?grant_type=password", json={"email": email, "password": "wrong-pass"})
    assert assert_legacy_error(wrong, 400, "invalid_credentials")["msg"] == (
        "Invalid login credentials"
    )
    unknown = auth.post(
        "/token?grant_type=password", json={"email": address(), "password": PASSWORD}
    )
    assert_legacy_error(unknown, 400, "invalid_credentials")
    nothing = auth.post("/token?grant_type=password", json={"password": PASSWORD}, headers=V2024)
    assert assert_error(nothing, 400, "validation_failed")["message"] == "missing email or phone"
    grant = auth.post("/token?grant_type=magic", json={}, headers=V2024)
    assert assert_error(grant, 400, "invalid_credentials")["message"] == "unsupported_grant_type"
    body_grant = auth.post("/token", json={"grant_type": "password"}, headers=V2024)
    assert_error(body_grant, 400, "invalid_credentials")  # grant_type is read from the query


def test_refresh_token_rotation_and_errors(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    first = sign_in(auth, email).json()
    refresh = "/token?grant_type=refresh_token"

    rotated = auth.post(refresh, json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert set(second) == SESSION_KEYS
    assert second["refresh_token"] != first["refresh_token"]
    assert re.fullmatch(r"[a-z0-9]{12}", second["refresh_token"])
    session_id = claims_of(info, first["access_token"])["session_id"]
    assert claims_of(info, second["access_token"])["session_id"] == session_id
    assert rotated.headers["sb-auth-session-id"] == session_id

    # The old token, reused at once (a client that lost the response), yields the live child.
    reused = auth.post(refresh, json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 200
    assert reused.json()["refresh_token"] == second["refresh_token"]

    empty = auth.post(refresh, json={"refresh_token": ""}, headers=V2024)
    assert empty.status_code == 400
    assert empty.json() == {
        "error": "invalid_request",
        "error_description": "refresh_token required",
    }
    malformed = auth.post(refresh, json={"refresh_token": "short"}, headers=V2024)
    assert assert_error(malformed, 400, "validation_failed")["message"] == (
        "Refresh token is not valid"
    )
    unknown = auth.post(refresh, json={"refresh_token": "abcdefghijkl"}, headers=V2024)
    assert_error(unknown, 400, "refresh_token_not_found")


# -- the signed-in user -------------------------------------------------------------------------


def test_get_user_bearer_errors(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    missing = auth.get("/user", headers=V2024)
    assert assert_error(missing, 401, "no_authorization")["message"] == (
        "This endpoint requires a valid Bearer token"
    )
    garbage = auth.get("/user", headers={**V2024, **bearer("not.a.jwt")})
    assert_error(garbage, 403, "bad_jwt")
    no_sub = auth.get("/user", headers={**V2024, **bearer(info.service_role_key)})
    assert assert_error(no_sub, 403, "bad_jwt")["message"] == "invalid claim: missing sub claim"

    email = address()
    user_id = confirmed(auth, info, email, cleanup)
    now = int(time.time())
    expired = jwt.encode(
        {"sub": user_id, "aud": "authenticated", "role": "authenticated", "iat": now - 7200,
         "exp": now - 3600},
        info.jwt_secret,
        algorithm="HS256",
    )  # fmt: skip
    stale = auth.get("/user", headers={**V2024, **bearer(expired)})
    assert "token is expired" in assert_error(stale, 403, "bad_jwt")["message"]
    forged = jwt.encode({"sub": user_id, "exp": now + 60}, "not-the-secret-" * 3, "HS256")
    assert_error(auth.get("/user", headers={**V2024, **bearer(forged)}), 403, "bad_jwt")

    token = sign_in(auth, email).json()["access_token"]
    other_aud = auth.get("/user", headers={**V2024, **bearer(token), "X-JWT-AUD": "partners"})
    assert assert_error(other_aud, 400, "validation_failed")["message"] == (
        "Token audience doesn't match request audience"
    )


def test_update_user(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    token = sign_in(auth, email).json()["access_token"]
    first = auth.put(
        "/user", json={"data": {"nickname": "mama", "city": "Osaka"}}, headers=bearer(token)
    )
    assert first.status_code == 200
    second = auth.put(
        "/user", json={"data": {"city": "Kyoto", "nickname": None}}, headers=bearer(token)
    )
    assert second.status_code == 200
    meta = second.json()["user_metadata"]
    assert meta["city"] == "Kyoto" and "nickname" not in meta  # merged; null removes a key
    assert meta["email"] == email and meta["email_verified"] is True
    same = auth.put("/user", json={"password": PASSWORD}, headers={**V2024, **bearer(token)})
    assert_error(same, 422, "same_password")
    weak = auth.put("/user", json={"password": "abc"}, headers={**V2024, **bearer(token)})
    assert_error(weak, 422, "weak_password")

    other = sign_in(auth, email).json()["access_token"]
    changed = auth.put("/user", json={"password": PASSWORD + "!"}, headers=bearer(token))
    assert changed.status_code == 200
    assert auth.get("/user", headers=bearer(token)).status_code == 200  # this session stays
    signed_out = auth.get("/user", headers={**V2024, **bearer(other)})
    assert_error(signed_out, 403, "session_not_found")  # every other session is revoked
    assert sign_in(auth, email, PASSWORD + "!").status_code == 200
    app_meta = auth.put(
        "/user", json={"app_metadata": {"role": "admin"}}, headers={**V2024, **bearer(token)}
    )
    assert_error(app_meta, 403, "not_admin")


def test_logout(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    session = sign_in(auth, email).json()
    headers = {**V2024, **bearer(session["access_token"])}

    bad_scope = auth.post("/logout", params={"scope": "everywhere"}, headers=headers)
    assert assert_error(bad_scope, 400, "validation_failed")["message"] == (
        'Unsupported logout scope "everywhere"'
    )
    other = {**V2024, **bearer(sign_in(auth, email).json()["access_token"])}
    out = auth.post("/logout", params={"scope": ""}, headers=headers)  # empty means global
    assert out.status_code == 204
    assert out.content == b""
    assert_error(auth.get("/user", headers=other), 403, "session_not_found")

    gone = auth.get("/user", headers=headers)
    assert assert_error(gone, 403, "session_not_found")["message"] == (
        "Session from session_id claim in JWT does not exist"
    )
    refresh = auth.post(
        "/token?grant_type=refresh_token",
        json={"refresh_token": session["refresh_token"]},
        headers=V2024,
    )
    assert_error(refresh, 400, "refresh_token_not_found")
    assert_error(auth.post("/logout", headers=headers), 403, "session_not_found")


def test_logout_scopes(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    first, second, third = (
        {**V2024, **bearer(sign_in(auth, email).json()["access_token"])} for _ in range(3)
    )
    assert auth.post("/logout", params={"scope": "local"}, headers=first).status_code == 204
    assert_error(auth.get("/user", headers=first), 403, "session_not_found")
    assert auth.get("/user", headers=second).status_code == 200
    assert auth.post("/logout", params={"scope": "others"}, headers=second).status_code == 204
    assert auth.get("/user", headers=second).status_code == 200
    assert_error(auth.get("/user", headers=third), 403, "session_not_found")


def test_resend_leaks_nothing(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    unknown = address()
    response = auth.post("/resend", json={"type": "signup", "email": unknown})
    assert response.status_code == 200 and response.json() == {}

    email = address()
    confirmed(auth, info, email, cleanup)
    again = auth.post("/resend", json={"type": "signup", "email": email})
    assert again.status_code == 200 and again.json() == {}
    time.sleep(0.2)
    assert count_messages(info.inbox_url, email) == 1
    assert count_messages(info.inbox_url, unknown) == 0

    no_type = auth.post("/resend", json={"email": email}, headers=V2024)
    assert_error(no_type, 400, "validation_failed")
    no_email = auth.post("/resend", json={"type": "signup"}, headers=V2024)
    assert assert_error(no_email, 400, "validation_failed")["message"] == (
        "Type provided requires an email address"
    )


# -- the gateway --------------------------------------------------------------------------------


def test_gateway_api_keys(info: SandboxInfo) -> None:
    url = f"{info.api_url}/auth/v1/settings"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json()["message"] == "No API key found in request"
    assert "hint" in missing.json()
    wrong = httpx.get(url, headers={"apikey": "not-a-key"})
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Invalid API key"
    in_query = httpx.get(url, params={"apikey": info.anon_key})
    assert in_query.status_code == 200 and in_query.json()["external"]["email"] is True


# -- admin --------------------------------------------------------------------------------------


def test_admin_requires_an_admin_role(auth: httpx.Client, info: SandboxInfo) -> None:
    anon = auth.get("/admin/users", headers={**V2024, **bearer(info.anon_key)})
    assert assert_error(anon, 403, "not_admin")["message"] == "User not allowed"
    nobody = auth.get("/admin/users", headers=V2024)
    assert_error(nobody, 401, "no_authorization")


def test_admin_list_users(admin: httpx.Client, cleanup: list[str]) -> None:
    made = admin.post("/admin/users", json={"email": address(), "password": PASSWORD})
    cleanup.append(made.json()["id"])
    listed = admin.get("/admin/users", params={"page": "", "per_page": ""})
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"users", "aud"} and body["aud"] == "authenticated"
    total = int(listed.headers["X-Total-Count"])
    assert total >= 1 and len(body["users"]) == min(total, 50)
    assert 'rel="last"' in listed.headers["Link"]
    assert made.json()["id"] in {u["id"] for u in body["users"]}  # newest first

    paged = admin.get("/admin/users", params={"page": 1, "per_page": 1})
    assert len(paged.json()["users"]) == 1
    if total > 1:
        assert 'page=2&per_page=1>; rel="next"' in paged.headers["Link"]
    bad = admin.get("/admin/users", params={"page": "x"})
    assert_legacy_error(bad, 400, "validation_failed")


def test_admin_user_lifecycle(admin: httpx.Client, sandbox: Sandbox) -> None:
    email = address()
    created = admin.post(
        "/admin/users",
        json={
            "email": email,
            "password": PASSWORD,
            "email_confirm": True,
            "user_metadata": {"locale": "ja"},
        },
    )
    assert created.status_code == 200
    user = created.json()
    user_id = user["id"]
    assert "email_confirmed_at" in user and user["role"] == "authenticated"
    assert user["user_metadata"] == {"locale": "ja", "email_verified": True}
    assert user["identities"][0]["identity_data"]["sub"] == user_id

    duplicate = admin.post("/admin/users", json={"email": email}, headers=V2024)
    assert assert_error(duplicate, 422, "email_exists")["message"] == (
        "A user with this email address has already been registered"
    )

    fetched = admin.get(f"/admin/users/{user_id}")
    assert fetched.status_code == 200 and fetched.json()["email"] == email
    not_uuid = admin.get("/admin/users/not-a-uuid", headers=V2024)
    assert_error(not_uuid, 404, "validation_failed")

    updated = admin.put(
        f"/admin/users/{user_id}", json={"user_metadata": {"plan": "pro", "locale": None}}
    )
    assert updated.status_code == 200
    assert updated.json()["user_metadata"] == {"plan": "pro", "email_verified": True}

    with psycopg.connect(sandbox.database.url) as conn:
        query = "select count(*) from public.user_profiles where id = %s"
        assert conn.execute(query, (user_id,)).fetchone() == (1,)
        deleted = admin.request(
            "DELETE", f"/admin/users/{user_id}", json={"should_soft_delete": False}
        )
        assert deleted.status_code == 200 and deleted.json() == {}
        # Mamapace's user_profiles has no foreign key to auth.users: the row stays behind.
        assert conn.execute(query, (user_id,)).fetchone() == (1,)
        conn.execute("delete from public.user_profiles where id = %s", (user_id,))

    missing = admin.get(f"/admin/users/{user_id}", headers=V2024)
    assert assert_error(missing, 404, "user_not_found")["message"] == "User not found"


def test_admin_generate_link(admin: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    made = admin.post(
        "/admin/generate_link",
        json={"type": "signup", "email": email, "password": PASSWORD, "redirect_to": APP},
    )
    assert made.status_code == 200
    body = made.json()
    cleanup.append(body["id"])
    assert {"id", "email", "aud", "role", "identities", "user_metadata"} <= set(body)
    assert body["email"] == email and body["verification_type"] == "signup"
    assert body["redirect_to"] == APP
    assert re.fullmatch(r"\d{6}", body["email_otp"])
    assert re.fullmatch(r"[0-9a-f]{56}", body["hashed_token"])
    assert hashlib.sha224((email + body["email_otp"]).encode()).hexdigest() == body["hashed_token"]
    assert body["action_link"] == (
        f"{info.api_url}/auth/v1/verify?token={body['hashed_token']}&type=signup&redirect_to={APP}"
    )
    time.sleep(0.2)
    assert count_messages(info.inbox_url, email) == 0  # generate_link never mails

    landed = httpx.get(body["action_link"])
    assert landed.status_code == 303
    assert set(fragment(landed.headers["location"])) == set(FRAGMENT_KEYS)

    disallowed = admin.post(
        "/admin/generate_link",
        json={"type": "magiclink", "email": email, "redirect_to": "https://evil.example.com"},
    )
    assert disallowed.status_code == 200
    assert disallowed.json()["redirect_to"] == SITE
    assert disallowed.json()["verification_type"] == "magiclink"
    no_password = admin.post(
        "/admin/generate_link", json={"type": "signup", "email": address()}, headers=V2024
    )
    assert_error(no_password, 400, "validation_failed")


def test_admin_ban(
    auth: httpx.Client, admin: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    user_id = confirmed(auth, info, email, cleanup)
    session = sign_in(auth, email).json()
    banned = admin.put(f"/admin/users/{user_id}", json={"ban_duration": "1h30m"})
    assert banned.status_code == 200 and "banned_until" in banned.json()
    assert_error(
        auth.get("/user", headers={**V2024, **bearer(session["access_token"])}), 403, "user_banned"
    )
    assert_legacy_error(sign_in(auth, email), 400, "user_banned")
    refresh = auth.post(
        "/token?grant_type=refresh_token", json={"refresh_token": session["refresh_token"]}
    )
    assert_legacy_error(refresh, 400, "user_banned")
    bad = admin.put(f"/admin/users/{user_id}", json={"ban_duration": "1 day"}, headers=V2024)
    assert_error(bad, 400, "validation_failed")
    lifted = admin.put(f"/admin/users/{user_id}", json={"ban_duration": "none"})
    assert "banned_until" not in lifted.json()
    assert sign_in(auth, email).status_code == 200


def test_body_over_one_megabyte(auth: httpx.Client) -> None:
    padding = "x" * (1024 * 1024)
    response = auth.post(
        "/signup",
        json={"email": address(), "password": PASSWORD, "data": {"pad": padding}},
        headers=V2024,
    )
    assert_error(response, 413, "request_entity_too_large")
