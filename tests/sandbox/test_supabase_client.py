"""The official `supabase` Python client, used as an app uses it, against the sandbox."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError, AuthUnknownError

from synthetics.sandbox.server import SandboxInfo

from .inbox import confirmation_link, count_messages, wait_for_message, wait_for_messages

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "staple-battery-horse"
REDIRECT = "mamapace://auth-callback"


def app_client(info: SandboxInfo, flow: str = "implicit") -> Client:
    """A client like the app's: anon key, its own session."""
    return create_client(info.api_url, info.anon_key, ClientOptions(flow_type=flow))  # type: ignore[arg-type]


@pytest.fixture
def service(info: SandboxInfo) -> Client:
    """A separate service-role client: the app client's sign-in would rewrite its headers."""
    options = ClientOptions(auto_refresh_token=False, persist_session=False)
    return create_client(info.api_url, info.service_role_key, options)


def fragment(location: str) -> dict[str, str]:
    """The parameters after `#` of a redirect."""
    return {
        k: v[0] for k, v in parse_qs(urlsplit(location).fragment, keep_blank_values=True).items()
    }


def sign_up_and_confirm(info: SandboxInfo, address: str, cleanup: list[str]) -> Client:
    """A confirmed, signed-in app client for `address`."""
    client = app_client(info)
    response = client.auth.sign_up(
        {"email": address, "password": PASSWORD, "options": {"email_redirect_to": REDIRECT}}
    )
    assert response.user is not None
    cleanup.append(response.user.id)
    link = confirmation_link(wait_for_message(info.inbox_url, address))
    assert httpx.get(link).status_code == 303
    client.auth.sign_in_with_password({"email": address, "password": PASSWORD})
    return client


def test_implicit_sign_up_journey(info: SandboxInfo, email: str, cleanup: list[str]) -> None:
    client = app_client(info)
    response = client.auth.sign_up(
        {"email": email, "password": PASSWORD, "options": {"email_redirect_to": REDIRECT}}
    )
    assert response.user is not None and response.session is None
    cleanup.append(response.user.id)
    assert response.user.email == email
    assert response.user.email_confirmed_at is None

    with pytest.raises(AuthApiError) as refused:
        client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert refused.value.code == "email_not_confirmed"

    message = wait_for_message(info.inbox_url, email)
    link = confirmation_link(message)
    assert "/auth/v1/verify?token=" in link and "type=signup" in link
    first = httpx.get(link)
    assert first.status_code == 303
    location = first.headers["location"]
    assert location.startswith(f"{REDIRECT}#access_token=")
    tokens = fragment(location)
    assert tokens["type"] == "signup" and tokens["token_type"] == "bearer"

    second = httpx.get(link)
    assert second.status_code == 303
    error = fragment(second.headers["location"])
    assert error["error_code"] == "otp_expired"
    assert "access_token" not in error

    user = client.auth.get_user(tokens["access_token"])
    assert user is not None and user.user.email_confirmed_at is not None
    assert user.user.user_metadata["email_verified"] is True


def test_session_lifecycle(info: SandboxInfo, email: str, cleanup: list[str]) -> None:
    client = sign_up_and_confirm(info, email, cleanup)
    session = client.auth.get_session()
    assert session is not None
    first_refresh, first_access = session.refresh_token, session.access_token

    refreshed = client.auth.refresh_session()
    assert refreshed.session is not None
    assert refreshed.session.refresh_token != first_refresh  # rotation

    updated = client.auth.update_user({"data": {"display_name": "Synthetic"}})
    assert updated is not None and updated.user.user_metadata["display_name"] == "Synthetic"

    old_access = refreshed.session.access_token
    client.auth.sign_out()
    for token in (old_access, first_access):
        with pytest.raises(AuthApiError) as gone:
            client.auth.get_user(token)
        assert gone.value.status == 403
        assert gone.value.code == "session_not_found"


