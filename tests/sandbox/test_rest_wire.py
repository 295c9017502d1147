"""The sandbox's REST (/rest/v1) on the wire, against PostgREST v13's behaviour.

Raw HTTP with httpx against the running sandbox: status codes, the four-key error bodies and the
headers PostgREST sends (reference/supabase-api.md, section E; PostgREST's src/PostgREST/Error.hs,
Response.hs and Auth.hs at v13.0.4). Users are made confirmed through the admin API, signed in with
the password grant, and deleted when the module ends. Functions the tests need beyond the Mamapace
schema are created as `postgres` for one test and dropped afterwards.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import ClientOptions, create_client

from synthetics.sandbox.server import Sandbox, SandboxInfo

JSON = "application/json; charset=utf-8"
SINGULAR = "application/vnd.pgrst.object+json"
PASSWORD = "synthetic-Passw0rd!"
PROFILE_COLUMNS = [
    "id",
    "username",
    "display_name",
    "bio",
    "avatar_emoji",
    "created_at",
    "profile_visibility",
    "is_active",
    "password_hash",
    "updated_at",
]
#: What a signed-in user may select from user_profiles (everything but the password hash).
READABLE_PROFILE = [c for c in PROFILE_COLUMNS if c != "password_hash"]
POST_COLUMNS = ["id", "user_id", "body", "created_at", "attachments", "is_ad"]
FEED_COLUMNS = [
    "id",
    "user_id",
    "body",
    "attachments",
    "created_at",
    "display_name",
    "avatar_emoji",
    "is_liked",
    "reaction_count",
    "comment_count",
]
AMBIGUOUS_HINT = (
    "Try renaming the parameters or the function itself in the database so function "
    "overloading can be resolved"
)
_ANY = str(uuid.uuid4())
#: One valid call per v2 RPC (argument names and types right, overloads resolved as the app
#: resolves them), as the anon probe must send them.
V2_CALLS: dict[str, dict[str, Any]] = {
    "get_my_profile_v2": {},
    "update_my_profile_v2": {"p_display_name": "x", "p_bio": "x", "p_avatar_emoji": "x"},
    "get_user_profile_v2": {"p_user_id": _ANY},
    "get_home_feed_v2": {},
    "get_user_posts_v2": {},
    "get_user_post_count_v2": {},
    "get_liked_posts_v2": {},
    "create_post_v2": {"p_body": "hello", "p_attachments": []},
    "delete_post_v2": {"p_post_id": _ANY},
    "add_reaction_v2": {"p_post_id": _ANY},
    "remove_reaction_v2": {"p_post_id": _ANY},
    "create_comment_v2": {"p_post_id": _ANY, "p_body": "hi", "p_attachments": []},
    "get_post_comments_v2": {"p_post_id": _ANY},
    "delete_comment_v2": {"p_comment_id": _ANY},
    "follow_user_v2": {"p_target_user_id": _ANY},
    "unfollow_user_v2": {"p_target_user_id": _ANY},
    "is_following_v2": {"p_target_user_id": _ANY},
    "get_follow_counts_v2": {"p_user_id": _ANY},
    "get_followers_v2": {"p_user_id": _ANY},
    "get_following_v2": {"p_user_id": _ANY},
}


@dataclass(frozen=True)
class User:
    """A confirmed, signed-in user."""

    id: str
    email: str
    token: str


def error_body(
    code: str, message: str, details: str | None = None, hint: str | None = None
) -> dict[str, Any]:
    return {"code": code, "details": details, "hint": hint, "message": message}


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    message: str,
    details: str | None = None,
    hint: str | None = None,
) -> None:
    """The whole PostgREST error: status, all four keys, content type and Proxy-Status."""
    assert response.status_code == status, response.text
    assert response.json() == error_body(code, message, details, hint)
    assert response.headers["content-type"] == JSON
    assert response.headers["proxy-status"] == f"PostgREST; error={code}"


def invalid_token_challenge(message: str) -> str:
    return f'Bearer error="invalid_token", error_description="{message}"'


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client on the API port (gateway in front of /auth/v1 and /rest/v1)."""
    with httpx.Client(base_url=sandbox.info.api_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def make_user(sandbox: Sandbox, api: httpx.Client) -> Iterator[Callable[[], User]]:
    """Create confirmed users through the admin API; all of them are deleted afterwards."""
    info = sandbox.info
    admin = {"apikey": info.service_role_key, "Authorization": f"Bearer {info.service_role_key}"}
    created: list[str] = []

    def make() -> User:
        email = f"rest-wire-{uuid.uuid4().hex[:12]}@mamapace-synthetics.dev"
        response = api.post(
            "/auth/v1/admin/users",
            headers=admin,
            json={"email": email, "password": PASSWORD, "email_confirm": True},
        )
        assert response.status_code == 200, response.text
        created.append(response.json()["id"])
        response = api.post(
            "/auth/v1/token?grant_type=password",
            headers={"apikey": info.anon_key},
            json={"email": email, "password": PASSWORD},
        )
        assert response.status_code == 200, response.text
        return User(created[-1], email, response.json()["access_token"])

    yield make
    for user_id in created:
        response = api.delete(f"/auth/v1/admin/users/{user_id}", headers=admin)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def alice(make_user: Callable[[], User]) -> User:
    return make_user()


@pytest.fixture(scope="module")
def bob(make_user: Callable[[], User]) -> User:
    return make_user()


@pytest.fixture
def ddl(info: SandboxInfo) -> Iterator[Callable[[str, str], None]]:
    """Run SQL as postgres now and its undo SQL after the test, whatever happens."""
    undo: list[str] = []
    with psycopg.connect(info.db_url, autocommit=True) as conn:

        def run(do: str, undo_sql: str) -> None:
            undo.append(undo_sql)
            conn.execute(do.encode())

        yield run
        for statement in reversed(undo):
            conn.execute(statement.encode())


class Rest:
    """Raw calls to /rest/v1 with the anon key as apikey and a chosen bearer."""

    def __init__(self, api: httpx.Client, info: SandboxInfo) -> None:
        self.api = api
        self.info = info

    def headers(self, bearer: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"apikey": self.info.anon_key}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return headers | (extra or {})

    def rpc(
        self,
        name: str,
        body: Any = None,
        *,
        bearer: str | None,
        method: str = "POST",
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        return self.api.request(
            method,
            f"/rest/v1/rpc/{name}",
            headers=self.headers(bearer, headers),
            params=params,
            json=body if content is None else None,
            content=content,
        )

    def table(
        self,
        method: str,
        path: str,
        *,
        bearer: str | None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        return self.api.request(
            method, f"/rest/v1/{path}", headers=self.headers(bearer, headers), json=json_body
        )


@pytest.fixture
def rest(api: httpx.Client, info: SandboxInfo) -> Rest:
    return Rest(api, info)


def sign(info: SandboxInfo, **claims: Any) -> str:
    """An HS256 token signed with the project's secret (what GoTrue would issue)."""
    return jwt.encode(claims, info.jwt_secret, algorithm="HS256", headers={"typ": "JWT"})


def db_scalar(info: SandboxInfo, query: str, *params: Any) -> Any:
    with psycopg.connect(info.db_url, autocommit=True) as conn:
        row = conn.execute(query.encode(), params).fetchone()
        assert row is not None
        return row[0]


# -- return shapes ---------------------------------------------------------------------------------


def test_scalar_function_returns_a_bare_number(rest: Rest, make_user: Callable[[], User]) -> None:
    user = make_user()
    response = rest.rpc("get_user_post_count_v2", {}, bearer=user.token)
    assert response.status_code == 200
    assert response.content == b"0"
    assert response.headers["content-type"] == JSON
    assert response.headers["content-range"] == "0-0/*"
    rest.rpc("create_post_v2", {"p_body": "one", "p_attachments": []}, bearer=user.token)
    assert rest.rpc("get_user_post_count_v2", {}, bearer=user.token).json() == 1


def test_composite_functions_return_one_object_with_columns_in_table_order(
    rest: Rest, alice: User
) -> None:
    profile = rest.rpc("get_my_profile_v2", {}, bearer=alice.token)
    assert profile.status_code == 200
    assert profile.headers["content-range"] == "0-0/*"
    assert list(profile.json()) == PROFILE_COLUMNS
    assert profile.json()["id"] == alice.id
    assert profile.json()["profile_visibility"] == "public"

    post = rest.rpc(
        "create_post_v2", {"p_body": "composite", "p_attachments": []}, bearer=alice.token
    )
    assert post.status_code == 200
    assert post.headers["content-type"] == JSON
    assert list(post.json()) == POST_COLUMNS
    assert post.json()["user_id"] == alice.id
    assert post.json()["body"] == "composite"


def test_set_returning_functions_return_arrays(rest: Rest, make_user: Callable[[], User]) -> None:
    user = make_user()
    empty = rest.rpc("get_user_posts_v2", {}, bearer=user.token)
    assert empty.status_code == 200
    assert empty.content == b"[]"
    assert empty.headers["content-range"] == "*/*"

    first = rest.rpc(
        "create_post_v2", {"p_body": "first", "p_attachments": []}, bearer=user.token
    ).json()
    second = rest.rpc(
        "create_post_v2", {"p_body": "second", "p_attachments": []}, bearer=user.token
    ).json()
    mine = rest.rpc("get_user_posts_v2", {}, bearer=user.token)
    assert mine.status_code == 200
    assert mine.headers["content-range"] == "0-1/*"
    assert [row["id"] for row in mine.json()] == [second["id"], first["id"]]
    assert all(list(row) == FEED_COLUMNS for row in mine.json())

    feed = rest.rpc("get_home_feed_v2", {"p_limit": 100}, bearer=user.token)
    assert feed.status_code == 200
    assert isinstance(feed.json(), list)
    assert feed.headers["content-range"] == f"0-{len(feed.json()) - 1}/*"
    assert second["id"] in {row["id"] for row in feed.json()}


def test_boolean_function_returns_true_then_false(rest: Rest, alice: User, bob: User) -> None:
    post = rest.rpc(
        "create_post_v2", {"p_body": "react to me", "p_attachments": []}, bearer=alice.token
    ).json()
    first = rest.rpc("add_reaction_v2", {"p_post_id": post["id"]}, bearer=bob.token)
    assert first.status_code == 200
    assert first.content == b"true"
    second = rest.rpc("add_reaction_v2", {"p_post_id": post["id"]}, bearer=bob.token)
    assert second.status_code == 200
    assert second.content == b"false"


def test_void_function_answers_204_without_a_body(
    rest: Rest, alice: User, ddl: Callable[[str, str], None]
) -> None:
    ddl(
        "create function public.sandbox_void_test() returns void language sql as 'select 1';"
        " grant execute on function public.sandbox_void_test() to authenticated",
        "drop function if exists public.sandbox_void_test()",
    )
    response = rest.rpc("sandbox_void_test", {}, bearer=alice.token)
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    assert response.headers["content-range"] == "0-0/*"


# -- methods -------------------------------------------------------------------------------------


def test_get_calls_a_stable_function_with_query_arguments(
    rest: Rest, make_user: Callable[[], User]
) -> None:
    user = make_user()
    for body in ("a", "b", "c"):
        rest.rpc("create_post_v2", {"p_body": body, "p_attachments": []}, bearer=user.token)
    count = rest.rpc("get_user_post_count_v2", method="GET", bearer=user.token)
    assert count.status_code == 200
    assert count.json() == 3
    limited = rest.rpc("get_user_posts_v2", method="GET", params={"p_limit": 2}, bearer=user.token)
    assert limited.status_code == 200
    assert [row["body"] for row in limited.json()] == ["c", "b"]
    # An operator-shaped value is a filter on the result, not an argument (PostgREST's RPC GET).
    filtered = rest.rpc(
        "get_user_posts_v2", method="GET", params={"body": "eq.a"}, bearer=user.token
    )
    assert filtered.status_code == 200
    assert [row["body"] for row in filtered.json()] == ["a"]


def test_get_on_a_volatile_function_fails_in_the_read_only_transaction(
    rest: Rest, make_user: Callable[[], User]
) -> None:
    user = make_user()
    response = rest.rpc(
        "create_post_v2",
        method="GET",
        params={"p_body": "nope", "p_attachments": "[]"},
        bearer=user.token,
    )
    assert_error(response, 405, "25006", "cannot execute INSERT in a read-only transaction")
    assert rest.rpc("get_user_post_count_v2", {}, bearer=user.token).json() == 0


def test_post_on_a_stable_function_is_read_only_too(
    rest: Rest, alice: User, ddl: Callable[[str, str], None]
) -> None:
    # PostgREST runs POST in a READ ONLY transaction unless the function is VOLATILE.
    ddl(
        "create sequence public.sandbox_wire_seq;"
        " grant usage on sequence public.sandbox_wire_seq to authenticated;"
        " create function public.sandbox_stable_nextval() returns bigint stable language sql"
        " as 'select nextval(''public.sandbox_wire_seq'')';"
        " grant execute on function public.sandbox_stable_nextval() to authenticated",
        "drop function if exists public.sandbox_stable_nextval();"
        " drop sequence if exists public.sandbox_wire_seq",
    )
    response = rest.rpc("sandbox_stable_nextval", {}, bearer=alice.token)
    assert_error(response, 405, "25006", "cannot execute nextval() in a read-only transaction")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods_on_rpc_are_rejected(rest: Rest, alice: User, method: str) -> None:
    response = rest.rpc("get_my_profile_v2", {}, method=method, bearer=alice.token)
    assert_error(response, 405, "PGRST101", f"Cannot use the {method} method on RPC")


# -- PGRST202: resolving the function ------------------------------------------------------------


def test_unknown_function_with_arguments(rest: Rest, alice: User) -> None:
    response = rest.rpc("nope", {"b": 2, "a": 1}, bearer=alice.token)
    assert_error(
        response,
        404,
        "PGRST202",
        "Could not find the function public.nope(a, b) in the schema cache",
        details="Searched for the function public.nope with parameters a, b or with a single "
        "unnamed json/jsonb parameter, but no matches were found in the schema cache.",
    )


def test_unknown_function_without_arguments(rest: Rest, alice: User) -> None:
    response = rest.rpc("nope", {}, bearer=alice.token)
    assert_error(
        response,
        404,
        "PGRST202",
        "Could not find the function public.nope without parameters in the schema cache",
        details="Searched for the function public.nope without parameters or with a single "
        "unnamed json/jsonb parameter, but no matches were found in the schema cache.",
    )
    # Over GET there is no body, so no json/jsonb fallback is searched; one parameter is singular.
    response = rest.rpc("nope", method="GET", params={"a": "1"}, bearer=alice.token)
    assert_error(
        response,
        404,
        "PGRST202",
        "Could not find the function public.nope(a) in the schema cache",
        details="Searched for the function public.nope with parameter a, "
        "but no matches were found in the schema cache.",
    )


def test_misspelt_function_name_hints_the_closest_function(rest: Rest, alice: User) -> None:
    response = rest.rpc("get_my_profile_v3", {}, bearer=alice.token)
    assert_error(
        response,
        404,
        "PGRST202",
        "Could not find the function public.get_my_profile_v3 without parameters in the "
        "schema cache",
        details="Searched for the function public.get_my_profile_v3 without parameters or with "
        "a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
        hint="Perhaps you meant to call the function public.get_my_profile_v2",
    )


def test_wrong_argument_names_hint_the_real_signature(rest: Rest, alice: User) -> None:
    response = rest.rpc("get_user_profile_v2", {"user_id": alice.id}, bearer=alice.token)
    assert_error(
        response,
        404,
        "PGRST202",
        "Could not find the function public.get_user_profile_v2(user_id) in the schema cache",
        details="Searched for the function public.get_user_profile_v2 with parameter user_id or "
        "with a single unnamed json/jsonb parameter, but no matches were found in the schema "
        "cache.",
        hint="Perhaps you meant to call the function public.get_user_profile_v2(p_user_id)",
    )
    # PostgREST's hint is a fuzzy match: nothing close, no hint.
    response = rest.rpc("get_user_profile_v2", {"zzz": 1}, bearer=alice.token)
    assert response.status_code == 404
    assert response.json()["hint"] is None


def test_missing_required_argument(rest: Rest, alice: User) -> None:
    response = rest.rpc("create_comment_v2", {"p_post_id": _ANY}, bearer=alice.token)
    assert_error(
        response,
        404,
        "PGRST202",
        "Could not find the function public.create_comment_v2(p_post_id) in the schema cache",
        details="Searched for the function public.create_comment_v2 with parameter p_post_id or "
        "with a single unnamed json/jsonb parameter, but no matches were found in the schema "
        "cache.",
        hint="Perhaps you meant to call the function public.create_comment_v2(p_body, p_post_id)",
    )  # the closer of the two overloads' parameter lists
    # No argument at all shares no n-gram with "(p_body)": PostgREST gives no hint.
    response = rest.rpc("create_post_v2", {}, bearer=alice.token)
    assert_error(
        response,
        404,
        "PGRST202",
        "Could not find the function public.create_post_v2 without parameters in the schema cache",
        details="Searched for the function public.create_post_v2 without parameters or with a "
        "single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
    )


def test_argument_of_the_wrong_type(rest: Rest, alice: User) -> None:
    response = rest.rpc("add_reaction_v2", {"p_post_id": "not-a-uuid"}, bearer=alice.token)
    assert_error(response, 400, "22P02", 'invalid input syntax for type uuid: "not-a-uuid"')
    response = rest.rpc(
        "get_user_posts_v2", method="GET", params={"p_limit": "many"}, bearer=alice.token
    )
    assert_error(response, 400, "22P02", 'invalid input syntax for type integer: "many"')


# -- PGRST203: overloads -------------------------------------------------------------------------


def test_naming_only_p_body_is_ambiguous_like_the_real_schema(rest: Rest, alice: User) -> None:
    for method, args in (("POST", {"p_body": "x"}), ("GET", {"p_body": "x"})):
        response = rest.rpc(
            "create_post_v2",
            args if method == "POST" else None,
            method=method,
            params=args if method == "GET" else None,
            bearer=alice.token,
        )
        assert_error(
            response,
            300,
            "PGRST203",
            "Could not choose the best candidate function between: "
            "public.create_post_v2(p_body => text), "
            "public.create_post_v2(p_body => text, p_attachments => jsonb)",
            hint=AMBIGUOUS_HINT,
        )
    response = rest.rpc("create_comment_v2", {"p_post_id": _ANY, "p_body": "x"}, bearer=alice.token)
    assert_error(
        response,
        300,
        "PGRST203",
        "Could not choose the best candidate function between: "
        "public.create_comment_v2(p_post_id => uuid, p_body => text), "
        "public.create_comment_v2(p_post_id => uuid, p_body => text, p_attachments => jsonb)",
        hint=AMBIGUOUS_HINT,
    )


def test_p_attachments_picks_the_overload_the_app_calls(
    rest: Rest, make_user: Callable[[], User]
) -> None:
    user = make_user()
    images = [{"url": "https://img.example/1.png", "width": 10}]
    post = rest.rpc(
        "create_post_v2", {"p_body": "[image]", "p_attachments": images}, bearer=user.token
    )
    assert post.status_code == 200
    assert post.json()["attachments"] == images
    comment = rest.rpc(
        "create_comment_v2",
        {"p_post_id": post.json()["id"], "p_body": "nice", "p_attachments": []},
        bearer=user.token,
    )
    assert comment.status_code == 200
    assert comment.json()["attachments"] == []
    assert rest.rpc("get_user_post_count_v2", {}, bearer=user.token).json() == 1


def test_overload_resolution_follows_postgrest_find_proc(
    rest: Rest, alice: User, ddl: Callable[[str, str], None]
) -> None:
    # PostgREST's findProc: a function matches when every required parameter is named and every
    # name is a parameter; one match is called, several are 300 PGRST203, none falls back to a
    # single unnamed json parameter (POST only), and two such fallbacks are ambiguous too.
    ddl(
        "create function public.sandbox_ov(a int) returns text language sql as $$ select 'a' $$;"
        " create function public.sandbox_ov(a int, b int) returns text language sql"
        " as $$ select 'a,b' $$;"
        " create function public.sandbox_opt(a int default 1) returns text language sql"
        " as $$ select 'opt a' $$;"
        " create function public.sandbox_opt(b text default 'x') returns text language sql"
        " as $$ select 'opt b' $$;"
        " create function public.sandbox_raw(json) returns text language sql"
        " as $$ select 'raw' $$;"
        " create function public.sandbox_raw(a int) returns text language sql"
        " as $$ select 'named' $$;"
        " create function public.sandbox_raw2(json) returns text language sql"
        " as $$ select 'json' $$;"
        " create function public.sandbox_raw2(jsonb) returns text language sql"
        " as $$ select 'jsonb' $$;"
        " grant execute on all functions in schema public to authenticated",
        "drop function if exists public.sandbox_ov(int); drop function if exists"
        " public.sandbox_ov(int, int); drop function if exists public.sandbox_opt(int);"
        " drop function if exists public.sandbox_opt(text); drop function if exists"
        " public.sandbox_raw(json); drop function if exists public.sandbox_raw(int);"
        " drop function if exists public.sandbox_raw2(json); drop function if exists"
        " public.sandbox_raw2(jsonb); select 1",
    )

    def call(name: str, args: dict[str, Any]) -> httpx.Response:
        return rest.rpc(name, args, bearer=alice.token)

    assert call("sandbox_ov", {"a": 1}).json() == "a"  # b is required by the other one
    assert call("sandbox_ov", {"a": 1, "b": 2}).json() == "a,b"
    assert call("sandbox_ov", {"b": 2}).json()["code"] == "PGRST202"
    both = call("sandbox_opt", {})
    assert both.status_code == 300 and both.json()["code"] == "PGRST203"
    assert both.json()["message"] == (
        "Could not choose the best candidate function between: "
        "public.sandbox_opt(a => integer), public.sandbox_opt(b => text)"
    )
    assert call("sandbox_opt", {"b": "y"}).json() == "opt b"
    assert call("sandbox_opt", {"a": 1, "b": "y"}).json()["code"] == "PGRST202"
    assert call("sandbox_raw", {"a": 1}).json() == "named"  # a named match beats the fallback
    assert call("sandbox_raw", {"zzz": 1}).json() == "raw"
    raw2 = call("sandbox_raw2", {"zzz": 1})
    assert raw2.status_code == 300 and raw2.json()["code"] == "PGRST203"
    # Over GET there is no body to fall back to.
    get = rest.rpc("sandbox_raw", method="GET", params={"zzz": "1"}, bearer=alice.token)
    assert get.status_code == 404 and get.json()["code"] == "PGRST202"


# -- privileges ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(V2_CALLS))
def test_anon_is_refused_every_v2_rpc(rest: Rest, info: SandboxInfo, name: str) -> None:
    response = rest.rpc(name, V2_CALLS[name], bearer=info.anon_key)
    assert_error(response, 401, "42501", f"permission denied for function {name}")
    assert response.headers["www-authenticate"] == "Bearer"


def test_no_authorization_header_is_anon(rest: Rest) -> None:
    response = rest.rpc("get_home_feed_v2", {}, bearer=None)
    assert_error(response, 401, "42501", "permission denied for function get_home_feed_v2")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_without_a_role_claim_is_anon(rest: Rest, info: SandboxInfo, alice: User) -> None:
    token = sign(info, sub=alice.id, exp=int(time.time()) + 600)
    response = rest.rpc("get_my_profile_v2", {}, bearer=token)
    assert_error(response, 401, "42501", "permission denied for function get_my_profile_v2")


def test_a_role_that_does_not_exist_is_401(rest: Rest, info: SandboxInfo) -> None:
    token = sign(info, role="nobody", exp=int(time.time()) + 600)
    response = rest.rpc("get_home_feed_v2", {}, bearer=token)
    assert_error(response, 401, "22023", 'role "nobody" does not exist')
    assert response.headers["www-authenticate"] == "Bearer"


def test_direct_table_reads(rest: Rest, info: SandboxInfo, alice: User) -> None:
    forbidden = rest.table("GET", "posts", bearer=alice.token)
    assert_error(forbidden, 403, "42501", "permission denied for table posts")
    assert "www-authenticate" not in forbidden.headers

    anonymous = rest.table("GET", "posts", bearer=info.anon_key)
    assert_error(anonymous, 401, "42501", "permission denied for table posts")
    assert anonymous.headers["www-authenticate"] == "Bearer"

    own = rest.table(
        "GET", f"user_profiles?select=id,username&id=eq.{alice.id}", bearer=alice.token
    )
    assert own.status_code == 200
    assert own.headers["content-type"] == JSON
    assert own.headers["content-range"] == "0-0/*"
    assert (
        own.headers["content-location"] == f"/user_profiles?id=eq.{alice.id}&select=id%2Cusername"
    )
    [row] = own.json()
    assert list(row) == ["id", "username"]
    assert row["id"] == alice.id


def test_unknown_table(rest: Rest, alice: User) -> None:
    response = rest.table("GET", "post", bearer=alice.token)
    assert_error(
        response,
        404,
        "PGRST205",
        "Could not find the table 'public.post' in the schema cache",
        hint="Perhaps you meant the table 'public.posts'",
    )
    response = rest.table("GET", "zzzzzz", bearer=alice.token)
    assert_error(
        response, 404, "PGRST205", "Could not find the table 'public.zzzzzz' in the schema cache"
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "posts", {"body": "direct"}),
        ("PATCH", "posts?body=eq.x", {"body": "changed"}),
        ("DELETE", "posts?body=eq.x", None),
    ],
)
def test_direct_table_writes_are_forbidden(
    rest: Rest, alice: User, method: str, path: str, body: Any
) -> None:
    response = rest.table(method, path, bearer=alice.token, json_body=body)
    assert_error(response, 403, "42501", "permission denied for table posts")


# -- JWTs ----------------------------------------------------------------------------------------


def test_token_signed_with_another_secret(rest: Rest, info: SandboxInfo, alice: User) -> None:
    forged = jwt.encode(
        {"sub": alice.id, "role": "authenticated", "exp": int(time.time()) + 600},
        "another-secret-that-is-at-least-32-characters-long",
        algorithm="HS256",
    )
    response = rest.rpc("get_my_profile_v2", {}, bearer=forged)
    message = "No suitable key or wrong key type"
    assert_error(response, 401, "PGRST301", message)
    assert response.headers["www-authenticate"] == invalid_token_challenge(message)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-jwt", "Expected 3 parts in JWT; got 1"),
        (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.bm90IGFuIG9iamVjdA",
            "Expected 3 parts in JWT; got 2",
        ),
        ("quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah", "JWT cryptographic operation failed"),
        (
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.yOBhlOIqn56T-4NvyEXCjfi3UmyQZ-BzXtePMO2NgRI",
            "Wrong or unsupported encoding algorithm",
        ),
    ],
)
def test_malformed_tokens(rest: Rest, token: str, message: str) -> None:
    response = rest.rpc("get_home_feed_v2", {}, bearer=token)
    assert_error(response, 401, "PGRST301", message)
    assert response.headers["www-authenticate"] == invalid_token_challenge(message)


