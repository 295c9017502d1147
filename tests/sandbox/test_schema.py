"""The Mamapace schema, exercised the way PostgREST runs it.

Every API call below happens in one transaction on a connection as `authenticator` that switches to
the request's role and claims with `set_config(..., true)`, as PostgREST does per request; setup and
inspection run as `postgres`. One embedded cluster serves the whole module, so each test makes its
own users and never relies on another test's rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row

from synthetics.sandbox.database import Database, schema_sql

Conn = psycopg.Connection[Any]

FEED_COLUMNS = [
    "id",
    "user_id",
    "body",
    "created_at",
    "user_username",
    "user_display_name",
    "user_avatar_emoji",
    "reaction_count",
    "comment_count",
]
PROFILE_COLUMNS = [
    "id",
    "username",
    "display_name",
    "bio",
    "avatar_emoji",
    "created_at",
    "updated_at",
    "profile_visibility",
    "is_active",
]
COMMENT_COLUMNS = ["id", "post_id", "user_id", "body", "created_at"]
FOLLOW_LIST_COLUMNS = ["user_id", "username", "display_name", "avatar_emoji", "followed_at"]

PAGE = (
    "p_limit integer DEFAULT 20, "
    "p_before timestamp with time zone DEFAULT NULL::timestamp with time zone"
)
FEED_TABLE = (
    "TABLE(id uuid, user_id uuid, body text, created_at timestamp with time zone, "
    "user_username text, user_display_name text, user_avatar_emoji text, "
    "reaction_count bigint, comment_count bigint)"
)
FOLLOW_TABLE = (
    "TABLE(user_id uuid, username text, display_name text, avatar_emoji text, "
    "followed_at timestamp with time zone)"
)
COMMENTS_TABLE = (
    "TABLE(id uuid, post_id uuid, user_id uuid, body text, created_at timestamp with time zone, "
    "user_username text, user_display_name text, user_avatar_emoji text)"
)
#: The v2 RPC table of mamapace.md: name → (arguments, result) as Postgres prints them.
V2_SIGNATURES = {
    "get_my_profile_v2": ("", "user_profiles"),
    "update_my_profile_v2": (
        "p_display_name text, p_bio text, p_avatar_emoji text",
        "user_profiles",
    ),
    "get_user_profile_v2": ("p_user_id uuid", "user_profiles"),
    "get_home_feed_v2": (PAGE, FEED_TABLE),
    "get_user_posts_v2": (PAGE, FEED_TABLE),
    "get_user_post_count_v2": ("", "bigint"),
    "get_liked_posts_v2": (PAGE, FEED_TABLE),
    "create_post_v2": ("p_body text", "posts"),
    "delete_post_v2": ("p_post_id uuid", "boolean"),
    "add_reaction_v2": ("p_post_id uuid", "boolean"),
    "remove_reaction_v2": ("p_post_id uuid", "boolean"),
    "create_comment_v2": ("p_post_id uuid, p_body text", "post_comments"),
    "get_post_comments_v2": (
        f"p_post_id uuid, {PAGE}",
        COMMENTS_TABLE,
    ),
    "delete_comment_v2": ("p_comment_id uuid", "boolean"),
    "follow_user_v2": ("p_target_user_id uuid", "boolean"),
    "unfollow_user_v2": ("p_target_user_id uuid", "boolean"),
    "is_following_v2": ("p_target_user_id uuid", "boolean"),
    "get_follow_counts_v2": ("p_user_id uuid", "TABLE(followers bigint, following bigint)"),
    "get_followers_v2": (f"p_user_id uuid, {PAGE}", FOLLOW_TABLE),
    "get_following_v2": (f"p_user_id uuid, {PAGE}", FOLLOW_TABLE),
}
#: One call per v2 RPC, with arguments named as PostgREST passes them.
_ANY = str(uuid.uuid4())
V2_CALLS = {
    "get_my_profile_v2": "select * from get_my_profile_v2()",
    "update_my_profile_v2": (
        "select * from update_my_profile_v2(p_display_name => 'x', p_bio => 'x', "
        "p_avatar_emoji => 'x')"
    ),
    "get_user_profile_v2": f"select * from get_user_profile_v2(p_user_id => '{_ANY}')",
    "get_home_feed_v2": "select * from get_home_feed_v2()",
    "get_user_posts_v2": "select * from get_user_posts_v2()",
    "get_user_post_count_v2": "select get_user_post_count_v2()",
    "get_liked_posts_v2": "select * from get_liked_posts_v2()",
    "create_post_v2": "select * from create_post_v2(p_body => 'hello')",
    "delete_post_v2": f"select delete_post_v2(p_post_id => '{_ANY}')",
    "add_reaction_v2": f"select add_reaction_v2(p_post_id => '{_ANY}')",
    "remove_reaction_v2": f"select remove_reaction_v2(p_post_id => '{_ANY}')",
    "create_comment_v2": f"select * from create_comment_v2(p_post_id => '{_ANY}', p_body => 'hi')",
    "get_post_comments_v2": f"select * from get_post_comments_v2(p_post_id => '{_ANY}')",
    "delete_comment_v2": f"select delete_comment_v2(p_comment_id => '{_ANY}')",
    "follow_user_v2": f"select follow_user_v2(p_target_user_id => '{_ANY}')",
    "unfollow_user_v2": f"select unfollow_user_v2(p_target_user_id => '{_ANY}')",
    "is_following_v2": f"select is_following_v2(p_target_user_id => '{_ANY}')",
    "get_follow_counts_v2": f"select * from get_follow_counts_v2(p_user_id => '{_ANY}')",
    "get_followers_v2": f"select * from get_followers_v2(p_user_id => '{_ANY}')",
    "get_following_v2": f"select * from get_following_v2(p_user_id => '{_ANY}')",
}
UPDATE_PROFILE = (
    "select * from update_my_profile_v2(p_display_name => %s, p_bio => %s, p_avatar_emoji => %s)"
)
PROTECTED_TABLES = ["posts", "post_reactions", "post_comments", "user_follows"]

# Verbatim from the runbook's "Core Metrics Dashboard" (seed/operations-monitoring-rollback.md).
RUNBOOK_REGISTRATION_SUCCESS_RATE = """\
SELECT 
  DATE(created_at) as date,
  COUNT(*) as total_registrations,
  COUNT(CASE WHEN email_confirmed_at IS NOT NULL THEN 1 END) as confirmed,
  ROUND(COUNT(CASE WHEN email_confirmed_at IS NOT NULL THEN 1 END) * 100.0 / COUNT(*), 2) as confirmation_rate
