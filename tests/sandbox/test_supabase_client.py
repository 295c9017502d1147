"""The official `supabase` Python client, used as an app uses it, against the sandbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from synthetics.sandbox.server import SandboxInfo

from .inbox import confirmation_link, wait_for_message

PASSWORD = "correct-horse-battery"
REDIRECT = "mamapace://auth-callback"


def app_client(info: SandboxInfo, flow: str = "implicit") -> Client:
    """A client like the app's: anon key, its own session."""
    return create_client(info.api_url, info.anon_key, ClientOptions(flow_type=flow))  # type: ignore[arg-type]


@pytest.fixture
def admin(info: SandboxInfo) -> Client:
    """A separate service-role client: the app client's sign-in would rewrite its headers."""
    options = ClientOptions(auto_refresh_token=False, persist_session=False)
    return create_client(info.api_url, info.service_role_key, options)


@pytest.fixture
def cleanup(admin: Client) -> Iterator[list[str]]:
    """User ids to delete after the test."""
    ids: list[str] = []
    yield ids
    for user_id in ids:
        admin.auth.admin.delete_user(user_id)


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
    info: SandboxInfo, admin: Client, email: str
) -> None:
    created = admin.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True}
    )
    user_id = created.user.id
    try:
        admin.auth.admin.delete_user(user_id)
        left = admin.table("user_profiles").select("id, username").eq("id", user_id).execute()
        # No foreign key to auth.users: cleanup has to delete the profile row itself.
        assert [row["id"] for row in left.data] == [user_id]
    finally:
        admin.table("user_profiles").delete().eq("id", user_id).execute()
    assert admin.table("user_profiles").select("id").eq("id", user_id).execute().data == []


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
    info: SandboxInfo, admin: Client, email: str
) -> None:
    created = admin.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True, "user_metadata": {"a": 1}}
    )
    user_id = created.user.id
    try:
        assert created.user.email_confirmed_at is not None
        listed = admin.auth.admin.list_users(per_page=1000)
        assert user_id in {u.id for u in listed}
        assert admin.auth.admin.get_user_by_id(user_id).user.email == email
        updated = admin.auth.admin.update_user_by_id(user_id, {"user_metadata": {"b": 2}})
        assert updated.user.user_metadata["a"] == 1 and updated.user.user_metadata["b"] == 2

        link = admin.auth.admin.generate_link(
            {"type": "magiclink", "email": email, "options": {"redirect_to": REDIRECT}}
        )
        assert link.properties.verification_type == "magiclink"
        assert link.properties.redirect_to == REDIRECT
        landed = httpx.get(link.properties.action_link)
        assert landed.status_code == 303
        assert landed.headers["location"].startswith(f"{REDIRECT}#access_token=")
    finally:
        admin.auth.admin.delete_user(user_id)
    with pytest.raises(AuthApiError) as gone:
        admin.auth.admin.get_user_by_id(user_id)
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