def test_empty_bearer_token(rest: Rest, info: SandboxInfo) -> None:
    response = rest.api.post(
        "/rest/v1/rpc/get_home_feed_v2",
        headers={"apikey": info.anon_key, "Authorization": "Bearer"},
        json={},
    )
    assert_error(response, 401, "PGRST301", "Empty JWT is sent in Authorization header")


def test_expired_token(rest: Rest, info: SandboxInfo, alice: User) -> None:
    now = int(time.time())
    claims = {"sub": alice.id, "role": "authenticated", "aud": "authenticated"}
    expired = sign(info, **claims, iat=now - 7200, exp=now - 3600)
    response = rest.rpc("get_my_profile_v2", {}, bearer=expired)
    assert_error(response, 401, "PGRST303", "JWT expired")
    assert response.headers["www-authenticate"] == invalid_token_challenge("JWT expired")
    # PostgREST allows 30 s of clock skew.
    barely = sign(info, **claims, iat=now - 3600, exp=now - 5)
    assert rest.rpc("get_my_profile_v2", {}, bearer=barely).json()["id"] == alice.id


def test_claims_checks(rest: Rest, info: SandboxInfo) -> None:
    future = int(time.time()) + 3600
    cases = [
        ({"role": "authenticated", "exp": "soon"}, "The JWT 'exp' claim must be a number"),
        ({"role": "authenticated", "nbf": future}, "JWT not yet valid"),
        ({"role": "authenticated", "iat": future}, "JWT issued at future"),
        (
            {"role": "authenticated", "aud": {"not": "a string"}},
            "The JWT 'aud' claim must be a string or an array of strings",
        ),
    ]
    for claims, message in cases:
        response = rest.rpc("get_home_feed_v2", {}, bearer=sign(info, **claims))
        assert_error(response, 401, "PGRST303", message)