FROM auth.users 
WHERE created_at >= NOW() - INTERVAL '7 days'
GROUP BY DATE(created_at)
ORDER BY date DESC;"""  # noqa: E501, W291 (verbatim, trailing spaces included)

RUNBOOK_AUTH_ERROR_RATE = """\
SELECT 
  DATE(created_at) as date,
  COUNT(*) as total_attempts,
  COUNT(CASE WHEN last_sign_in_at IS NULL THEN 1 END) as failed_signins,
  ROUND(COUNT(CASE WHEN last_sign_in_at IS NULL THEN 1 END) * 100.0 / COUNT(*), 2) as failure_rate
FROM auth.users 
WHERE created_at >= NOW() - INTERVAL '24 hours'
GROUP BY DATE(created_at);"""  # noqa: W291 (verbatim, trailing spaces included)


# Fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = Database()
    database.start()
    try:
        yield database
    finally:
        database.stop()


@pytest.fixture(scope="module")
def pg(db: Database) -> Iterator[Conn]:
    """The superuser, for setup and for looking behind the API's back."""
    with db.connect("postgres") as conn:
        yield conn


@pytest.fixture
def api(db: Database) -> Iterator[Conn]:
    """PostgREST's own login role; each request switches role inside a transaction."""
    with db.connect("authenticator") as conn:
        yield conn


@contextmanager
def request(
    conn: Conn, sub: uuid.UUID | None = None, role: str = "authenticated"
) -> Iterator[Conn]:
    """One PostgREST request: a transaction with the role and JWT claims set locally."""
    with conn.transaction():
        conn.execute("select set_config('role', %s, true)", (role,))
        if role != "anon":
            claims: dict[str, str] = {"role": role}
            if sub is not None:
                claims["sub"] = str(sub)
            conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        yield conn