def test_every_v2_rpc_as_the_app_calls_it(
    info: SandboxInfo, email: str, cleanup: list[str]
) -> None:
    alice = sign_up_and_confirm(info, email, cleanup)
    bob = sign_up_and_confirm(info, f"bob-{uuid.uuid4().hex[:10]}@mamapace-synthetics.dev", cleanup)
    bob_id = bob.auth.get_user().user.id  # type: ignore[union-attr]

    profile = alice.rpc("get_my_profile_v2").execute().data
    assert isinstance(profile, dict) and profile["username"] and profile["avatar_emoji"] == "👶"
    me = profile["id"]
    changed = alice.rpc(
        "update_my_profile_v2",
        {"p_display_name": "Alice", "p_bio": "synthetic", "p_avatar_emoji": "🌱"},
    ).execute()
    assert changed.data["display_name"] == "Alice"
    assert alice.rpc("get_user_profile_v2", {"p_user_id": bob_id}).execute().data["id"] == bob_id

    post = (
        alice.rpc("create_post_v2", {"p_body": "hello from the sandbox", "p_attachments": []})
        .execute()
        .data
    )
    assert post["user_id"] == me and post["body"] == "hello from the sandbox"
    assert post["attachments"] == []
    first_page = {"p_offset_time": None, "p_limit": 20}
    feed = alice.rpc("get_home_feed_v2", first_page).execute().data
    assert isinstance(feed, list) and post["id"] in {row["id"] for row in feed}
    mine = alice.rpc("get_user_posts_v2", first_page).execute().data
    assert [(row["id"], row["display_name"], row["is_liked"]) for row in mine] == [
        (post["id"], "Alice", False)
    ]
    assert alice.rpc("get_user_post_count_v2").execute().data == 1

    assert alice.rpc("add_reaction_v2", {"p_post_id": post["id"]}).execute().data is True
    assert alice.rpc("add_reaction_v2", {"p_post_id": post["id"]}).execute().data is False
    liked = alice.rpc("get_liked_posts_v2", first_page).execute().data
    assert [(row["id"], row["reaction_count"]) for row in liked] == [(post["id"], 1)]
    assert alice.rpc("remove_reaction_v2", {"p_post_id": post["id"]}).execute().data is True

    comment = alice.rpc(
        "create_comment_v2", {"p_post_id": post["id"], "p_body": "first", "p_attachments": []}
    ).execute()
    comments = (
        alice.rpc("get_post_comments_v2", {"p_post_id": post["id"], **first_page}).execute().data
    )
    assert [(c["id"], c["display_name"]) for c in comments] == [(comment.data["id"], "Alice")]

    assert alice.rpc("follow_user_v2", {"p_target_user_id": bob_id}).execute().data is True
    assert alice.rpc("is_following_v2", {"p_target_user_id": bob_id}).execute().data is True
    counts = alice.rpc("get_follow_counts_v2", {"p_user_id": bob_id}).execute().data
    assert counts == [{"followers": 1, "following": 0}]
    listing = {"p_limit": 20, "p_before": None}
    followers = alice.rpc("get_followers_v2", {"p_user_id": bob_id, **listing}).execute().data
    assert [f["user_id"] for f in followers] == [me]
    following = alice.rpc("get_following_v2", {"p_user_id": me, **listing}).execute().data
    assert [f["user_id"] for f in following] == [bob_id]
    assert alice.rpc("unfollow_user_v2", {"p_target_user_id": bob_id}).execute().data is True

    # Bob can neither delete Alice's comment nor her post.
    assert (
        bob.rpc("delete_comment_v2", {"p_comment_id": comment.data["id"]}).execute().data is False
    )
    assert bob.rpc("delete_post_v2", {"p_post_id": post["id"]}).execute().data is False
    assert alice.rpc("get_user_post_count_v2").execute().data == 1

    assert alice.rpc("delete_comment_v2", {"p_comment_id": comment.data["id"]}).execute().data
    assert alice.rpc("delete_post_v2", {"p_post_id": post["id"]}).execute().data is True
    assert alice.rpc("get_user_post_count_v2").execute().data == 0


def test_a_body_only_create_post_v2_is_ambiguous_as_on_the_real_schema(
    info: SandboxInfo, email: str, cleanup: list[str]
) -> None:
    alice = sign_up_and_confirm(info, email, cleanup)

    with pytest.raises(APIError) as refused:
        alice.rpc("create_post_v2", {"p_body": "no attachments"}).execute()

    assert refused.value.code == "PGRST203"
    assert refused.value.message == (
        "Could not choose the best candidate function between: "
        "public.create_post_v2(p_body => text), "
        "public.create_post_v2(p_body => text, p_attachments => jsonb)"
    )
    assert alice.rpc("get_user_post_count_v2").execute().data == 0


