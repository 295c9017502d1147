"""Auth's emailed flows and routing on the wire, against GoTrue's source (supabase/auth bc32168e).

Raw httpx through the gateway at /auth/v1, emails read back from the Mailpit-compatible inbox.
Covers POST /recover, /otp, /magiclink, /invite, GET /reauthenticate, the email change of
PUT /user with its /verify step, every type of POST /admin/generate_link, and what an unknown
route or method answers. Comments name the GoTrue file a rule comes from (`internal/api/…`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from synthetics.sandbox.server import SandboxInfo

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
    query,
    sign_in,
    sign_up,
)
from .inbox import confirmation_link, count_messages, wait_for_message, wait_for_messages

NEW_PASSWORD = "staple-battery-horse"
SINGLE_CONFIRMATION = (
    "Confirmation link accepted. Please proceed to confirm link sent to the other email"
)
LINK = r"/auth/v1/verify\?token=(pkce_)?([0-9a-f]{56})&type=(\w+)&redirect_to=(.*)"


def link_parts(info: SandboxInfo, link: str) -> tuple[str, str, str]:
    """(token, type, redirect_to) of a `{{ .ConfirmationURL }}`, checking its fixed shape."""
    match = re.fullmatch(re.escape(info.api_url) + LINK, link)
    assert match, link
    return (match.group(1) or "") + match.group(2), match.group(3), match.group(4)


def session_of(auth: httpx.Client, email: str) -> dict[str, str]:
    """Bearer headers of a fresh password session (2024 error format)."""
    response = sign_in(auth, email)
    assert response.status_code == 200, response.text
    return {**V2024, **bearer(response.json()["access_token"])}


def no_more_mail(info: SandboxInfo, email: str, count: int) -> None:
    """`email` still has exactly `count` messages a moment later (a second one would be in)."""
    time.sleep(0.2)
    assert count_messages(info.inbox_url, email) == count


# -- routing (router.go; go-chi/chi v5.2.4 mux.go) ----------------------------------------------


@pytest.mark.parametrize("headers", [{}, V2024], ids=["legacy", "2024"])
def test_unknown_route_is_chis_plain_text_404(auth: httpx.Client, headers: dict[str, str]) -> None:
    # GoTrue sets no NotFound handler: chi falls back to net/http's http.NotFound, which never
    # reaches HandleResponseError, so the API version changes nothing.
    for method, path in (("GET", "/no-such-endpoint"), ("POST", "/sign_up"), ("GET", "/")):
        response = auth.request(method, path, headers=headers)
        assert response.status_code == 404
        assert response.text == "404 page not found\n"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "x-sb-error-code" not in response.headers
        assert "X-Supabase-Api-Version" not in response.headers
    # r.Post("/recover") is a plain route: no trailing slash; r.Route("/verify") also takes one.
    assert auth.post("/recover/", json={"email": address()}).status_code == 404
    slashed = auth.get("/verify/", params={"token": "0" * 56, "type": "signup"})
    assert slashed.status_code == 303


def test_wrong_method_is_405_with_allow_headers(auth: httpx.Client, info: SandboxInfo) -> None:
    # chi's methodNotAllowedHandler: one Allow header per method, status 405, empty body.
    for method, path, allowed in (
        ("GET", "/recover", {"POST"}),
        ("PUT", "/otp", {"POST"}),
        ("DELETE", "/verify", {"GET", "POST"}),
        ("HEAD", "/health", {"GET"}),  # no implicit HEAD in chi
        ("GET", "/invite", {"POST"}),  # requireAdminCredentials sits on the POST route only
    ):
        response = auth.request(method, path, headers=V2024)
        assert response.status_code == 405, (method, path)
        assert response.content == b""
        assert set(response.headers.get_list("allow")) == allowed
        assert "content-type" not in response.headers


def test_guarded_subtrees_authenticate_before_routing(
    auth: httpx.Client, admin: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    # api.go: With(requireAuthentication).Route("/user") and Route("/admin") + Use(admin):
    # the middleware wraps the whole mount, so it answers before any 404 or 405 inside.
    assert_error(auth.delete("/user", headers=V2024), 401, "no_authorization")
    assert_error(auth.post("/reauthenticate", headers=V2024), 401, "no_authorization")
    email = address()
    confirmed(auth, info, email, cleanup)
    headers = session_of(auth, email)
    wrong = auth.delete("/user", headers=headers)
    assert wrong.status_code == 405 and set(wrong.headers.get_list("allow")) == {"GET", "PUT"}
    assert auth.get("/user/identities", headers=headers).status_code == 404
    anon = auth.get("/admin/audit", headers={**V2024, **bearer(info.anon_key)})
    assert_error(anon, 403, "not_admin")
    missing = admin.get("/admin/no-such-thing")
    assert missing.status_code == 404 and missing.text == "404 page not found\n"


# -- POST /recover (recover.go, mail.go sendPasswordRecovery) -------------------------------------


def test_recovery_journey(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    user_id = confirmed(auth, info, email, cleanup)
    other = session_of(auth, email)

    response = auth.post("/recover", params={"redirect_to": APP}, json={"email": email})
    assert response.status_code == 200 and response.json() == {}
    [message, _] = wait_for_messages(info.inbox_url, email, 2)
    assert message["Subject"] == "Reset your password"  # templatemailer defaultTemplateSubjects
    assert "<h2>Reset your password</h2>" in message["HTML"]
    link = confirmation_link(message)
    token, kind, redirect = link_parts(info, link)
    assert kind == "recovery" and redirect == APP and not token.startswith("pkce_")

    landed = httpx.get(link)  # verify.go verifyGet: recoverVerify, then issueRefreshToken
    assert landed.status_code == 303
    location = landed.headers["location"]
    assert location.startswith(APP + "#")
    params = fragment(location)
    assert list(params) == FRAGMENT_KEYS and params["type"] == "recovery"
    assert claims_of(info, params["access_token"])["sub"] == user_id
    assert claims_of(info, params["access_token"])["amr"][0]["method"] == "otp"
    recovery = {**V2024, **bearer(params["access_token"])}
    assert "recovery_sent_at" in auth.get("/user", headers=recovery).json()

    changed = auth.put("/user", json={"password": NEW_PASSWORD}, headers=recovery)
    assert changed.status_code == 200
    assert sign_in(auth, email, NEW_PASSWORD).status_code == 200
    assert_legacy_error(sign_in(auth, email), 400, "invalid_credentials")
    # UpdatePassword keeps the recovery session and signs every other session out.
    assert auth.get("/user", headers=recovery).status_code == 200
    assert_error(auth.get("/user", headers=other), 403, "session_not_found")

    again = httpx.get(link)
    assert again.headers["location"] == f"{APP}#{EXPIRED_LINK}&sb="


def test_recover_leaks_nothing_about_unknown_addresses(
    auth: httpx.Client, info: SandboxInfo
) -> None:
    unknown = address()
    for headers in ({}, V2024):
        response = auth.post("/recover", json={"email": unknown}, headers=headers)
        assert response.status_code == 200 and response.json() == {}
    no_more_mail(info, unknown, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Password recovery requires an email"),
        ({"email": "not-an-email"}, "Unable to validate email address: invalid format"),
        ({"email": "a@mamapace.dev", "code_challenge": "a" * 43}, "PKCE flow requires"),
    ],
)
def test_recover_validation(auth: httpx.Client, body: dict[str, str], message: str) -> None:
    response = auth.post("/recover", json=body, headers=V2024)
    assert assert_error(response, 400, "validation_failed")["message"].startswith(message)


def test_recover_is_limited_per_address_and_shares_the_magic_link_timer(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    assert auth.post("/recover", json={"email": email}).status_code == 200
    wait_for_messages(info.inbox_url, email, 2)
    again = auth.post("/recover", json={"email": email}, headers=V2024)
    error = assert_error(again, 429, "over_email_send_rate_limit")
    seconds = re.fullmatch(
        r"For security purposes, you can only request this after (\d+) seconds\.", error["message"]
    )
    assert seconds and 50 <= int(seconds.group(1)) <= 59
    # sendMagicLink reuses recovery_sent_at "to prevent potential abuse".
    magic = auth.post("/otp", json={"email": email, "create_user": True}, headers=V2024)
    assert_error(magic, 429, "over_email_send_rate_limit")
    no_more_mail(info, email, 2)


def test_recover_email_rate_limit_fault(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str], faults: Callable[..., None]
) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    faults("email.rate_limit")
    limited = auth.post("/recover", json={"email": email}, headers=V2024)
    assert assert_error(limited, 429, "over_email_send_rate_limit")["message"] == (
        "email rate limit exceeded"
    )
    no_more_mail(info, email, 1)


def test_recover_pkce(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    verifier, challenge = pkce_pair()
    response = auth.post(
        "/recover",
        params={"redirect_to": APP},
        json={"email": email, "code_challenge": challenge, "code_challenge_method": "s256"},
    )
    assert response.status_code == 200
    [message, _] = wait_for_messages(info.inbox_url, email, 2)
    link = confirmation_link(message)
    token, kind, _ = link_parts(info, link)
    assert token.startswith("pkce_") and kind == "recovery"
    landed = httpx.get(link)
    code = query(landed.headers["location"])["code"]
    assert landed.headers["location"] == f"{APP}?code={code}"
    session = auth.post(
        "/token", params={"grant_type": "pkce"}, json={"auth_code": code, "code_verifier": verifier}
    )
    assert session.status_code == 200 and set(session.json()) == SESSION_KEYS
    # The flow state's authentication method is models.Recovery.
    assert claims_of(info, session.json()["access_token"])["amr"][0]["method"] == "recovery"


def test_recovery_link_confirms_an_unconfirmed_user(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    assert sign_up(auth, email, cleanup).status_code == 200
    wait_for_message(info.inbox_url, email)
    assert auth.post("/recover", json={"email": email}).status_code == 200
    [message, _] = wait_for_messages(info.inbox_url, email, 2)
    assert message["Subject"] == "Reset your password"
    params = fragment(httpx.get(confirmation_link(message)).headers["location"])
    user = auth.get("/user", headers=bearer(params["access_token"])).json()
    assert "email_confirmed_at" in user  # recoverVerify: user.Confirm when not confirmed
    assert user["user_metadata"]["email_verified"] is True


# -- POST /otp and /magiclink (otp.go, magic_link.go) ------------------------------------------


def test_otp_for_a_new_address_signs_up_with_a_confirmation_email(
    auth: httpx.Client, admin: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    response = auth.post(
        "/otp",
        params={"redirect_to": APP},
        json={"email": email, "create_user": True, "data": {"locale": "ja"}},
    )
    assert response.status_code == 200 and response.json() == {}
    message = wait_for_message(info.inbox_url, email)
    # MagicLink signs a new address up: "the confirmation email already contains 'magic link'".
    assert message["Subject"] == "Confirm your email address"
    token, kind, redirect = link_parts(info, confirmation_link(message))
    assert kind == "signup" and redirect == APP
    listed = admin.get("/admin/users", params={"per_page": 1000}).json()["users"]
    [user] = [u for u in listed if u["email"] == email]
    cleanup.append(user["id"])
    assert "email_confirmed_at" not in user and user["user_metadata"]["locale"] == "ja"
    # An email OTP is the token hash: POST /verify type=email finds the confirmation token.
    session = auth.post("/verify", json={"type": "email", "token_hash": token})
    assert session.status_code == 200 and "email_confirmed_at" in session.json()["user"]


def test_otp_for_a_confirmed_user_mails_a_sign_in_link(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    user_id = confirmed(auth, info, email, cleanup)
    response = auth.post("/otp", params={"redirect_to": APP}, json={"email": email})
    assert response.status_code == 200 and response.json() == {}
    [message, _] = wait_for_messages(info.inbox_url, email, 2)
    assert message["Subject"] == "Your sign-in link"
    assert '<a href="' in message["HTML"] and ">Sign in</a>" in message["HTML"]
    link = confirmation_link(message)
    _, kind, _ = link_parts(info, link)
    assert kind == "magiclink"
    landed = httpx.get(link)
    params = fragment(landed.headers["location"])
    assert params["type"] == "magiclink" and landed.headers["sb-auth-user-id"] == user_id
    assert httpx.get(link).headers["location"] == f"{APP}#{EXPIRED_LINK}&sb="


def test_otp_create_user_false(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    unknown = address()
    refused = auth.post("/otp", json={"email": unknown, "create_user": False}, headers=V2024)
    assert assert_error(refused, 422, "otp_disabled")["message"] == "Signups not allowed for otp"
    legacy = auth.post("/otp", json={"email": unknown, "create_user": False})
    assert_legacy_error(legacy, 422, "otp_disabled")
    no_more_mail(info, unknown, 0)
    email = address()
    confirmed(auth, info, email, cleanup)
    known = auth.post("/otp", json={"email": email, "create_user": False})
    assert known.status_code == 200
    assert wait_for_messages(info.inbox_url, email, 2)[0]["Subject"] == "Your sign-in link"


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (
            {"email": "a@mamapace.dev", "phone": "+15555550100"},
            400,
            "validation_failed",
            "Only an email address or phone number should be provided",
        ),
        (
            {"email": "a@mamapace.dev", "channel": "sms"},
            400,
            "validation_failed",
            "Channel should only be specified with Phone OTP",
        ),
        ({}, 400, "validation_failed", "One of email or phone must be set"),
        ({"phone": "+15555550100"}, 400, "phone_provider_disabled", "Unsupported phone provider"),
        ({"email": "nope"}, 400, "validation_failed", "Unable to validate email address"),
        (
            {"email": "a@mamapace.dev", "code_challenge": "short", "code_challenge_method": "s256"},
            400,
            "validation_failed",
            "code challenge has to be between 43 and 128 characters",
        ),
    ],
)
def test_otp_validation(
    auth: httpx.Client, body: dict[str, str], status: int, code: str, message: str
) -> None:
    response = auth.post("/otp", json=body, headers=V2024)
    assert assert_error(response, status, code)["message"].startswith(message)


def test_magiclink_endpoint(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    assert auth.post("/magiclink", json={"email": email}).status_code == 200
    [message, _] = wait_for_messages(info.inbox_url, email, 2)
    assert message["Subject"] == "Your sign-in link"
    # MagicLinkParams.Validate answers 422 here; its own json.Decoder words bad bodies.
    empty = auth.post("/magiclink", json={"email": ""}, headers=V2024)
    assert assert_error(empty, 422, "validation_failed")["message"] == (
        "Password recovery requires an email"
    )
    broken = auth.post(
        "/magiclink", content=b"", headers={**V2024, "Content-Type": "application/json"}
    )
    assert (
        assert_error(broken, 400, "bad_json")["message"]
        == "Could not read verification params: EOF"
    )


def test_magic_link_pkce(auth: httpx.Client, info: SandboxInfo, cleanup: list[str]) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    verifier, challenge = pkce_pair()
    response = auth.post(
        "/otp",
        params={"redirect_to": APP},
        json={"email": email, "code_challenge": challenge, "code_challenge_method": "s256"},
    )
    assert response.status_code == 200
    link = confirmation_link(wait_for_messages(info.inbox_url, email, 2)[0])
    assert link_parts(info, link)[0].startswith("pkce_")
    code = query(httpx.get(link).headers["location"])["code"]
    session = auth.post(
        "/token", params={"grant_type": "pkce"}, json={"auth_code": code, "code_verifier": verifier}
    )
    assert session.status_code == 200
    assert claims_of(info, session.json()["access_token"])["amr"][0]["method"] == "magiclink"


# -- POST /invite (invite.go, mail.go sendInvite) -----------------------------------------------


def test_invite_journey(
    auth: httpx.Client, admin: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    invited = admin.post(
        "/invite", params={"redirect_to": APP}, json={"email": email, "data": {"team": "beta"}}
    )
    assert invited.status_code == 200
    user = invited.json()
    cleanup.append(user["id"])
    assert user["email"] == email and user["role"] == "authenticated"
    assert "invited_at" in user and "confirmation_sent_at" in user
    assert "email_confirmed_at" not in user
    assert user["user_metadata"] == {"team": "beta"}
    [identity] = user["identities"]
    assert identity["identity_data"] == {
        "sub": user["id"],
        "email": email,
        "email_verified": False,
        "phone_verified": False,
    }
    message = wait_for_message(info.inbox_url, email)
    assert message["Subject"] == "You've been invited"
    assert ">Accept invitation</a>" in message["HTML"]
    link = confirmation_link(message)
    token, kind, redirect = link_parts(info, link)
    assert kind == "invite" and redirect == APP and not token.startswith("pkce_")

    # Signing up over a pending invitation waits out the invitation's confirmation_sent_at.
    assert_error(sign_up(auth, email, headers=V2024), 429, "over_email_send_rate_limit")

    landed = httpx.get(link)
    assert landed.status_code == 303
    params = fragment(landed.headers["location"])
    assert params["type"] == "invite"
    session = {**V2024, **bearer(params["access_token"])}
    me = auth.get("/user", headers=session).json()
    assert "email_confirmed_at" in me
    # signupVerify gave the passwordless invitee a random password; the app sets a real one.
    assert auth.put("/user", json={"password": NEW_PASSWORD}, headers=session).status_code == 200
    assert sign_in(auth, email, NEW_PASSWORD).status_code == 200
    assert httpx.get(link).headers["location"] == f"{APP}#{EXPIRED_LINK}&sb="


def test_invite_errors(
    auth: httpx.Client, admin: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    anon = auth.post("/invite", json={"email": email}, headers={**V2024, **bearer(info.anon_key)})
    assert_error(anon, 403, "not_admin")
    assert_error(
        auth.post("/invite", json={"email": email}, headers=V2024), 401, "no_authorization"
    )
    bad = admin.post("/invite", json={"email": "nope"}, headers=V2024)
    assert_error(bad, 400, "validation_failed")
    taken = address()
    confirmed(auth, info, taken, cleanup)
    again = admin.post("/invite", json={"email": taken}, headers=V2024)
    assert assert_error(again, 422, "email_exists")["message"] == (
        "A user with this email address has already been registered"
    )
    # An unconfirmed invitee can be invited again at once: sendInvite has no frequency limit.
    first = admin.post("/invite", json={"email": email})
    cleanup.append(first.json()["id"])
    assert first.json()["user_metadata"] == {}
    assert admin.post("/invite", json={"email": email}).status_code == 200
    assert len(wait_for_messages(info.inbox_url, email, 2)) == 2


# -- GET /reauthenticate (reauthenticate.go, mail.go sendReauthenticationOtp) -----------------


def test_reauthenticate_mails_a_code(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    headers = session_of(auth, email)
    response = auth.get("/reauthenticate", headers=headers)
    assert response.status_code == 200 and response.json() == {}
    [message, _] = wait_for_messages(info.inbox_url, email, 2)
    match = re.fullmatch(r"(\d{6}) is your verification code", message["Subject"])
    assert match, message["Subject"]
    assert f"<p>{match.group(1)}</p>" in message["HTML"]
    assert "/verify?" not in message["HTML"]  # a code, no link
    assert "reauthentication_sent_at" in auth.get("/user", headers=headers).json()
    again = auth.get("/reauthenticate", headers=headers)
    assert_error(again, 429, "over_email_send_rate_limit")
    assert_error(auth.get("/reauthenticate", headers=V2024), 401, "no_authorization")


def test_reauthenticate_needs_a_confirmed_email(
    auth: httpx.Client, admin: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    made = admin.post("/admin/users", json={"email": address(), "password": PASSWORD})
    cleanup.append(made.json()["id"])
    # An unconfirmed user cannot sign in; a token minted with the project's secret (no
    # session_id claim) still passes requireAuthentication.
    now = int(time.time())
    token = jwt.encode(
        {"sub": made.json()["id"], "aud": "authenticated", "role": "authenticated",
         "iat": now, "exp": now + 60},
        info.jwt_secret,
        algorithm="HS256",
    )  # fmt: skip
    refused = auth.get("/reauthenticate", headers={**V2024, **bearer(token)})
    assert assert_error(refused, 422, "email_not_confirmed")["message"] == (
        "Please verify your email first."
    )


# -- PUT /user email change (user.go, mail.go sendEmailChange, verify.go emailChangeVerify) ----


def test_secure_email_change_needs_both_links(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email, new = address(), address()
    user_id = confirmed(auth, info, email, cleanup)
    headers = session_of(auth, email)
    response = auth.put(
        "/user", params={"redirect_to": APP}, json={"email": new.upper()}, headers=headers
    )
    assert response.status_code == 200
    user = response.json()
    assert user["email"] == email and user["new_email"] == new
    assert "email_change_sent_at" in user

    to_new = wait_for_message(info.inbox_url, new)
    [to_current, _] = wait_for_messages(info.inbox_url, email, 2)
    for message in (to_new, to_current):
        assert message["Subject"] == "Confirm your new email address"
        assert f"to confirm {new} as your new email address" in message["HTML"]
    new_link, current_link = confirmation_link(to_new), confirmation_link(to_current)
    assert link_parts(info, new_link)[1:] == ("email_change", APP)
    assert link_parts(info, current_link)[1:] == ("email_change", APP)
    assert new_link != current_link

    first = httpx.get(current_link)
    assert first.status_code == 303
    # prepRedirectURL: the message in the fragment, with the sb marker.
    assert first.headers["location"] == (
        APP + "#message=Confirmation+link+accepted.+Please+proceed+to+confirm+link+sent+to"
        "+the+other+email&sb="
    )
    assert auth.get("/user", headers=headers).json()["email"] == email
    assert httpx.get(current_link).headers["location"] == f"{APP}#{EXPIRED_LINK}&sb="

    second = httpx.get(new_link)
    params = fragment(second.headers["location"])
    assert params["type"] == "email_change" and second.headers["sb-auth-user-id"] == user_id
    me = auth.get("/user", headers=bearer(params["access_token"])).json()
    assert me["email"] == new and "new_email" not in me
    assert me["identities"][0]["email"] == new
    assert me["identities"][0]["identity_data"]["email"] == new
    assert sign_in(auth, new).status_code == 200
    assert_legacy_error(sign_in(auth, email), 400, "invalid_credentials")


def test_email_change_by_token_hash_answers_the_single_confirmation(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email, new = address(), address()
    confirmed(auth, info, email, cleanup)
    headers = session_of(auth, email)
    assert auth.put("/user", json={"email": new}, headers=headers).status_code == 200
    new_token = link_parts(info, emailed_link(info, new))[0]
    current_token = link_parts(
        info, confirmation_link(wait_for_messages(info.inbox_url, email, 2)[0])
    )[0]
    first = auth.post("/verify", json={"type": "email_change", "token_hash": new_token})
    # verifyPost's single-confirmation answer; the client looks for code == "200".
    assert first.status_code == 200
    assert first.json() == {"code": "200", "msg": SINGLE_CONFIRMATION}
    second = auth.post("/verify", json={"type": "email_change", "token_hash": current_token})
    assert second.status_code == 200 and set(second.json()) == SESSION_KEYS
    assert second.json()["user"]["email"] == new


def test_email_change_errors_and_limits(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email, taken = address(), address()
    confirmed(auth, info, email, cleanup)
    confirmed(auth, info, taken, cleanup)
    headers = session_of(auth, email)
    clash = auth.put("/user", json={"email": taken}, headers=headers)
    assert assert_error(clash, 422, "email_exists")["message"] == (
        "A user with this email address has already been registered"
    )
    bad = auth.put("/user", json={"email": "nope"}, headers=headers)
    assert_error(bad, 400, "validation_failed")
    same = auth.put("/user", json={"email": email}, headers=headers)
    assert same.status_code == 200 and "new_email" not in same.json()
    no_more_mail(info, email, 1)  # the address is unchanged: nothing is mailed

    new = address()
    assert auth.put("/user", json={"email": new}, headers=headers).status_code == 200
    wait_for_message(info.inbox_url, new)
    again = auth.put("/user", json={"email": address()}, headers=headers)
    assert_error(again, 429, "over_email_send_rate_limit")  # email_change_sent_at
    resent = auth.post("/resend", json={"type": "email_change", "email": email}, headers=V2024)
    assert_error(resent, 429, "over_email_send_rate_limit")


def test_resend_email_change_with_nothing_pending_sends_nothing(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    response = auth.post("/resend", json={"type": "email_change", "email": email})
    assert response.status_code == 200 and response.json() == {}
    no_more_mail(info, email, 1)


# -- POST /admin/generate_link (mail.go adminGenerateLink) --------------------------------------


def test_generate_link_recovery_and_invite(
    auth: httpx.Client, admin: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    user_id = confirmed(auth, info, email, cleanup)
    recovery = admin.post(
        "/admin/generate_link", json={"type": "recovery", "email": email, "redirect_to": APP}
    ).json()
    assert recovery["verification_type"] == "recovery" and recovery["id"] == user_id
    assert "recovery_sent_at" in recovery
    assert link_parts(info, recovery["action_link"]) == (recovery["hashed_token"], "recovery", APP)
    assert fragment(httpx.get(recovery["action_link"]).headers["location"])["type"] == "recovery"

    unknown = admin.post(
        "/admin/generate_link", json={"type": "recovery", "email": address()}, headers=V2024
    )
    assert assert_error(unknown, 404, "user_not_found")["message"] == (
        "User with this email not found"
    )
    invitee = address()
    invite = admin.post(
        "/admin/generate_link",
        json={"type": "invite", "email": invitee, "data": {"team": "beta"}},
    ).json()
    cleanup.append(invite["id"])
    assert invite["verification_type"] == "invite" and "invited_at" in invite
    assert invite["user_metadata"] == {"team": "beta"}
    assert link_parts(info, invite["action_link"])[1:] == ("invite", SITE)
    landed = httpx.get(invite["action_link"])
    assert fragment(landed.headers["location"])["type"] == "invite"
    taken = admin.post(
        "/admin/generate_link", json={"type": "invite", "email": email}, headers=V2024
    )
    assert_error(taken, 422, "email_exists")
    bogus = admin.post(
        "/admin/generate_link", json={"type": "bogus", "email": email}, headers=V2024
    )
    assert assert_error(bogus, 400, "validation_failed")["message"] == (
        "Invalid email action link type requested: bogus"
    )
    no_more_mail(info, email, 1)
    no_more_mail(info, invitee, 0)


def test_generate_link_email_change_current_and_new(
    auth: httpx.Client, admin: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email, new = address(), address()
    confirmed(auth, info, email, cleanup)
    current = admin.post(
        "/admin/generate_link",
        json={"type": "email_change_current", "email": email, "new_email": new},
    ).json()
    assert current["new_email"] == new and current["email"] == email
    assert current["verification_type"] == "email_change_current"
    assert "email_change_sent_at" in current
    otp = current["email_otp"]
    assert current["hashed_token"] == hashlib.sha224((email + otp).encode()).hexdigest()
    assert link_parts(info, current["action_link"]) == (
        current["hashed_token"],
        "email_change",
        SITE,
    )

    changed = admin.post(
        "/admin/generate_link",
        json={"type": "email_change_new", "email": email, "new_email": new, "redirect_to": APP},
    ).json()
    otp = changed["email_otp"]
    # GoTrue's quirk: hashed_token hashes the current address; the link's token the new one.
    assert changed["hashed_token"] == hashlib.sha224((email + otp).encode()).hexdigest()
    link_token = link_parts(info, changed["action_link"])[0]
    assert link_token == hashlib.sha224((new + otp).encode()).hexdigest()
    no_more_mail(info, email, 1)
    no_more_mail(info, new, 0)

    first = httpx.get(current["action_link"])
    assert fragment(first.headers["location"])["message"] == SINGLE_CONFIRMATION
    second = httpx.get(changed["action_link"])
    params = fragment(second.headers["location"])
    assert params["type"] == "email_change"
    assert auth.get("/user", headers=bearer(params["access_token"])).json()["email"] == new


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "email_change_new", "new_email": "nope"}, 400, "validation_failed"),
        ({"type": "email_change_new"}, 400, "validation_failed"),
        ({"type": "email_change_current", "new_email": "SELF"}, 422, "email_exists"),
    ],
)
def test_generate_link_email_change_errors(
    auth: httpx.Client,
    admin: httpx.Client,
    info: SandboxInfo,
    cleanup: list[str],
    body: dict[str, str],
    status: int,
    code: str,
) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    if body.get("new_email") == "SELF":
        body = {**body, "new_email": email}  # IsDuplicatedEmail also finds the user itself
    response = admin.post("/admin/generate_link", json={"email": email, **body}, headers=V2024)
    assert_error(response, status, code)
    unknown = admin.post(
        "/admin/generate_link",
        json={"type": "email_change_new", "email": address(), "new_email": address()},
        headers=V2024,
    )
    assert_error(unknown, 404, "user_not_found")


def test_recovery_redirect_falls_back_to_the_site_url(
    auth: httpx.Client, info: SandboxInfo, cleanup: list[str]
) -> None:
    email = address()
    confirmed(auth, info, email, cleanup)
    response = auth.post(
        "/recover", params={"redirect_to": "mamapace://reset-password"}, json={"email": email}
    )
    assert response.status_code == 200
    link = confirmation_link(wait_for_messages(info.inbox_url, email, 2)[0])
    # Not on the allow-list (only mamapace://auth-callback): GetReferrer falls back silently.
    assert parse_qs(urlsplit(link).query)["redirect_to"] == [SITE]
    assert httpx.get(link).headers["location"].startswith(SITE + "#access_token=")