@contextmanager
def raises(kind: type[psycopg.Error], message: str) -> Iterator[None]:
    """Expect `kind` with exactly `message` as its primary text (PostgREST's "message")."""
    with pytest.raises(kind) as info:
        yield
    assert info.value.diag.message_primary == message


def rows(
    conn: Conn, sub: uuid.UUID | None, sql: str, params: Any = None, role: str = "authenticated"
) -> list[dict[str, Any]]:
    """Run one statement as a request and return its rows as dicts (column order kept)."""
    with request(conn, sub, role):
        cur = conn.cursor(row_factory=dict_row)
        cur.execute(sql, params)
        return cur.fetchall()


def one(conn: Conn, sub: uuid.UUID | None, sql: str, params: Any = None) -> dict[str, Any]:
    result = rows(conn, sub, sql, params)
    assert len(result) == 1
    return result[0]


def scalar(conn: Conn, sub: uuid.UUID | None, sql: str, params: Any = None) -> Any:
    return next(iter(one(conn, sub, sql, params).values()))


def make_user(pg: Conn, email: str | None = "", **columns: Any) -> uuid.UUID:
    """Insert an auth user as GoTrue would; "" picks a unique email, None means no email."""
    uid = uuid.uuid4()
    if email == "":
        email = f"mama-{uid.hex[:12]}@example.com"
    values = {"id": uid, "email": email, "aud": "authenticated", "role": "authenticated", **columns}
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    pg.execute(
        f"insert into auth.users ({names}, created_at) values ({marks}, now())",
        list(values.values()),
    )
    return uid


def username_of(pg: Conn, uid: uuid.UUID) -> str | None:
    row = pg.execute("select username from user_profiles where id = %s", (uid,)).fetchone()
    return None if row is None else row[0]


def post(api: Conn, sub: uuid.UUID, body: str = "hello") -> dict[str, Any]:
    return one(api, sub, "select * from create_post_v2(p_body => %s)", (body,))


def exists(pg: Conn, table: str, row_id: uuid.UUID) -> bool:
    row = pg.execute(f"select exists (select 1 from {table} where id = %s)", (row_id,)).fetchone()
    assert row is not None
    return bool(row[0])


# Profile bootstrap ------------------------------------------------------------------------------


def test_trigger_creates_profile_with_defaults(pg: Conn) -> None:
    uid = make_user(pg, "Mama.San+Test@Example.COM")

    row = pg.execute(
        "select username, display_name, profile_visibility, is_active "
        "from user_profiles where id = %s",
        (uid,),
    ).fetchone()

    assert row is not None
    username, display_name, visibility, active = row
    assert username.startswith("mama_san_test")
    assert (display_name, visibility, active) == (None, "public", True)


def test_trigger_makes_usernames_unique_with_a_numeric_suffix(pg: Conn) -> None:
    token = uuid.uuid4().hex[:8]
    # A name that looks like a suffixed one must push the next duplicate past it.
    squatter = make_user(pg, f"Mama-{token}_2@one.example")
    first = make_user(pg, f"mama.{token}@two.example")
    second = make_user(pg, f"MAMA+{token}@three.example")
    third = make_user(pg, f"mama {token}@four.example")

    assert username_of(pg, squatter) == f"mama_{token}_2"
    assert username_of(pg, first) == f"mama_{token}"
    assert username_of(pg, second) == f"mama_{token}_3"
    assert username_of(pg, third) == f"mama_{token}_4"


def test_trigger_handles_users_without_email(pg: Conn) -> None:
    first = make_user(pg, None, phone=f"+81{uuid.uuid4().int % 10**10:010d}")
    second = make_user(pg, None, phone=f"+81{uuid.uuid4().int % 10**10:010d}")

    names = {username_of(pg, first), username_of(pg, second)}

    assert len(names) == 2
    assert all(name is not None and (name == "user" or name.startswith("user_")) for name in names)


# Signatures and privileges ------------------------------------------------------------------------