def test_deleting_the_user_leaves_its_profile_behind(
    info: SandboxInfo, service: Client, email: str
) -> None:
    created = service.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True}
    )
    user_id = created.user.id
    try:
        service.auth.admin.delete_user(user_id)
        left = service.table("user_profiles").select("id, username").eq("id", user_id).execute()
        # No foreign key to auth.users: cleanup has to delete the profile row itself.
        assert [row["id"] for row in left.data] == [user_id]
    finally:
        service.table("user_profiles").delete().eq("id", user_id).execute()
    assert service.table("user_profiles").select("id").eq("id", user_id).execute().data == []


def test_anonymous_access_is_refused(info: SandboxInfo) -> None:
    anon = app_client(info)
    with pytest.raises(APIError) as rpc:
        anon.rpc("get_home_feed_v2", {}).execute()
    assert rpc.value.code == "42501"
    with pytest.raises(APIError) as table:
        anon.table("posts").select("*").execute()
    assert table.value.code == "42501"
    with pytest.raises(APIError) as missing:
        anon.rpc("no_such_function_v2", {"p_x": 1}).execute()
    assert missing.value.code == "PGRST202"


def test_admin_api_through_a_service_role_client(
    info: SandboxInfo, service: Client, email: str
) -> None:
    created = service.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True, "user_metadata": {"a": 1}}
    )
    user_id = created.user.id
    try:
        assert created.user.email_confirmed_at is not None
        listed = service.auth.admin.list_users(per_page=1000)
        assert user_id in {u.id for u in listed}
        assert service.auth.admin.get_user_by_id(user_id).user.email == email
        updated = service.auth.admin.update_user_by_id(user_id, {"user_metadata": {"b": 2}})
        assert updated.user.user_metadata["a"] == 1 and updated.user.user_metadata["b"] == 2

        link = service.auth.admin.generate_link(
            {"type": "magiclink", "email": email, "options": {"redirect_to": REDIRECT}}
        )
        assert link.properties.verification_type == "magiclink"
        assert link.properties.redirect_to == REDIRECT
        landed = httpx.get(link.properties.action_link)
        assert landed.status_code == 303
        assert landed.headers["location"].startswith(f"{REDIRECT}#access_token=")
    finally:
        service.auth.admin.delete_user(user_id)
    with pytest.raises(AuthApiError) as gone:
        service.auth.admin.get_user_by_id(user_id)
    assert gone.value.code == "user_not_found"


def test_pkce_journey_as_supabase_js_performs_it(
    info: SandboxInfo, email: str, cleanup: list[str]
) -> None:
    client = app_client(info, flow="pkce")
    response = client.auth.sign_up(
        {"email": email, "password": PASSWORD, "options": {"email_redirect_to": REDIRECT}}
    )
    assert response.user is not None and response.session is None
    cleanup.append(response.user.id)

    link = confirmation_link(wait_for_message(info.inbox_url, email))
    assert "token=pkce_" in link
    landed = httpx.get(link)
    assert landed.status_code == 303
    location = landed.headers["location"]
    assert location.startswith(f"{REDIRECT}?code=")
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert uuid.UUID(code)

    session = client.auth.exchange_code_for_session({"auth_code": code})  # type: ignore[typeddict-item]
    assert session.session is not None
    assert session.user is not None and session.user.email_confirmed_at is not None
    assert client.rpc("get_my_profile_v2").execute().data["id"] == session.user.id


def other_address() -> str:
    """A second fresh address."""
    return f"other-{uuid.uuid4().hex[:10]}@mamapace-synthetics.dev"


def link_token(link: str) -> str:
    """The `token` of a /verify link."""
    return parse_qs(urlsplit(link).query)["token"][0]


def test_password_recovery_journey(info: SandboxInfo, email: str, cleanup: list[str]) -> None:
    sign_up_and_confirm(info, email, cleanup)
    client = app_client(info)
    assert client.auth.reset_password_for_email(email, {"redirect_to": REDIRECT}) is None
    [message, _] = wait_for_messages(info.inbox_url, email, 2)
    assert message["Subject"] == "Reset your password"
    link = confirmation_link(message)
    assert "type=recovery" in link
    with pytest.raises(AuthApiError) as again:
        client.auth.reset_password_email(email)  # the alias; within SMTP_MAX_FREQUENCY
    assert again.value.code == "over_email_send_rate_limit" and again.value.status == 429
    landed = httpx.get(link)
    assert landed.status_code == 303
    tokens = fragment(landed.headers["location"])
    assert landed.headers["location"].startswith(f"{REDIRECT}#access_token=")
    assert tokens["type"] == "recovery"

    # The app's deep-link handler: adopt the session, then set the new password.
    client.auth.set_session(tokens["access_token"], tokens["refresh_token"])
    changed = client.auth.update_user({"password": NEW_PASSWORD})
    assert changed.user.email == email
    client.auth.sign_out()
    fresh = app_client(info).auth.sign_in_with_password({"email": email, "password": NEW_PASSWORD})
    assert fresh.session is not None
    with pytest.raises(AuthApiError) as old:
        app_client(info).auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert old.value.code == "invalid_credentials"
    # The new password cleared recovery_sent_at (UpdatePassword): a new request may follow.
    assert client.auth.reset_password_email(email) is None