def test_jwt_errors_come_before_method_errors(rest: Rest) -> None:
    # PostgREST checks the JWT in a middleware, before it looks at the request.
    response = rest.rpc("nope", {}, method="PUT", bearer="not-a-jwt")
    assert_error(response, 401, "PGRST301", "Expected 3 parts in JWT; got 1")


# -- request parsing -----------------------------------------------------------------------------


def test_malformed_json_body(rest: Rest, alice: User) -> None:
    response = rest.rpc(
        "create_post_v2",
        bearer=alice.token,
        content=b'{"p_body": ',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "PGRST102", "Empty or invalid json")


def test_schema_profiles(rest: Rest, alice: User) -> None:
    response = rest.table(
        "GET", "user_profiles?select=id", bearer=alice.token, headers={"Accept-Profile": "other"}
    )
    assert_error(response, 406, "PGRST106", "The schema must be one of the following: public")
    response = rest.rpc(
        "get_my_profile_v2", {}, bearer=alice.token, headers={"Content-Profile": "other"}
    )
    assert_error(response, 406, "PGRST106", "The schema must be one of the following: public")
    # A negotiated profile is echoed back; a POST reads Content-Profile, not Accept-Profile.
    response = rest.rpc(
        "get_my_profile_v2",
        {},
        bearer=alice.token,
        headers={"Content-Profile": "public", "Accept-Profile": "other"},
    )
    assert response.status_code == 200
    assert response.headers["content-profile"] == "public"


