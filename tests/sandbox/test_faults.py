"""Every sandbox fault, switched at run time, shows its effect on the wire."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from synthetics.sandbox.server import Sandbox, SandboxInfo

from .api import confirmed_user, headers, rpc, service_headers, sign_up
from .inbox import confirmation_link, count_messages, wait_for_message

SetFaults = Callable[..., None]
#: create_post_v2 as the app calls it (postService.ts createPost).
APP_POST = {"p_body": "mine", "p_attachments": []}


def test_email_drop_loses_the_confirmation(
    info: SandboxInfo, faults: SetFaults, email: str
) -> None:
    faults("email.drop")
    assert sign_up(info, email).status_code == 200
    faults()
    control = email.replace("synthetic-", "control-")  # Mailpit's to: matches substrings
    assert sign_up(info, control).status_code == 200
    # Mail goes out in order during sign-up: once the later one is in, the dropped one never comes.
    wait_for_message(info.inbox_url, control)
    assert count_messages(info.inbox_url, email) == 0


def test_email_delay_holds_the_message_back(
    info: SandboxInfo, faults: SetFaults, email: str
) -> None:
    faults("email.delay=1")
    started = time.monotonic()
    assert sign_up(info, email).status_code == 200
    assert count_messages(info.inbox_url, email) == 0
    wait_for_message(info.inbox_url, email, timeout=10)
    assert time.monotonic() - started >= 1.0


def test_email_rate_limit_refuses_sign_up_with_429(
    info: SandboxInfo, faults: SetFaults, email: str
) -> None:
    faults("email.rate_limit")
    refused = sign_up(info, email)
    assert refused.status_code == 429
    assert refused.json()["code"] == "over_email_send_rate_limit"
    faults()
    # The refused sign-up left no user behind: the address signs up as new.
    accepted = sign_up(info, email)
    assert accepted.status_code == 200 and len(accepted.json()["identities"]) == 1


def test_redirect_disallowed_falls_back_to_the_site_url(
    info: SandboxInfo, faults: SetFaults, email: str
) -> None:
    faults("auth.redirect_disallowed")
    assert sign_up(info, email).status_code == 200
    link = confirmation_link(wait_for_message(info.inbox_url, email))
    assert link.endswith("redirect_to=https://app.mamapace.com")
    location = httpx.get(link).headers["location"]
    assert location.startswith("https://app.mamapace.com#access_token=")


def test_autoconfirm_returns_a_session_at_sign_up(
    info: SandboxInfo, faults: SetFaults, email: str
) -> None:
    faults("auth.autoconfirm")
    settings = httpx.get(f"{info.api_url}/auth/v1/settings", headers=headers(info)).json()
    assert settings["mailer_autoconfirm"] is True
    body = sign_up(info, email).json()
    assert body["access_token"] and body["user"]["email_confirmed_at"]
    assert count_messages(info.inbox_url, email) == 0


def test_signup_error_answers_500(info: SandboxInfo, faults: SetFaults, email: str) -> None:
    faults("auth.signup_error")
    response = sign_up(info, email)
    assert response.status_code == 500
    assert response.json()["code"] == "unexpected_failure"


def test_auth_latency_slows_auth_only(info: SandboxInfo, faults: SetFaults) -> None:
    faults("auth.latency=300")
    started = time.monotonic()
    assert httpx.get(f"{info.api_url}/auth/v1/health", headers=headers(info)).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    httpx.get(f"{info.api_url}/rest/v1/", headers=headers(info))
    assert time.monotonic() - started < 0.3


def test_rpc_latency_global_and_per_function(info: SandboxInfo, faults: SetFaults) -> None:
    with confirmed_user(info) as user:
        faults("rpc.latency=250", "rpc.latency=get_user_post_count_v2:600")
        started = time.monotonic()
        assert rpc(info, "get_my_profile_v2", {}, user.access_token).status_code == 200
        assert 0.25 <= time.monotonic() - started < 0.6
        started = time.monotonic()
        assert rpc(info, "get_user_post_count_v2", {}, user.access_token).json() == 0
        assert time.monotonic() - started >= 0.6


def test_rpc_missing_and_rpc_error(info: SandboxInfo, faults: SetFaults) -> None:
    with confirmed_user(info) as user:
        faults("rpc.missing=get_home_feed_v2", "rpc.error=get_user_post_count_v2")
        missing = rpc(info, "get_home_feed_v2", {}, user.access_token)
        assert missing.status_code == 404 and missing.json()["code"] == "PGRST202"
        failing = rpc(info, "get_user_post_count_v2", {}, user.access_token)
        assert failing.status_code == 400 and failing.json()["code"] == "P0001"
        assert rpc(info, "get_my_profile_v2", {}, user.access_token).status_code == 200
        faults()
        assert rpc(info, "get_home_feed_v2", {}, user.access_token).status_code == 200


def test_anon_grant_opens_rpcs_and_tables_to_anon(info: SandboxInfo, faults: SetFaults) -> None:
    feed = f"{info.api_url}/rest/v1/rpc/get_home_feed_v2"
    posts = f"{info.api_url}/rest/v1/posts?select=id"
    assert httpx.post(feed, headers=headers(info), json={}).status_code == 401
    faults("security.anon_grant")
    opened = httpx.post(feed, headers=headers(info), json={})
    assert opened.status_code == 200 and isinstance(opened.json(), list)
    assert httpx.get(posts, headers=headers(info)).status_code == 200
    faults()
    assert httpx.post(feed, headers=headers(info), json={}).status_code == 401
    assert httpx.get(posts, headers=headers(info)).status_code == 401


def test_anon_grant_is_the_real_surface_v1_included(info: SandboxInfo, faults: SetFaults) -> None:
    v1 = f"{info.api_url}/rest/v1/rpc/create_post"
    with confirmed_user(info) as alice:
        forged = {"p_user_id": alice.id, "p_body": "posted by nobody"}
        closed = httpx.post(v1, headers=headers(info), json=forged)
        assert closed.status_code == 401 and closed.json()["code"] == "42501"
        faults("security.anon_grant")
        try:
            # The anon key alone posts as Alice through the v1 function.
            post = httpx.post(v1, headers=headers(info), json=forged)
            assert post.status_code == 200 and post.json()["user_id"] == alice.id
            for table in ("user_profiles", "encrypted_maternal_health_records", "auth_sessions"):
                read = httpx.get(f"{info.api_url}/rest/v1/{table}", headers=headers(info))
                assert read.status_code == 200 and isinstance(read.json(), list), table
            profile = httpx.get(
                f"{info.api_url}/rest/v1/user_profiles",
                headers=headers(info),
                params={"select": "id,password_hash", "id": f"eq.{alice.id}"},
            )
            assert profile.json() == [{"id": alice.id, "password_hash": None}]
        finally:
            faults()
        assert httpx.post(v1, headers=headers(info), json=forged).status_code == 401
        for table in ("user_profiles", "encrypted_maternal_health_records", "auth_sessions"):
            read = httpx.get(f"{info.api_url}/rest/v1/{table}", headers=headers(info))
            assert read.status_code == 401 and read.json()["code"] == "42501", table
        deleted = rpc(info, "delete_post_v2", {"p_post_id": post.json()["id"]}, alice.access_token)
        assert deleted.json() is True


def test_both_database_faults_at_once_keep_each_other(info: SandboxInfo, faults: SetFaults) -> None:
    with confirmed_user(info) as alice, confirmed_user(info) as bob:
        mine = rpc(info, "create_post_v2", APP_POST, alice.access_token).json()
        faults("security.anon_grant", "security.cross_user")
        # anon still reaches delete_post_v2 although its body was swapped after the grants.
        anon = rpc(info, "delete_post_v2", {"p_post_id": str(uuid.uuid4())}, None)
        assert anon.status_code == 200 and anon.json() is False
        assert rpc(info, "delete_post_v2", {"p_post_id": mine["id"]}, bob.access_token).json()
        faults()
        anon = rpc(info, "delete_post_v2", {"p_post_id": str(uuid.uuid4())}, None)
        assert anon.status_code == 401


def test_cross_user_lets_anyone_delete_a_post(info: SandboxInfo, faults: SetFaults) -> None:
    with confirmed_user(info) as alice, confirmed_user(info) as bob:
        first = rpc(info, "create_post_v2", APP_POST, alice.access_token).json()
        assert (
            rpc(info, "delete_post_v2", {"p_post_id": first["id"]}, bob.access_token).json()
            is False
        )
        faults("security.cross_user")
        assert (
            rpc(info, "delete_post_v2", {"p_post_id": first["id"]}, bob.access_token).json() is True
        )
        faults()
        second = rpc(info, "create_post_v2", APP_POST, alice.access_token).json()
        assert (
            rpc(info, "delete_post_v2", {"p_post_id": second["id"]}, bob.access_token).json()
            is False
        )
        rpc(info, "delete_post_v2", {"p_post_id": second["id"]}, alice.access_token)


def test_verbose_errors_leak_sql(info: SandboxInfo, faults: SetFaults) -> None:
    with confirmed_user(info) as user:
        bad = {"p_post_id": str(uuid.uuid4()), "p_body": "", "p_attachments": []}
        quiet = rpc(info, "create_comment_v2", bad, user.access_token).json()
        assert quiet["message"] == "Comment must have content or images"
        assert "select" not in str(quiet).lower()
        faults("security.verbose_errors")
        loud = rpc(info, "create_comment_v2", bad, user.access_token).json()
        assert "SQL: select" in loud["details"]
        assert "PL/pgSQL function create_comment_v2" in loud["details"]


def test_flaky_answers_502_for_the_first_requests(info: SandboxInfo, faults: SetFaults) -> None:
    faults("flaky=2")
    url = f"{info.api_url}/auth/v1/health"
    codes = [httpx.get(url, headers=headers(info)).status_code for _ in range(3)]
    assert codes == [502, 502, 200]


def test_faults_endpoint_needs_the_service_role_key(info: SandboxInfo, sandbox: Sandbox) -> None:
    url = f"{info.api_url}/sandbox/v1/faults"
    assert httpx.get(url, headers=headers(info)).status_code == 403
    assert httpx.get(url).status_code == 401  # the gateway wants an apikey first
    admin = service_headers(info)
    try:
        added = httpx.post(url, headers=admin, json={"fault": "email.delay=5"})
        assert added.json() == {"faults": ["email.delay=5"]}
        assert sandbox.faults.email_delay_s() == 5
        replaced = httpx.put(url, headers=admin, json={"faults": ["flaky=1", "email.drop"]})
        assert replaced.json() == {"faults": ["flaky=1", "email.drop"]}
        removed = httpx.delete(f"{url}/email.drop", headers=admin)
        assert removed.json() == {"faults": ["flaky=1"]}
        bad = httpx.post(url, headers=admin, json={"fault": "email.explode"})
        assert bad.status_code == 400 and "unknown fault 'email.explode'" in bad.json()["message"]
    finally:
        assert httpx.delete(url, headers=admin).json() == {"faults": []}


@pytest.mark.parametrize("flow", ["implicit", "pkce"])
def test_faults_cleared_leave_a_working_journey(
    info: SandboxInfo, faults: SetFaults, email: str, flow: str
) -> None:
    faults("security.anon_grant", "security.cross_user", "email.drop")
    faults()
    body = {"code_challenge": "x" * 43, "code_challenge_method": "plain"} if flow == "pkce" else {}
    assert sign_up(info, email, **body).status_code == 200
    location = httpx.get(confirmation_link(wait_for_message(info.inbox_url, email))).headers[
        "location"
    ]
    if flow == "pkce":
        assert parse_qs(urlsplit(location).query)["code"]
    else:
        assert "access_token=" in location