def test_v2_rpcs_match_the_spec_and_are_hardened(pg: Conn) -> None:
    found = pg.execute(
        """
        select p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
               p.prosecdef, p.proconfig, l.lanname,
               has_function_privilege('anon', p.oid, 'execute'),
               has_function_privilege('authenticated', p.oid, 'execute'),
               has_function_privilege('service_role', p.oid, 'execute'),
               exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0)
          from pg_proc p join pg_language l on l.oid = p.prolang
         where p.pronamespace = 'public'::regnamespace and right(p.proname, 3) = '_v2'
        """
    ).fetchall()

    by_name = {row[0]: row[1:] for row in found}
    assert set(by_name) == set(V2_SIGNATURES)
    for name, (arguments, result) in V2_SIGNATURES.items():
        args, res, secdef, config, language, anon, authenticated, service, public = by_name[name]
        assert (args, res) == (arguments, result), name
        assert secdef, name
        assert config == ["search_path=public, pg_temp"], name
        assert language in ("plpgsql", "sql"), name
        assert (anon, authenticated, service, public) == (False, True, True, False), name


# Profile RPCs -----------------------------------------------------------------------------------


def test_profile_rpcs(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)

    mine = one(api, alice, "select * from get_my_profile_v2()")
    assert list(mine) == PROFILE_COLUMNS
    assert mine["id"] == alice
    assert mine["username"] == username_of(pg, alice)

    updated = one(
        api,
        alice,
        UPDATE_PROFILE,
        ("Alice", "Mother of two", "🌸"),
    )
    assert list(updated) == PROFILE_COLUMNS
    assert (updated["display_name"], updated["bio"], updated["avatar_emoji"]) == (
        "Alice",
        "Mother of two",
        "🌸",
    )
    assert updated["updated_at"] > mine["updated_at"]

    kept = one(
        api,
        alice,
        UPDATE_PROFILE,
        (None, "Mother of three", None),
    )
    assert (kept["display_name"], kept["bio"], kept["avatar_emoji"]) == (
        "Alice",
        "Mother of three",
        "🌸",
    )

    seen_by_bob = one(api, bob, "select * from get_user_profile_v2(p_user_id => %s)", (alice,))
    assert list(seen_by_bob) == PROFILE_COLUMNS
    assert (seen_by_bob["id"], seen_by_bob["display_name"]) == (alice, "Alice")