def test_unavailable_media_type(rest: Rest, alice: User) -> None:
    response = rest.rpc(
        "get_my_profile_v2", {}, bearer=alice.token, headers={"Accept": "text/html"}
    )
    assert_error(response, 406, "PGRST107", "None of these media types are available: text/html")


def test_singular_object_on_a_set_returning_call(rest: Rest, make_user: Callable[[], User]) -> None:
    user = make_user()
    singular = {"Accept": SINGULAR}
    none = rest.rpc("get_user_posts_v2", {}, bearer=user.token, headers=singular)
    assert_error(
        none,
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        details="The result contains 0 rows",
    )
    post = rest.rpc(
        "create_post_v2", {"p_body": "only one", "p_attachments": []}, bearer=user.token
    ).json()
    one = rest.rpc("get_user_posts_v2", {}, bearer=user.token, headers=singular)
    assert one.status_code == 200
    assert one.headers["content-type"] == f"{SINGULAR}; charset=utf-8"
    assert isinstance(one.json(), dict)
    assert one.json()["id"] == post["id"]
    assert list(one.json()) == FEED_COLUMNS
    rest.rpc("create_post_v2", {"p_body": "now two", "p_attachments": []}, bearer=user.token)
    two = rest.rpc("get_user_posts_v2", {}, bearer=user.token, headers=singular)
    assert_error(
        two,
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        details="The result contains 2 rows",
    )