def test_password_recovery_errors_are_api_errors(info: SandboxInfo) -> None:
    client = app_client(info)
    assert client.auth.reset_password_email(other_address()) is None  # no leak
    with pytest.raises(AuthApiError) as invalid:
        client.auth.reset_password_for_email("not-an-email")
    assert invalid.value.code == "validation_failed" and invalid.value.status == 400


def test_password_recovery_pkce_journey(info: SandboxInfo, email: str, cleanup: list[str]) -> None:
    sign_up_and_confirm(info, email, cleanup)
    client = app_client(info, flow="pkce")
    client.auth.reset_password_for_email(email, {"redirect_to": REDIRECT})
    link = confirmation_link(wait_for_messages(info.inbox_url, email, 2)[0])
    assert link_token(link).startswith("pkce_")
    location = httpx.get(link).headers["location"]
    assert location.startswith(f"{REDIRECT}?code=")
    code = parse_qs(urlsplit(location).query)["code"][0]
    session = client.auth.exchange_code_for_session({"auth_code": code})  # type: ignore[typeddict-item]
    assert session.session is not None and session.user is not None
    client.auth.update_user({"password": NEW_PASSWORD})
    assert (
        app_client(info)
        .auth.sign_in_with_password({"email": email, "password": NEW_PASSWORD})
        .session
    )


def test_sign_in_with_otp_by_link(info: SandboxInfo, email: str, cleanup: list[str]) -> None:
    client = app_client(info)
    sent = client.auth.sign_in_with_otp(
        {"email": email, "options": {"email_redirect_to": REDIRECT}}
    )
    assert sent.user is None and sent.session is None
    signup = wait_for_message(info.inbox_url, email)
    assert signup["Subject"] == "Confirm your email address"  # a new address is signed up
    landed = httpx.get(confirmation_link(signup))
    tokens = fragment(landed.headers["location"])
    assert tokens["type"] == "signup"
    cleanup.append(landed.headers["sb-auth-user-id"])

    again = client.auth.sign_in_with_otp({"email": email, "options": {"should_create_user": False}})
    assert again.session is None
    [magic, _] = wait_for_messages(info.inbox_url, email, 2)
    assert magic["Subject"] == "Your sign-in link"
    # The link's token is the OTP's token hash: verify_otp accepts it as the app's handler would.
    signed_in = client.auth.verify_otp(
        {"token_hash": link_token(confirmation_link(magic)), "type": "magiclink"}
    )
    assert signed_in.session is not None and signed_in.user is not None
    assert signed_in.user.email == email

    with pytest.raises(AuthApiError) as unknown:
        client.auth.sign_in_with_otp(
            {"email": other_address(), "options": {"should_create_user": False}}
        )
    assert unknown.value.code == "otp_disabled" and unknown.value.status == 422
    with pytest.raises(AuthApiError) as used:
        client.auth.verify_otp({"email": email, "token": "000000", "type": "email"})
    assert used.value.code == "otp_expired"


def test_invite_user_by_email(info: SandboxInfo, service: Client, email: str) -> None:
    invited = service.auth.admin.invite_user_by_email(
        email, {"data": {"team": "beta"}, "redirect_to": REDIRECT}
    )
    try:
        assert invited.user.invited_at is not None and invited.user.email_confirmed_at is None
        assert invited.user.user_metadata == {"team": "beta"}
        message = wait_for_message(info.inbox_url, email)
        assert message["Subject"] == "You've been invited"
        landed = httpx.get(confirmation_link(message))
        tokens = fragment(landed.headers["location"])
        assert tokens["type"] == "invite"
        app = app_client(info)
        app.auth.set_session(tokens["access_token"], tokens["refresh_token"])
        app.auth.update_user({"password": NEW_PASSWORD})
        assert (
            app_client(info)
            .auth.sign_in_with_password({"email": email, "password": NEW_PASSWORD})
            .session
        )
        with pytest.raises(AuthApiError) as taken:
            service.auth.admin.invite_user_by_email(email)
        assert taken.value.code == "email_exists" and taken.value.status == 422
    finally:
        service.auth.admin.delete_user(invited.user.id)