def test_private_profile_is_visible_only_to_its_owner(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    pg.execute("update user_profiles set profile_visibility = 'private' where id = %s", (alice,))

    by_bob = one(api, bob, "select * from get_user_profile_v2(p_user_id => %s)", (alice,))
    by_alice = one(api, alice, "select * from get_user_profile_v2(p_user_id => %s)", (alice,))
    table_by_bob = rows(api, bob, "select id from user_profiles where id in (%s, %s)", (alice, bob))

    assert by_bob["id"] is None  # composite NULL: PostgREST answers null
    assert by_alice["id"] == alice
    assert [row["id"] for row in table_by_bob] == [bob]


# Posts and feeds --------------------------------------------------------------------------------


def test_create_post_and_count(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    created = post(api, alice, "x" * 300)

    assert list(created) == ["id", "user_id", "body", "created_at"]
    assert (created["user_id"], created["body"]) == (alice, "x" * 300)
    assert exists(pg, "posts", created["id"])
    assert scalar(api, alice, "select get_user_post_count_v2()") == 1


@pytest.mark.parametrize("body", ["", "x" * 301, None])
def test_create_post_rejects_bad_bodies_with_a_generic_message(
    pg: Conn, api: Conn, body: str | None
) -> None:
    alice = make_user(pg)

    with raises(errors.CheckViolation, "body must be 1 to 300 characters"):
        post(api, alice, body)  # type: ignore[arg-type]

    assert scalar(api, alice, "select get_user_post_count_v2()") == 0


def test_home_feed_is_newest_first_with_authors_and_counts(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    one(
        api,
        alice,
        UPDATE_PROFILE,
        ("A", None, "🍼"),
    )
    older = post(api, alice, "older")
    newer = post(api, alice, "newer")
    assert scalar(api, bob, "select add_reaction_v2(p_post_id => %s)", (older["id"],)) is True
    one(
        api, bob, "select * from create_comment_v2(p_post_id => %s, p_body => 'hi')", (older["id"],)
    )
    one(
        api,
        alice,
        "select * from create_comment_v2(p_post_id => %s, p_body => 'yo')",
        (older["id"],),
    )

    feed = rows(api, bob, "select * from get_home_feed_v2(p_limit => 2)")

    assert [list(row) for row in feed] == [FEED_COLUMNS, FEED_COLUMNS]
    assert [row["id"] for row in feed] == [newer["id"], older["id"]]
    first = feed[1]
    assert (first["user_id"], first["body"], first["created_at"]) == (
        alice,
        "older",
        older["created_at"],
    )
    assert (first["user_username"], first["user_display_name"], first["user_avatar_emoji"]) == (
        username_of(pg, alice),
        "A",
        "🍼",
    )
    assert (first["reaction_count"], first["comment_count"]) == (1, 2)
    assert (feed[0]["reaction_count"], feed[0]["comment_count"]) == (0, 0)


def test_user_posts_page_backwards_with_p_before(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    p1, p2, p3 = (post(api, alice, body) for body in ("one", "two", "three"))
    post(api, bob, "not alice's")

    page1 = rows(api, alice, "select * from get_user_posts_v2(p_limit => 2)")
    page2 = rows(
        api,
        alice,
        "select * from get_user_posts_v2(p_limit => 2, p_before => %s)",
        (page1[-1]["created_at"],),
    )
    page3 = rows(
        api,
        alice,
        "select * from get_user_posts_v2(p_limit => 2, p_before => %s)",
        (page2[-1]["created_at"],),
    )

    assert list(page1[0]) == FEED_COLUMNS
    assert [row["id"] for row in page1] == [p3["id"], p2["id"]]
    assert [row["id"] for row in page2] == [p1["id"]]
    assert page3 == []
    assert scalar(api, alice, "select get_user_post_count_v2()") == 3


def test_limits_are_clamped_to_1_through_100(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    # Back-dated so the bulk never shows up at the top of another test's home feed.
    pg.execute(
        "insert into posts (user_id, body, created_at) "
        "select %s, 'bulk ' || g, now() - make_interval(days => 400, mins => g) "
        "from generate_series(1, 105) g",
        (alice,),
    )

    def count(sql: str) -> int:
        return len(rows(api, alice, sql))

    assert count("select * from get_user_posts_v2(p_limit => 1000)") == 100
    assert count("select * from get_user_posts_v2(p_limit => 0)") == 1
    assert count("select * from get_user_posts_v2(p_limit => -5)") == 1
    assert count("select * from get_user_posts_v2(p_limit => null)") == 20
    assert count("select * from get_user_posts_v2()") == 20
    assert count("select * from get_home_feed_v2(p_limit => 1000)") == 100


# Reactions --------------------------------------------------------------------------------------


def test_reactions_are_idempotent_and_feed_liked_posts(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    older = post(api, alice, "older")
    newer = post(api, alice, "newer")
    add = "select add_reaction_v2(p_post_id => %s)"
    remove = "select remove_reaction_v2(p_post_id => %s)"

    assert scalar(api, bob, add, (older["id"],)) is True
    assert scalar(api, bob, add, (older["id"],)) is False
    assert scalar(api, bob, add, (newer["id"],)) is True
    reactions = pg.execute(
        "select count(*) from post_reactions where post_id = %s", (older["id"],)
    ).fetchone()
    assert reactions == (1,)

    liked = rows(api, bob, "select * from get_liked_posts_v2(p_limit => 1)")
    assert list(liked[0]) == FEED_COLUMNS
    assert [(row["id"], row["reaction_count"]) for row in liked] == [(newer["id"], 1)]
    rest = rows(
        api, bob, "select * from get_liked_posts_v2(p_before => %s)", (liked[0]["created_at"],)
    )
    assert [row["id"] for row in rest] == [older["id"]]
    assert rows(api, alice, "select * from get_liked_posts_v2()") == []

    assert scalar(api, bob, remove, (older["id"],)) is True
    assert scalar(api, bob, remove, (older["id"],)) is False
    assert [row["id"] for row in rows(api, bob, "select * from get_liked_posts_v2()")] == [
        newer["id"]
    ]


def test_reaction_on_a_missing_post_is_refused_generically(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    with raises(errors.ForeignKeyViolation, "post not found"):
        scalar(api, alice, "select add_reaction_v2(p_post_id => %s)", (uuid.uuid4(),))


# Comments ---------------------------------------------------------------------------------------


def test_comments_create_list_and_page(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    target = post(api, alice)
    comment = "select * from create_comment_v2(p_post_id => %s, p_body => %s)"

    first = one(api, bob, comment, (target["id"], "first"))
    second = one(api, alice, comment, (target["id"], "second"))

    assert list(first) == COMMENT_COLUMNS
    assert (first["post_id"], first["user_id"], first["body"]) == (target["id"], bob, "first")
    listed = rows(api, bob, "select * from get_post_comments_v2(p_post_id => %s)", (target["id"],))
    assert list(listed[0]) == [
        *COMMENT_COLUMNS,
        "user_username",
        "user_display_name",
        "user_avatar_emoji",
    ]
    assert [(row["id"], row["user_username"]) for row in listed] == [
        (second["id"], username_of(pg, alice)),
        (first["id"], username_of(pg, bob)),
    ]
    page = rows(
        api,
        bob,
        "select * from get_post_comments_v2(p_post_id => %s, p_limit => 1, p_before => %s)",
        (target["id"], second["created_at"]),
    )
    assert [row["id"] for row in page] == [first["id"]]
    with raises(errors.CheckViolation, "body must be 1 to 300 characters"):
        one(api, bob, comment, (target["id"], ""))
    with raises(errors.ForeignKeyViolation, "post not found"):
        one(api, bob, comment, (uuid.uuid4(), "orphan"))


# Cross-user protection --------------------------------------------------------------------------


def test_cross_user_post_delete_is_refused(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    target = post(api, alice)
    delete = "select delete_post_v2(p_post_id => %s)"

    assert scalar(api, bob, delete, (target["id"],)) is False
    assert exists(pg, "posts", target["id"])
    assert scalar(api, alice, delete, (target["id"],)) is True
    assert not exists(pg, "posts", target["id"])
    assert scalar(api, alice, delete, (target["id"],)) is False


def test_cross_user_comment_delete_is_refused(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    target = post(api, alice)
    comment = one(
        api,
        bob,
        "select * from create_comment_v2(p_post_id => %s, p_body => 'hi')",
        (target["id"],),
    )
    delete = "select delete_comment_v2(p_comment_id => %s)"

    # Not even the post's author may delete someone else's comment.
    assert scalar(api, alice, delete, (comment["id"],)) is False
    assert exists(pg, "post_comments", comment["id"])
    assert scalar(api, bob, delete, (comment["id"],)) is True
    assert not exists(pg, "post_comments", comment["id"])
    assert scalar(api, bob, delete, (comment["id"],)) is False


def test_cross_user_fault_opens_delete_post_and_its_revert_closes_it(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    first = post(api, alice, "first")
    second = post(api, alice, "second")
    delete = "select delete_post_v2(p_post_id => %s)"

    try:
        pg.execute(schema_sql("fault_cross_user.sql"))
        pg.execute(schema_sql("fault_cross_user.sql"))
        assert scalar(api, bob, delete, (first["id"],)) is True
        assert not exists(pg, "posts", first["id"])
        with pytest.raises(errors.InsufficientPrivilege):
            rows(api, None, delete, (second["id"],), role="anon")
    finally:
        pg.execute(schema_sql("delete_post_v2.sql"))
    pg.execute(schema_sql("delete_post_v2.sql"))

    assert scalar(api, bob, delete, (second["id"],)) is False
    assert exists(pg, "posts", second["id"])
    with pytest.raises(errors.InsufficientPrivilege):
        rows(api, None, delete, (second["id"],), role="anon")
    assert scalar(api, alice, delete, (second["id"],)) is True


# Follows ----------------------------------------------------------------------------------------


def test_follows(pg: Conn, api: Conn) -> None:
    alice, bob, carol, dave = (make_user(pg) for _ in range(4))
    follow = "select follow_user_v2(p_target_user_id => %s)"
    unfollow = "select unfollow_user_v2(p_target_user_id => %s)"
    following = "select is_following_v2(p_target_user_id => %s)"

    assert scalar(api, alice, follow, (bob,)) is True
    assert scalar(api, alice, follow, (bob,)) is False
    assert scalar(api, alice, follow, (carol,)) is True
    assert scalar(api, dave, follow, (bob,)) is True
    assert scalar(api, alice, following, (bob,)) is True
    assert scalar(api, bob, following, (alice,)) is False

    counts = rows(api, carol, "select * from get_follow_counts_v2(p_user_id => %s)", (bob,))
    assert counts == [{"followers": 2, "following": 0}]
    counts = rows(api, carol, "select * from get_follow_counts_v2(p_user_id => %s)", (alice,))
    assert counts == [{"followers": 0, "following": 2}]

    followers = rows(api, carol, "select * from get_followers_v2(p_user_id => %s)", (bob,))
    assert list(followers[0]) == FOLLOW_LIST_COLUMNS
    assert [(row["user_id"], row["username"]) for row in followers] == [
        (dave, username_of(pg, dave)),
        (alice, username_of(pg, alice)),
    ]
    page1 = rows(
        api, bob, "select * from get_following_v2(p_user_id => %s, p_limit => 1)", (alice,)
    )
    page2 = rows(
        api,
        bob,
        "select * from get_following_v2(p_user_id => %s, p_before => %s)",
        (alice, page1[0]["followed_at"]),
    )
    assert list(page1[0]) == FOLLOW_LIST_COLUMNS
    assert [row["user_id"] for row in page1 + page2] == [carol, bob]

    assert scalar(api, alice, unfollow, (bob,)) is True
    assert scalar(api, alice, unfollow, (bob,)) is False
    assert scalar(api, alice, following, (bob,)) is False


def test_follow_refuses_self_and_unknown_users(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    follow = "select follow_user_v2(p_target_user_id => %s)"

    with raises(errors.CheckViolation, "cannot follow yourself"):
        scalar(api, alice, follow, (alice,))
    with raises(errors.ForeignKeyViolation, "user not found"):
        scalar(api, alice, follow, (uuid.uuid4(),))
    # The table's own check holds even for a writer that skips the RPC.
    with pytest.raises(errors.CheckViolation):
        pg.execute(
            "insert into user_follows (follower_id, followee_id) values (%s, %s)", (alice, alice)
        )


# Anonymous and direct access --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(V2_CALLS))
def test_anon_cannot_execute_v2_rpcs(api: Conn, name: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for function"):
        rows(api, None, V2_CALLS[name], role="anon")


#: Reads of public data: like production, only the EXECUTE privilege keeps anon out of these.
PUBLIC_READS = {
    "get_follow_counts_v2",
    "get_followers_v2",
    "get_following_v2",
    "get_home_feed_v2",
    "get_post_comments_v2",
    "get_user_profile_v2",
}


@pytest.mark.parametrize("name", sorted(set(V2_CALLS) - PUBLIC_READS))
def test_v2_rpcs_on_own_data_require_a_user_in_the_jwt(api: Conn, name: str) -> None:
    # The second guard: the role may call the function, but a token without `sub` is no user.
    with raises(errors.InsufficientPrivilege, "authentication required"):
        rows(api, None, V2_CALLS[name])


@pytest.mark.parametrize("name", sorted(PUBLIC_READS))
def test_public_reads_rely_on_the_grant_alone(api: Conn, name: str) -> None:
    # No user check inside: once EXECUTE reaches a role without a user, data flows. This is the
    # production trap that the security.anon_rpc check exists to catch.
    rows(api, None, V2_CALLS[name])


@pytest.mark.parametrize("table", [*PROTECTED_TABLES, "user_profiles"])
def test_anon_cannot_read_tables(api: Conn, table: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege, match=f"permission denied for table {table}"):
        rows(api, None, f"select * from {table}", role="anon")


@pytest.mark.parametrize("table", PROTECTED_TABLES)
def test_authenticated_cannot_read_or_write_protected_tables(
    pg: Conn, api: Conn, table: str
) -> None:
    alice = make_user(pg)

    denied = f"permission denied for table {table}"
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, f"select * from {table}")
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, f"insert into {table} default values")
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, f"delete from {table}")


def test_authenticated_cannot_write_profiles_directly(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    denied = "permission denied for table user_profiles"
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, "update user_profiles set bio = 'x' where id = %s", (alice,))
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, "insert into user_profiles (id, username) values (%s, 'x')", (alice,))


def test_authenticated_posts_only_through_v2(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    with raises(errors.InsufficientPrivilege, "permission denied for table posts"):
        rows(
            api,
            alice,
            "insert into posts (user_id, body) values (%s, 'direct') returning id",
            (alice,),
        )

    assert scalar(api, alice, "select get_user_post_count_v2()") == 0


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_v1_create_post_is_closed_to_api_roles(pg: Conn, api: Conn, role: str) -> None:
    alice = make_user(pg)
    bob = make_user(pg)

    # Bob impersonating Alice is exactly what the v1 signature allows.
    with pytest.raises(
        errors.InsufficientPrivilege, match="permission denied for function create_post"
    ):
        rows(
            api,
            bob,
            "select * from create_post(p_user_id => %s, p_body => 'x')",
            (alice,),
            role=role,
        )

    assert pg.execute("select count(*) from posts where user_id = %s", (alice,)).fetchone() == (0,)


def test_v1_create_post_still_works_for_service_role(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    created = rows(
        api,
        None,
        "select * from create_post(p_user_id => %s, p_body => 'back office')",
        (alice,),
        role="service_role",
    )

    assert [(row["user_id"], row["body"]) for row in created] == [(alice, "back office")]


# Account deletion -------------------------------------------------------------------------------


def test_deleting_the_auth_user_removes_everything_they_wrote(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    alices_post = post(api, alice, "mine")
    bobs_post = post(api, bob, "bob's")
    comment = "select * from create_comment_v2(p_post_id => %s, p_body => 'hi')"
    one(api, alice, comment, (bobs_post["id"],))
    bobs_comment = one(api, bob, comment, (alices_post["id"],))
    scalar(api, alice, "select add_reaction_v2(p_post_id => %s)", (bobs_post["id"],))
    scalar(api, bob, "select add_reaction_v2(p_post_id => %s)", (alices_post["id"],))
    scalar(api, alice, "select follow_user_v2(p_target_user_id => %s)", (bob,))
    scalar(api, bob, "select follow_user_v2(p_target_user_id => %s)", (alice,))

    pg.execute("delete from auth.users where id = %s", (alice,))

    left = pg.execute(
        """
        select (select count(*) from user_profiles where id = %(u)s),
               (select count(*) from posts where user_id = %(u)s),
               (select count(*) from post_comments where user_id = %(u)s),
               (select count(*) from post_reactions where user_id = %(u)s),
               (select count(*) from user_follows where %(u)s in (follower_id, followee_id))
        """,
        {"u": alice},
    ).fetchone()
    assert left == (0, 0, 0, 0, 0)
    # Bob's comment and reaction went with Alice's post; Bob's own post stays.
    assert not exists(pg, "post_comments", bobs_comment["id"])
    assert exists(pg, "posts", bobs_post["id"])
    assert username_of(pg, bob) is not None


# The runbook's dashboard ------------------------------------------------------------------------


def test_runbook_core_metrics_queries_run_unchanged(pg: Conn) -> None:
    make_user(pg)
    confirmed = make_user(pg)
    pg.execute(
        "update auth.users set email_confirmed_at = now(), last_sign_in_at = now() where id = %s",
        (confirmed,),
    )
    today = pg.execute("select current_date").fetchone()
    assert today is not None
    day: date = today[0]
    expected = pg.execute(
        "select count(*), count(email_confirmed_at), count(*) - count(last_sign_in_at) "
        "from auth.users where created_at::date = current_date"
    ).fetchone()
    assert expected is not None
    total, with_confirmation, never_signed_in = expected

    cur = pg.cursor(row_factory=dict_row)
    registrations = cur.execute(RUNBOOK_REGISTRATION_SUCCESS_RATE).fetchall()
    errors_today = cur.execute(RUNBOOK_AUTH_ERROR_RATE).fetchall()

    assert registrations[0]["date"] == day
    assert registrations[0]["total_registrations"] == total
    assert registrations[0]["confirmed"] == with_confirmation >= 1
    assert float(registrations[0]["confirmation_rate"]) == pytest.approx(
        round(with_confirmation * 100 / total, 2)
    )
    assert [row["date"] for row in errors_today] == [day]
    assert errors_today[0]["total_attempts"] == total
    assert errors_today[0]["failed_signins"] == never_signed_in
    assert float(errors_today[0]["failure_rate"]) == pytest.approx(
        round(never_signed_in * 100 / total, 2)
    )