def test_singular_failure_rolls_the_call_back(
    rest: Rest, make_user: Callable[[], User], ddl: Callable[[str, str], None]
) -> None:
    # A volatile set-returning function whose result is not one row: the writes are undone.
    ddl(
        "create function public.sandbox_post_twice(p_body text)"
        " returns setof public.posts language sql security definer as $$"
        " insert into public.posts (user_id, body)"
        " values (auth.uid(), p_body), (auth.uid(), p_body) returning * $$;"
        " grant execute on function public.sandbox_post_twice(text) to authenticated",
        "drop function if exists public.sandbox_post_twice(text)",
    )
    user = make_user()
    response = rest.rpc(
        "sandbox_post_twice", {"p_body": "twice"}, bearer=user.token, headers={"Accept": SINGULAR}
    )
    assert response.status_code == 406
    assert response.json()["details"] == "The result contains 2 rows"
    assert rest.rpc("get_user_post_count_v2", {}, bearer=user.token).json() == 0


def test_counting_table_reads(rest: Rest, info: SandboxInfo, alice: User, bob: User) -> None:
    own = f"user_profiles?select=id&id=eq.{alice.id}"
    counted = rest.table("GET", own, bearer=alice.token, headers={"Prefer": "count=exact"})
    assert counted.status_code == 200
    assert counted.headers["content-range"] == "0-0/1"
    assert counted.headers["preference-applied"] == "count=exact"
    uncounted = rest.table("GET", own, bearer=alice.token)
    assert uncounted.headers["content-range"] == "0-0/*"
    assert "preference-applied" not in uncounted.headers

    # The real policy is `using (true)`: every profile is visible.
    visible = db_scalar(info, "select count(*) from public.user_profiles")
    assert visible >= 2
    page = rest.table(
        "GET",
        "user_profiles?select=id&limit=1",
        bearer=alice.token,
        headers={"Prefer": "count=exact"},
    )
    assert page.status_code == 206
    assert page.headers["content-range"] == f"0-0/{visible}"
    assert len(page.json()) == 1

    beyond = rest.table(
        "GET",
        "user_profiles?select=id&offset=1000000",
        bearer=alice.token,
        headers={"Prefer": "count=exact"},
    )
    assert_error(
        beyond,
        416,
        "PGRST103",
        "Requested range not satisfiable",
        details=f"An offset of 1000000 was requested, but there are only {visible} rows.",
    )