def test_reauthenticate(info: SandboxInfo, email: str, cleanup: list[str]) -> None:
    client = sign_up_and_confirm(info, email, cleanup)
    answer = client.auth.reauthenticate()
    assert answer.user is None and answer.session is None
    [message, _] = wait_for_messages(info.inbox_url, email, 2)
    assert re.fullmatch(r"\d{6} is your verification code", message["Subject"])
    with pytest.raises(AuthApiError) as again:
        client.auth.reauthenticate()
    assert again.value.code == "over_email_send_rate_limit"


def test_update_user_email_needs_both_confirmations(
    info: SandboxInfo, email: str, cleanup: list[str]
) -> None:
    client = sign_up_and_confirm(info, email, cleanup)
    new = other_address()
    updated = client.auth.update_user({"email": new}, {"email_redirect_to": REDIRECT})
    assert updated.user.email == email and updated.user.new_email == new
    to_new = wait_for_message(info.inbox_url, new)
    [to_current, _] = wait_for_messages(info.inbox_url, email, 2)
    for message in (to_new, to_current):
        assert message["Subject"] == "Confirm your new email address"
        assert "type=email_change" in confirmation_link(message)

    first = client.auth.verify_otp(
        {"token_hash": link_token(confirmation_link(to_current)), "type": "email_change"}
    )
    assert first.session is None and first.user is None  # the client's single-confirmation case
    assert client.auth.get_user().user.email == email  # type: ignore[union-attr]
    second = client.auth.verify_otp(
        {"token_hash": link_token(confirmation_link(to_new)), "type": "email_change"}
    )
    assert second.session is not None and second.user is not None
    assert second.user.email == new
    assert client.auth.get_user().user.email == new  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "lands_on"),
    [
        ("signup", "signup"),
        ("invite", "invite"),
        ("magiclink", "magiclink"),
        ("recovery", "recovery"),
        # Secure email change: either link alone is only the first of two confirmations.
        ("email_change_current", "message"),
        ("email_change_new", "message"),
    ],
)
def test_generate_link_every_type(
    info: SandboxInfo, service: Client, email: str, cleanup: list[str], kind: str, lands_on: str
) -> None:
    if kind in ("magiclink", "recovery", "email_change_current", "email_change_new"):
        made = service.auth.admin.create_user(
            {"email": email, "password": PASSWORD, "email_confirm": True}
        )
        cleanup.append(made.user.id)
    params: dict[str, object] = {"type": kind, "email": email, "options": {"redirect_to": REDIRECT}}
    if kind == "signup":
        params["password"] = PASSWORD
    if kind.startswith("email_change"):
        params["new_email"] = other_address()
    link = service.auth.admin.generate_link(params)  # type: ignore[arg-type]
    if kind in ("signup", "invite"):
        cleanup.append(link.user.id)
    props = link.properties
    assert props.verification_type == kind and props.redirect_to == REDIRECT
    assert re.fullmatch(r"\d{6}", props.email_otp) and re.fullmatch(
        r"[0-9a-f]{56}", props.hashed_token
    )
    assert link.user.email == email
    if kind.startswith("email_change"):
        assert link.user.new_email == params["new_email"]
    landed = httpx.get(props.action_link)
    assert landed.status_code == 303
    landed_on = fragment(landed.headers["location"])
    assert landed_on.get("type", "message" if "message" in landed_on else None) == lands_on
    time.sleep(0.1)
    assert count_messages(info.inbox_url, email) == 0  # generate_link never mails


def test_errors_are_api_errors_not_unknown_errors(info: SandboxInfo, service: Client) -> None:
    for call in (
        lambda: service.auth.admin.generate_link({"type": "recovery", "email": other_address()}),
        lambda: service.auth.admin.invite_user_by_email("not-an-email"),
        lambda: app_client(info).auth.sign_in_with_otp({"email": "not-an-email"}),
    ):
        with pytest.raises(AuthApiError) as caught:
            call()
        assert not isinstance(caught.value, AuthUnknownError)
        assert caught.value.code in ("user_not_found", "validation_failed")