def test_counting_a_set_returning_call(rest: Rest, make_user: Callable[[], User]) -> None:
    user = make_user()
    for body in ("x", "y", "z"):
        rest.rpc("create_post_v2", {"p_body": body, "p_attachments": []}, bearer=user.token)
    response = rest.api.post(
        "/rest/v1/rpc/get_user_posts_v2?limit=2",
        headers=rest.headers(user.token, {"Prefer": "count=exact"}),
        json={},
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == "0-1/3"
    assert [row["body"] for row in response.json()] == ["z", "y"]


def test_table_writes_where_granted(
    rest: Rest, info: SandboxInfo, alice: User, ddl: Callable[[str, str], None]
) -> None:
    ddl(
        "create table public.sandbox_notes"
        " (id integer primary key, body text not null, tag text default 'none');"
        " grant select, insert, update, delete on public.sandbox_notes to authenticated",
        "drop table if exists public.sandbox_notes",
    )
    representation = {"Prefer": "return=representation"}
    created = rest.table(
        "POST",
        "sandbox_notes",
        bearer=alice.token,
        headers=representation,
        json_body=[{"id": 1, "body": "one"}, {"id": 2, "body": "two"}],
    )
    assert created.status_code == 201
    assert created.headers["content-range"] == "*/*"
    assert created.headers["preference-applied"] == "return=representation"
    assert created.json() == [
        {"id": 1, "body": "one", "tag": "none"},
        {"id": 2, "body": "two", "tag": "none"},
    ]
    # ?columns= names what is inserted; other keys are ignored, the rest takes the default.
    minimal = rest.table(
        "POST",
        "sandbox_notes?columns=id,body",
        bearer=alice.token,
        json_body={"id": 3, "body": "3", "tag": "ignored"},
    )
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "content-type" not in minimal.headers

    patched = rest.table(
        "PATCH", "sandbox_notes?id=eq.3", bearer=alice.token, headers=representation,
        json_body={"body": "three"},
    )  # fmt: skip
    assert patched.status_code == 200
    assert patched.headers["content-range"] == "0-0/*"
    assert patched.json() == [{"id": 3, "body": "three", "tag": "none"}]
    quiet = rest.table(
        "PATCH", "sandbox_notes?id=in.(1,2)", bearer=alice.token, json_body={"tag": "t"}
    )
    assert quiet.status_code == 204
    assert quiet.headers["content-range"] == "0-1/*"

    # A singular insert of two rows is refused and rolled back.
    refused = rest.table(
        "POST",
        "sandbox_notes",
        bearer=alice.token,
        headers={**representation, "Accept": SINGULAR},
        json_body=[{"id": 4, "body": "four"}, {"id": 5, "body": "five"}],
    )
    assert_error(
        refused,
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        details="The result contains 2 rows",
    )
    deleted = rest.table("DELETE", "sandbox_notes?id=gte.3", bearer=alice.token)
    assert deleted.status_code == 204
    assert deleted.headers["content-range"] == "*/*"
    rows = rest.table("GET", "sandbox_notes?order=id.desc", bearer=alice.token)
    assert rows.json() == [
        {"id": 2, "body": "two", "tag": "t"},
        {"id": 1, "body": "one", "tag": "t"},
    ]
    assert db_scalar(info, "select count(*) from public.sandbox_notes") == 2


# -- errors raised by SQL ------------------------------------------------------------------------


def test_raise_exception_is_400_with_its_message(
    rest: Rest, alice: User, ddl: Callable[[str, str], None]
) -> None:
    ddl(
        "create function public.sandbox_raise_test(p_detail boolean default false)"
        " returns void language plpgsql as $$ begin"
        " if p_detail then"
        "   raise exception 'custom failure' using detail = 'some detail', hint = 'some hint';"
        " end if;"
        " raise exception 'custom failure'; end $$;"
        " grant execute on function public.sandbox_raise_test(boolean) to authenticated",
        "drop function if exists public.sandbox_raise_test(boolean)",
    )
    assert_error(
        rest.rpc("sandbox_raise_test", {}, bearer=alice.token), 400, "P0001", "custom failure"
    )
    assert_error(
        rest.rpc("sandbox_raise_test", {"p_detail": True}, bearer=alice.token),
        400,
        "P0001",
        "custom failure",
        details="some detail",
        hint="some hint",
    )


def test_constraint_violations(rest: Rest, alice: User, ddl: Callable[[str, str], None]) -> None:
    ddl(
        "create function public.sandbox_unique_test() returns void language sql security definer"
        " set search_path = public as"
        " 'insert into public.user_profiles (id, username) values (auth.uid(), ''dup'')';"
        " grant execute on function public.sandbox_unique_test() to authenticated",
        "drop function if exists public.sandbox_unique_test()",
    )
    assert_error(
        rest.rpc("sandbox_unique_test", {}, bearer=alice.token),
        409,
        "23505",
        'duplicate key value violates unique constraint "user_profiles_pkey"',
        details=f"Key (id)=({alice.id}) already exists.",
    )
    # The app's functions let the constraints speak: 23503 is 409 too, 23514 falls through to
    # 400, and both name the table and the constraint, as on the real schema.
    assert_error(
        rest.rpc("add_reaction_v2", {"p_post_id": _ANY}, bearer=alice.token),
        409,
        "23503",
        'insert or update on table "post_reactions" violates foreign key constraint '
        '"post_reactions_post_id_fkey"',
        details=f'Key (post_id)=({_ANY}) is not present in table "posts".',
    )
    too_long = rest.rpc(
        "create_post_v2", {"p_body": "x" * 301, "p_attachments": []}, bearer=alice.token
    )
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "23514"
    assert too_long.json()["message"] == (
        'new row for relation "posts" violates check constraint "posts_body_check"'
    )
    assert_error(
        rest.rpc("create_post_v2", {"p_body": "", "p_attachments": []}, bearer=alice.token),
        400,
        "P0001",
        "Post must have content or images",
    )


# -- users and roles -----------------------------------------------------------------------------


def test_user_b_cannot_delete_user_a_post(rest: Rest, alice: User, bob: User) -> None:
    post = rest.rpc(
        "create_post_v2", {"p_body": "mine, not bob's", "p_attachments": []}, bearer=alice.token
    ).json()
    attempt = rest.rpc("delete_post_v2", {"p_post_id": post["id"]}, bearer=bob.token)
    assert attempt.status_code == 200
    assert attempt.content == b"false"
    mine = rest.rpc("get_user_posts_v2", {"p_limit": 100}, bearer=alice.token).json()
    assert post["id"] in {row["id"] for row in mine}
    own = rest.rpc("delete_post_v2", {"p_post_id": post["id"]}, bearer=alice.token)
    assert own.content == b"true"


def test_role_and_claims_are_set_per_request(
    rest: Rest, info: SandboxInfo, alice: User, bob: User, ddl: Callable[[str, str], None]
) -> None:
    ddl(
        "create function public.sandbox_claims_test() returns json language sql stable as $$"
        " select json_build_object("
        "   'sub', current_setting('request.jwt.claims', true)::json ->> 'sub',"
        "   'claim_role', current_setting('request.jwt.claims', true)::json ->> 'role',"
        "   'uid', auth.uid(), 'role', current_user,"
        "   'method', current_setting('request.method', true),"
        "   'path', current_setting('request.path', true),"
        "   'apikey', current_setting('request.headers', true)::json ->> 'apikey') $$;"
        " grant execute on function public.sandbox_claims_test() to anon, authenticated",
        "drop function if exists public.sandbox_claims_test()",
    )
    for _ in range(4):
        refused = rest.rpc("get_my_profile_v2", {}, bearer=info.anon_key)
        assert refused.status_code == 401
        anon = rest.rpc("sandbox_claims_test", {}, bearer=info.anon_key).json()
        assert anon == {
            "sub": None,
            "claim_role": "anon",
            "uid": None,
            "role": "anon",
            "method": "POST",
            "path": "/rpc/sandbox_claims_test",
            "apikey": info.anon_key,
        }
        for user in (alice, bob):
            seen = rest.rpc("sandbox_claims_test", method="GET", bearer=user.token).json()
            assert seen["sub"] == seen["uid"] == user.id
            assert seen["role"] == seen["claim_role"] == "authenticated"
            assert seen["method"] == "GET"
            profile = rest.rpc("get_my_profile_v2", {}, bearer=user.token)
            assert profile.status_code == 200
            assert profile.json()["id"] == user.id


# -- the official client -------------------------------------------------------------------------


def test_official_client(info: SandboxInfo, alice: User) -> None:
    options = ClientOptions(headers={"Authorization": f"Bearer {alice.token}"})
    client = create_client(info.api_url, info.anon_key, options=options)
    count = client.rpc("get_user_post_count_v2", {}).execute()
    assert isinstance(count.data, int)
    profile = client.rpc("get_my_profile_v2", {}).execute()
    assert profile.data["id"] == alice.id
    rows = client.table("user_profiles").select(",".join(READABLE_PROFILE)).eq("id", alice.id)
    result_rows = rows.execute()
    assert [row["id"] for row in result_rows.data] == [alice.id]
    assert list(result_rows.data[0]) == READABLE_PROFILE
    with pytest.raises(APIError) as hashes:  # `*` includes the password hash
        client.table("user_profiles").select("*").eq("id", alice.id).execute()
    assert hashes.value.code == "42501"
    single = client.table("user_profiles").select("id", count="exact").eq("id", alice.id).single()
    result = single.execute()
    assert result.data == {"id": alice.id}
    assert result.count == 1
    feed = client.rpc("get_home_feed_v2", {"p_offset_time": None, "p_limit": 5}).limit(2).execute()
    assert isinstance(feed.data, list)
    assert len(feed.data) <= 2

    with pytest.raises(APIError) as missing:
        client.rpc("nope", {"a": 1}).execute()
    assert missing.value.code == "PGRST202"
    with pytest.raises(APIError) as denied:
        client.table("posts").select("*").execute()
    assert denied.value.code == "42501"

    anon = create_client(info.api_url, info.anon_key)
    with pytest.raises(APIError) as refused:
        anon.rpc("get_home_feed_v2", {}).execute()
    assert refused.value.code == "42501"
    assert refused.value.message == "permission denied for function get_home_feed_v2"


def test_error_bodies_are_json_objects_with_four_keys(rest: Rest, alice: User) -> None:
    response = rest.rpc("nope", {}, bearer=alice.token)
    assert set(json.loads(response.content)) == {"code", "details", "hint", "message"}
