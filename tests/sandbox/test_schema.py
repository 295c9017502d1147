"""The bundled Mamapace schema against the app's real one, exercised the way PostgREST runs it.

The expectations are the app's own SQL (kkk9131/mamapace at b6833a4, supabase/sql/ in order, then
supabase/migrations/), read off a database built by running those files with psql: signatures,
defaults, result columns, tables, RLS, the profile trigger and which functions still exist. Only
the four list RPCs differ from such a replay, on purpose (see mamapace.sql's header).

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
from synthetics.sandbox.faults import DATABASE_FAULTS, database_statements

Conn = psycopg.Connection[Any]

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
COMMENT_COLUMNS = ["id", "post_id", "user_id", "body", "created_at", "attachments"]
COMMENT_ROW_COLUMNS = [
    "id",
    "post_id",
    "user_id",
    "body",
    "attachments",
    "created_at",
    "display_name",
    "avatar_emoji",
]
FOLLOW_LIST_COLUMNS = ["user_id", "username", "display_name", "avatar_emoji", "followed_at"]

_TS = "timestamp with time zone"
OFFSET = f"p_limit integer DEFAULT 20, p_offset_time {_TS} DEFAULT NULL::{_TS}"
BEFORE = f"p_limit integer DEFAULT 20, p_before {_TS} DEFAULT NULL::{_TS}"
FEED_V2 = (
    f"TABLE(id uuid, user_id uuid, body text, attachments jsonb, created_at {_TS}, "
    "display_name text, avatar_emoji text, is_liked boolean, reaction_count bigint, "
    "comment_count bigint)"
)
FEED_V1 = (
    f"TABLE(id uuid, user_id uuid, body text, created_at {_TS}, user_username text, "
    "user_display_name text, user_avatar_emoji text, reaction_count bigint, comment_count bigint)"
)
COMMENTS_V2 = (
    f"TABLE(id uuid, post_id uuid, user_id uuid, body text, attachments jsonb, created_at {_TS}, "
    "display_name text, avatar_emoji text)"
)
COMMENTS_V1 = (
    f"TABLE(id uuid, post_id uuid, user_id uuid, body text, created_at {_TS}, "
    "user_username text, user_display_name text, user_avatar_emoji text)"
)
FOLLOWS = (
    f"TABLE(user_id uuid, username text, display_name text, avatar_emoji text, followed_at {_TS})"
)
#: Every function of the bundled public schema in its final state, as the real one has it:
#: signature → (arguments, result, SECURITY DEFINER, language, volatility). Overloads are
#: separate entries.
FUNCTIONS: dict[str, tuple[str, str, bool, str, str]] = {
    # v2 (07_posts_v2, 08_social, 10_get_user_profile, 20_add_attachments)
    "get_my_profile_v2()": ("", "user_profiles", True, "sql", "s"),
    "update_my_profile_v2(text,text,text)": (
        "p_display_name text, p_bio text, p_avatar_emoji text",
        "user_profiles",
        True,
        "plpgsql",
        "v",
    ),
    "get_user_profile_v2(uuid)": ("p_user_id uuid", "user_profiles", True, "sql", "s"),
    f"get_home_feed_v2(integer,{_TS})": (OFFSET, FEED_V2, True, "plpgsql", "v"),
    f"get_user_posts_v2(integer,{_TS})": (OFFSET, FEED_V2, True, "plpgsql", "v"),
    "get_user_post_count_v2()": ("", "bigint", True, "sql", "s"),
    f"get_liked_posts_v2(integer,{_TS})": (OFFSET, FEED_V2, True, "plpgsql", "v"),
    "create_post_v2(text)": ("p_body text", "posts", True, "plpgsql", "v"),
    "create_post_v2(text,jsonb)": (
        "p_body text, p_attachments jsonb DEFAULT '[]'::jsonb",
        "posts",
        True,
        "plpgsql",
        "v",
    ),
    "delete_post_v2(uuid)": ("p_post_id uuid", "boolean", True, "plpgsql", "v"),
    "add_reaction_v2(uuid)": ("p_post_id uuid", "boolean", True, "plpgsql", "v"),
    "remove_reaction_v2(uuid)": ("p_post_id uuid", "boolean", True, "plpgsql", "v"),
    "create_comment_v2(uuid,text)": (
        "p_post_id uuid, p_body text",
        "post_comments",
        True,
        "plpgsql",
        "v",
    ),
    "create_comment_v2(uuid,text,jsonb)": (
        "p_post_id uuid, p_body text, p_attachments jsonb DEFAULT '[]'::jsonb",
        "post_comments",
        True,
        "plpgsql",
        "v",
    ),
    f"get_post_comments_v2(uuid,integer,{_TS})": (
        f"p_post_id uuid, p_limit integer DEFAULT 50, p_offset_time {_TS} DEFAULT NULL::{_TS}",
        COMMENTS_V2,
        True,
        "plpgsql",
        "v",
    ),
    "delete_comment_v2(uuid)": ("p_comment_id uuid", "boolean", True, "plpgsql", "v"),
    "follow_user_v2(uuid)": ("p_target_user_id uuid", "boolean", True, "plpgsql", "v"),
    "unfollow_user_v2(uuid)": ("p_target_user_id uuid", "boolean", True, "plpgsql", "v"),
    "is_following_v2(uuid)": ("p_target_user_id uuid", "boolean", True, "sql", "s"),
    "get_follow_counts_v2(uuid)": (
        "p_user_id uuid",
        "TABLE(followers bigint, following bigint)",
        True,
        "sql",
        "s",
    ),
    f"get_followers_v2(uuid,integer,{_TS})": (
        f"p_user_id uuid, {BEFORE}",
        FOLLOWS,
        True,
        "sql",
        "s",
    ),
    f"get_following_v2(uuid,integer,{_TS})": (
        f"p_user_id uuid, {BEFORE}",
        FOLLOWS,
        True,
        "sql",
        "s",
    ),
    # v1 posts, reactions, comments (06_posts)
    f"get_home_feed(integer,{_TS})": (BEFORE, FEED_V1, True, "sql", "s"),
    f"get_user_posts(uuid,integer,{_TS})": (f"p_user_id uuid, {BEFORE}", FEED_V1, True, "sql", "s"),
    "get_user_post_count(uuid)": ("p_user_id uuid", "bigint", True, "sql", "s"),
    f"get_liked_posts(uuid,integer,{_TS})": (
        f"p_user_id uuid, {BEFORE}",
        FEED_V1,
        True,
        "sql",
        "s",
    ),
    "create_post(uuid,text)": ("p_user_id uuid, p_body text", "posts", True, "plpgsql", "v"),
    "add_reaction(uuid,uuid)": ("p_user_id uuid, p_post_id uuid", "boolean", True, "plpgsql", "v"),
    "remove_reaction(uuid,uuid)": (
        "p_user_id uuid, p_post_id uuid",
        "boolean",
        True,
        "plpgsql",
        "v",
    ),
    "create_comment(uuid,uuid,text)": (
        "p_user_id uuid, p_post_id uuid, p_body text",
        "post_comments",
        True,
        "plpgsql",
        "v",
    ),
    f"get_post_comments(uuid,integer,{_TS})": (
        f"p_post_id uuid, {BEFORE}",
        COMMENTS_V1,
        True,
        "sql",
        "s",
    ),
    "delete_post(uuid,uuid)": ("p_user_id uuid, p_post_id uuid", "boolean", True, "plpgsql", "v"),
    "delete_comment(uuid,uuid)": (
        "p_user_id uuid, p_comment_id uuid",
        "boolean",
        True,
        "plpgsql",
        "v",
    ),
    # v1 sign-up and sessions (04_rpcs, 05_phase2)
    "register_user_secure(text,text,text,text,text,text,jsonb)": (
        "p_username text, p_maternal_health_id text, p_password text, "
        "p_display_name text DEFAULT NULL::text, p_bio text DEFAULT NULL::text, "
        "p_avatar_emoji text DEFAULT NULL::text, p_device_info jsonb DEFAULT NULL::jsonb",
        "jsonb",
        True,
        "plpgsql",
        "v",
    ),
    "authenticate_user_secure(text,text,text,jsonb,text)": (
        "p_username text, p_maternal_health_id text, p_password text, "
        "p_device_info jsonb DEFAULT NULL::jsonb, p_ip_address text DEFAULT NULL::text",
        "jsonb",
        True,
        "plpgsql",
        "v",
    ),
    "refresh_session_token(text)": ("p_refresh_token text", "jsonb", True, "plpgsql", "v"),
    "invalidate_session(text)": ("p_session_token text", "void", True, "sql", "v"),
    "validate_session_token(text)": ("p_session_token text", "jsonb", True, "sql", "v"),
    "_get_maternal_key()": ("", "text", False, "sql", "s"),
    "_encrypt_maternal_payload(text)": ("p_plain text", "jsonb", False, "plpgsql", "v"),
    "_decrypt_maternal_payload(jsonb)": ("p_payload jsonb", "text", False, "plpgsql", "v"),
    # profile bootstrap (09_profile_bootstrap)
    "gen_available_username(text)": ("p_email text", "text", False, "plpgsql", "v"),
    "handle_new_user()": ("", "trigger", True, "plpgsql", "v"),
}
V2 = {sig for sig in FUNCTIONS if sig.split("(")[0].endswith("_v2")}
SENSITIVE_TABLES = ["user_profiles", "auth_sessions", "encrypted_maternal_health_records"]
PROTECTED_TABLES = ["posts", "post_reactions", "post_comments", "user_follows"]
TABLES = [*SENSITIVE_TABLES, *PROTECTED_TABLES]
#: The profile columns a signed-in user may read directly (all but the password hash).
READABLE_PROFILE = [c for c in PROFILE_COLUMNS if c != "password_hash"]

#: The search_path hardening.sql pins on every SECURITY DEFINER function (the app pins none).
PINNED = ["search_path=public, extensions, pg_temp"]

CREATE_POST = "select * from create_post_v2(p_body => %s, p_attachments => %s::jsonb)"
CREATE_COMMENT = (
    "select * from create_comment_v2(p_post_id => %s, p_body => %s, p_attachments => '[]'::jsonb)"
)
UPDATE_PROFILE = (
    "select * from update_my_profile_v2(p_display_name => %s, p_bio => %s, p_avatar_emoji => %s)"
)

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


def one(
    conn: Conn, sub: uuid.UUID | None, sql: str, params: Any = None, role: str = "authenticated"
) -> dict[str, Any]:
    result = rows(conn, sub, sql, params, role)
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


def post(api: Conn, sub: uuid.UUID, body: str = "hello", attachments: str = "[]") -> dict[str, Any]:
    """A post created as the app creates one: with p_attachments."""
    return one(api, sub, CREATE_POST, (body, attachments))


def exists(pg: Conn, table: str, row_id: uuid.UUID) -> bool:
    row = pg.execute(f"select exists (select 1 from {table} where id = %s)", (row_id,)).fetchone()
    assert row is not None
    return bool(row[0])


def count(pg: Conn, sql: str, *params: Any) -> int:
    row = pg.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def privileges(pg: Conn) -> list[tuple[str, str, Any]]:
    """Every ACL of the public schema's functions, tables and columns, the functions' settings
    and the tables' RLS switches, in a stable order: what the hardened state consists of."""
    return pg.execute(
        """
        select 'function', p.oid::regprocedure::text, p.proacl::text
          from pg_proc p where p.pronamespace = 'public'::regnamespace
        union all
        select 'config', p.oid::regprocedure::text, p.proconfig::text
          from pg_proc p where p.pronamespace = 'public'::regnamespace
        union all
        select 'rls', c.relname, c.relrowsecurity::text
          from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
        union all
        select 'table', c.relname, c.relacl::text
          from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
        union all
        select 'column', c.relname || '.' || a.attname, a.attacl::text
          from pg_attribute a join pg_class c on c.oid = a.attrelid
         where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and a.attnum > 0
        order by 1, 2
        """
    ).fetchall()


def sync(pg: Conn, *active: str) -> None:
    """What the sandbox runs when its faults change: every database fault, on or off, in order."""
    for name in DATABASE_FAULTS:
        for statement in database_statements(name, name in active):
            pg.execute(statement.encode())


@contextmanager
def anon_grant(pg: Conn) -> Iterator[None]:
    """The `security.anon_grant` fault for the block, cleared the way the sandbox clears it."""
    sync(pg, "security.anon_grant")
    try:
        yield
    finally:
        sync(pg)


def callable_functions(pg: Conn) -> list[tuple[str, str]]:
    """(signature, a call with typed NULL arguments) of every non-trigger function in public."""
    found = pg.execute(
        """
        select p.oid::regprocedure::text,
               format('select * from public.%I(%s)', p.proname,
                      (select string_agg(format('null::%s', format_type(t, null)), ', ')
                         from unnest(p.proargtypes) as t))
          from pg_proc p
         where p.pronamespace = 'public'::regnamespace and p.prorettype <> 'trigger'::regtype
         order by 1
        """
    ).fetchall()
    return [(sig, call) for sig, call in found]


# The final state ---------------------------------------------------------------------------------


def test_every_function_has_the_real_signature_and_nothing_else_exists(pg: Conn) -> None:
    found = pg.execute(
        """
        select p.oid::regprocedure::text, pg_get_function_arguments(p.oid),
               pg_get_function_result(p.oid), p.prosecdef, l.lanname, p.provolatile, p.proconfig
          from pg_proc p join pg_language l on l.oid = p.prolang
         where p.pronamespace = 'public'::regnamespace
        """
    ).fetchall()

    by_signature = {row[0]: row[1:] for row in found}
    assert set(by_signature) == set(FUNCTIONS)
    for signature, expected in FUNCTIONS.items():
        *described, config = by_signature[signature]
        assert tuple(described) == expected, signature
        assert config == (PINNED if expected[2] else None), signature


def test_the_apps_own_sql_pins_no_search_path_and_leaves_health_records_without_rls() -> None:
    # What the real files do; the pins and the RLS switch are hardening.sql's.
    app = schema_sql("mamapace.sql") + schema_sql("delete_post_v2.sql")
    statements = [line for line in app.splitlines() if not line.lstrip().startswith("--")]
    assert not any("search_path" in line for line in statements)
    assert not any("maternal_health_records enable" in line for line in statements)


def test_create_post_v2_and_create_comment_v2_have_both_overloads(pg: Conn) -> None:
    overloads = pg.execute(
        "select proname, count(*) from pg_proc where pronamespace = 'public'::regnamespace "
        "and proname in ('create_post_v2', 'create_comment_v2') group by proname order by proname"
    ).fetchall()

    assert overloads == [("create_comment_v2", 2), ("create_post_v2", 2)]


def test_tables_have_the_real_columns(pg: Conn) -> None:
    columns = {
        table: [
            row[0]
            for row in pg.execute(
                "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
                "and not attisdropped order by attnum",
                (f"public.{table}",),
            ).fetchall()
        ]
        for table in TABLES
    }

    assert columns == {
        "user_profiles": PROFILE_COLUMNS,
        "auth_sessions": [
            "id",
            "user_id",
            "session_token",
            "refresh_token",
            "expires_at",
            "created_at",
            "last_used_at",
            "device_info",
            "ip_address",
            "is_active",
        ],
        "encrypted_maternal_health_records": [
            "user_id",
            "maternal_health_id_hash",
            "encrypted_payload",
            "created_at",
        ],
        "posts": POST_COLUMNS,
        "post_reactions": ["id", "post_id", "user_id", "created_at"],
        "post_comments": COMMENT_COLUMNS,
        "user_follows": ["follower_id", "followee_id", "created_at"],
    }


def test_user_profiles_has_no_foreign_key_to_auth_users(pg: Conn) -> None:
    references = pg.execute(
        "select conname from pg_constraint where conrelid = 'public.user_profiles'::regclass "
        "and contype = 'f'"
    ).fetchall()

    assert references == []


def test_rls_and_policies_are_the_real_ones(pg: Conn) -> None:
    rls = dict(
        pg.execute(
            "select relname, relrowsecurity from pg_class "
            "where relnamespace = 'public'::regnamespace and relkind = 'r'"
        ).fetchall()
    )
    policies = pg.execute(
        "select tablename, policyname, cmd, qual, with_check from pg_policies "
        "where schemaname = 'public' order by 1, 2"
    ).fetchall()

    assert rls == {
        "user_profiles": True,
        "auth_sessions": True,
        "encrypted_maternal_health_records": True,  # hardening.sql's; the app never enables it
        "posts": True,
        "post_reactions": True,
        "post_comments": True,
        "user_follows": True,
    }
    # 06_posts.sql's `create policy if not exists` never ran: posts, reactions, comments have none.
    assert policies == [
        ("auth_sessions", "auth_sessions_owner_modify", "ALL", "(auth.uid() = user_id)", None),
        ("auth_sessions", "auth_sessions_owner_select", "SELECT", "(auth.uid() = user_id)", None),
        (
            "user_follows",
            "user_follows_delete_policy",
            "DELETE",
            "(auth.uid() = follower_id)",
            None,
        ),
        (
            "user_follows",
            "user_follows_insert_policy",
            "INSERT",
            None,
            "(auth.uid() = follower_id)",
        ),
        (
            "user_follows",
            "user_follows_select_policy",
            "SELECT",
            "(auth.role() = 'authenticated'::text)",
            None,
        ),
        ("user_profiles", "user_profiles_select_public", "SELECT", "true", None),
    ]


# Profile bootstrap ------------------------------------------------------------------------------


def test_trigger_creates_profile_as_09_profile_bootstrap_does(pg: Conn) -> None:
    token = uuid.uuid4().hex[:8]
    uid = make_user(pg, f"Mama.San+{token}@Example.COM")

    row = pg.execute(
        "select username, display_name, bio, avatar_emoji, profile_visibility, is_active, "
        "password_hash, updated_at is not null from user_profiles where id = %s",
        (uid,),
    ).fetchone()

    # The local part, lowercased, punctuation kept.
    assert row == (f"mama.san+{token}", None, None, "👶", "public", True, None, True)


def test_trigger_suffixes_a_taken_username_with_six_hex_digits(pg: Conn) -> None:
    token = uuid.uuid4().hex[:8]
    first = make_user(pg, f"mama{token}@one.example")
    second = make_user(pg, f"MAMA{token}@two.example")

    assert username_of(pg, first) == f"mama{token}"
    taken = username_of(pg, second)
    assert taken is not None and taken.startswith(f"mama{token}_")
    assert len(taken) == len(f"mama{token}_") + 6
    assert all(c in "0123456789abcdef" for c in taken[-6:])


def test_trigger_names_users_without_email_user(pg: Conn) -> None:
    first = make_user(pg, None, phone=f"+81{uuid.uuid4().int % 10**10:010d}")
    second = make_user(pg, None, phone=f"+81{uuid.uuid4().int % 10**10:010d}")

    names = {username_of(pg, first), username_of(pg, second)}

    assert len(names) == 2
    assert all(name == "user" or (name or "").startswith("user_") for name in names)


def test_deleting_the_auth_user_leaves_the_profile_and_everything_it_owns(
    pg: Conn, api: Conn
) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    mine = post(api, alice, "mine")
    one(api, alice, CREATE_COMMENT, (mine["id"], "hi"))
    scalar(api, alice, "select add_reaction_v2(p_post_id => %s)", (mine["id"],))
    scalar(api, alice, "select follow_user_v2(p_target_user_id => %s)", (bob,))

    pg.execute("delete from auth.users where id = %s", (alice,))

    # Nothing cascades from auth.users: cleanup must delete the profile itself.
    assert username_of(pg, alice) is not None
    assert exists(pg, "posts", mine["id"])
    assert count(pg, "select count(*) from post_comments where user_id = %s", alice) == 1
    assert count(pg, "select count(*) from post_reactions where user_id = %s", alice) == 1
    assert count(pg, "select count(*) from user_follows where follower_id = %s", alice) == 1


def test_deleting_the_profile_removes_everything_it_owns(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    alices_post = post(api, alice, "mine")
    bobs_post = post(api, bob, "bob's")
    one(api, alice, CREATE_COMMENT, (bobs_post["id"], "hi"))
    bobs_comment = one(api, bob, CREATE_COMMENT, (alices_post["id"], "yo"))
    scalar(api, alice, "select add_reaction_v2(p_post_id => %s)", (bobs_post["id"],))
    scalar(api, bob, "select follow_user_v2(p_target_user_id => %s)", (alice,))
    pg.execute(
        "insert into auth_sessions (user_id, session_token, refresh_token, expires_at) "
        "values (%s, 's', 'r', now() + interval '1 day')",
        (alice,),
    )
    pg.execute(
        "insert into encrypted_maternal_health_records "
        "(user_id, maternal_health_id_hash, encrypted_payload) values (%s, %s, '{}')",
        (alice, uuid.uuid4().hex),
    )

    pg.execute("delete from auth.users where id = %s", (alice,))
    pg.execute("delete from user_profiles where id = %s", (alice,))

    left = pg.execute(
        """
        select (select count(*) from posts where user_id = %(u)s),
               (select count(*) from post_comments where user_id = %(u)s),
               (select count(*) from post_reactions where user_id = %(u)s),
               (select count(*) from user_follows where %(u)s in (follower_id, followee_id)),
               (select count(*) from auth_sessions where user_id = %(u)s),
               (select count(*) from encrypted_maternal_health_records where user_id = %(u)s)
        """,
        {"u": alice},
    ).fetchone()
    assert left == (0, 0, 0, 0, 0, 0)
    assert not exists(pg, "post_comments", bobs_comment["id"])  # went with Alice's post
    assert exists(pg, "posts", bobs_post["id"])


# Profiles ---------------------------------------------------------------------------------------


def test_profile_rpcs(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)

    mine = one(api, alice, "select * from get_my_profile_v2()")
    assert list(mine) == PROFILE_COLUMNS
    assert (mine["id"], mine["username"]) == (alice, username_of(pg, alice))

    updated = one(api, alice, UPDATE_PROFILE, ("Alice", "Mother of two", "🌸"))
    assert list(updated) == PROFILE_COLUMNS
    assert (updated["display_name"], updated["bio"], updated["avatar_emoji"]) == (
        "Alice",
        "Mother of two",
        "🌸",
    )
    assert updated["updated_at"] > mine["updated_at"]
    kept = one(api, alice, UPDATE_PROFILE, (None, "Mother of three", None))
    assert (kept["display_name"], kept["bio"], kept["avatar_emoji"]) == (
        "Alice",
        "Mother of three",
        "🌸",
    )

    seen_by_bob = one(api, bob, "select * from get_user_profile_v2(p_user_id => %s)", (alice,))
    assert list(seen_by_bob) == PROFILE_COLUMNS
    assert (seen_by_bob["id"], seen_by_bob["display_name"]) == (alice, "Alice")


@pytest.mark.parametrize(
    ("display_name", "bio", "emoji", "message"),
    [
        ("", None, None, "Invalid display name length"),
        ("x" * 31, None, None, "Invalid display name length"),
        (None, "x" * 501, None, "Bio too long"),
        (None, None, "x" * 11, "Invalid avatar emoji"),
    ],
)
def test_update_my_profile_v2_validates_as_08_social_does(
    pg: Conn, api: Conn, display_name: str | None, bio: str | None, emoji: str | None, message: str
) -> None:
    alice = make_user(pg)

    with raises(errors.RaiseException, message):
        one(api, alice, UPDATE_PROFILE, (display_name, bio, emoji))


def test_get_user_profile_v2_shows_any_active_profile_whole(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    pg.execute(
        "update user_profiles set profile_visibility = 'private', password_hash = 'x' "
        "where id = %s",
        (alice,),
    )

    by_bob = one(api, bob, "select * from get_user_profile_v2(p_user_id => %s)", (alice,))
    # No visibility rule: a private profile, password hash and all, to any signed-in user.
    assert (by_bob["id"], by_bob["profile_visibility"], by_bob["password_hash"]) == (
        alice,
        "private",
        "x",
    )

    pg.execute("update user_profiles set is_active = false where id = %s", (alice,))
    hidden = one(api, bob, "select * from get_user_profile_v2(p_user_id => %s)", (alice,))
    assert hidden["id"] is None  # composite NULL: PostgREST answers null


# Posts and feeds --------------------------------------------------------------------------------


def test_create_post_v2_as_the_app_calls_it(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    created = post(api, alice, "x" * 300)
    with_images = post(api, alice, "[image]", json.dumps([{"url": "https://img.example/1.png"}]))

    assert list(created) == POST_COLUMNS
    assert (created["user_id"], created["body"], created["attachments"], created["is_ad"]) == (
        alice,
        "x" * 300,
        [],
        False,
    )
    assert with_images["attachments"] == [{"url": "https://img.example/1.png"}]
    assert scalar(api, alice, "select get_user_post_count_v2()") == 2


def test_naming_only_p_body_is_ambiguous_between_the_overloads(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    with pytest.raises(errors.AmbiguousFunction):
        rows(api, alice, "select * from create_post_v2(p_body => 'x'::text)")
    with pytest.raises(errors.AmbiguousFunction):
        rows(
            api,
            alice,
            "select * from create_comment_v2(p_post_id => %s, p_body => 'x'::text)",
            (uuid.uuid4(),),
        )


@pytest.mark.parametrize(
    ("body", "attachments", "error", "message"),
    [
        ("", "[]", errors.RaiseException, "Post must have content or images"),
        ("   ", "[]", errors.RaiseException, "Post must have content or images"),
        (None, "[]", errors.RaiseException, "Post must have content or images"),
        (
            "x",
            json.dumps([{"url": "u"}] * 5),
            errors.RaiseException,
            "Maximum 4 images allowed per post",
        ),
        # The table's check speaks for itself, naming the relation and the constraint.
        (
            "x" * 301,
            "[]",
            errors.CheckViolation,
            'new row for relation "posts" violates check constraint "posts_body_check"',
        ),
    ],
)
def test_create_post_v2_refusals(
    pg: Conn,
    api: Conn,
    body: str | None,
    attachments: str,
    error: type[psycopg.Error],
    message: str,
) -> None:
    alice = make_user(pg)

    with raises(error, message):
        post(api, alice, body, attachments)  # type: ignore[arg-type]

    assert scalar(api, alice, "select get_user_post_count_v2()") == 0


def test_home_feed_is_newest_first_with_authors_counts_and_my_likes(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    one(api, alice, UPDATE_PROFILE, ("A", None, "🍼"))
    older = post(api, alice, "older")
    newer = post(api, alice, "newer")
    assert scalar(api, bob, "select add_reaction_v2(p_post_id => %s)", (older["id"],)) is True
    one(api, bob, CREATE_COMMENT, (older["id"], "hi"))
    one(api, alice, CREATE_COMMENT, (older["id"], "yo"))

    feed = rows(api, bob, "select * from get_home_feed_v2(p_limit => 2, p_offset_time => null)")

    assert [list(row) for row in feed] == [FEED_COLUMNS, FEED_COLUMNS]
    assert [row["id"] for row in feed] == [newer["id"], older["id"]]
    first = feed[1]
    assert (first["user_id"], first["body"], first["created_at"], first["attachments"]) == (
        alice,
        "older",
        older["created_at"],
        [],
    )
    assert (first["display_name"], first["avatar_emoji"]) == ("A", "🍼")
    assert (first["is_liked"], first["reaction_count"], first["comment_count"]) == (True, 1, 2)
    assert (feed[0]["is_liked"], feed[0]["reaction_count"], feed[0]["comment_count"]) == (
        False,
        0,
        0,
    )
    by_alice = rows(api, alice, "select * from get_home_feed_v2(p_limit => 2)")
    assert [row["is_liked"] for row in by_alice] == [False, False]


def test_user_posts_page_backwards_with_p_offset_time(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    p1, p2, p3 = (post(api, alice, body) for body in ("one", "two", "three"))
    post(api, bob, "not alice's")
    page = "select * from get_user_posts_v2(p_limit => 2, p_offset_time => %s)"

    page1 = rows(api, alice, page, (None,))
    page2 = rows(api, alice, page, (page1[-1]["created_at"],))
    page3 = rows(api, alice, page, (page2[-1]["created_at"],))

    assert list(page1[0]) == FEED_COLUMNS
    assert [row["id"] for row in page1] == [p3["id"], p2["id"]]
    assert [row["id"] for row in page2] == [p1["id"]]
    assert page3 == []
    with pytest.raises(errors.UndefinedFunction):  # the 07 argument name is gone
        rows(api, alice, "select * from get_user_posts_v2(p_before => now())")


def test_home_feed_pages_backwards_with_p_offset_time(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    first, second, third = (post(api, alice, body) for body in ("a", "b", "c"))
    page = "select * from get_home_feed_v2(p_limit => 1, p_offset_time => %s)"

    after_third = rows(api, alice, page, (third["created_at"],))
    after_second = rows(api, alice, page, (after_third[-1]["created_at"],))

    assert [row["id"] for row in after_third] == [second["id"]]
    assert [row["id"] for row in after_second] == [first["id"]]


def test_limits_are_clamped_to_1_through_100(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    # Back-dated so the bulk never shows up at the top of another test's home feed.
    pg.execute(
        "insert into posts (user_id, body, created_at) "
        "select %s, 'bulk ' || g, now() - make_interval(days => 400, mins => g) "
        "from generate_series(1, 105) g",
        (alice,),
    )

    def listed(sql: str) -> int:
        return len(rows(api, alice, sql))

    assert listed("select * from get_user_posts_v2(p_limit => 1000)") == 100
    assert listed("select * from get_user_posts_v2(p_limit => 0)") == 1
    assert listed("select * from get_user_posts_v2(p_limit => -5)") == 1
    assert listed("select * from get_user_posts_v2(p_limit => null)") == 20
    assert listed("select * from get_user_posts_v2()") == 20
    assert listed("select * from get_home_feed_v2(p_limit => 1000)") == 100


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
    assert count(pg, "select count(*) from post_reactions where post_id = %s", older["id"]) == 1

    liked = rows(api, bob, "select * from get_liked_posts_v2(p_limit => 20, p_offset_time => null)")
    assert list(liked[0]) == FEED_COLUMNS
    # Newest reaction first; is_liked is always true here.
    assert [(row["id"], row["is_liked"]) for row in liked] == [
        (newer["id"], True),
        (older["id"], True),
    ]
    assert rows(api, alice, "select * from get_liked_posts_v2()") == []

    assert scalar(api, bob, remove, (older["id"],)) is True
    assert scalar(api, bob, remove, (older["id"],)) is False
    assert [row["id"] for row in rows(api, bob, "select * from get_liked_posts_v2()")] == [
        newer["id"]
    ]


def test_liked_posts_page_by_reaction_time_but_return_the_post_time(pg: Conn, api: Conn) -> None:
    # As 20_add_attachments.sql has it: the cursor the app takes from the last row (the post's
    # created_at) is compared with the reactions' created_at, so page 2 misses posts liked
    # between that post's creation and its like. Pinned here as the app's real behaviour.
    alice = make_user(pg)
    bob = make_user(pg)
    older = post(api, alice, "older")
    newer = post(api, alice, "newer")
    scalar(api, bob, "select add_reaction_v2(p_post_id => %s)", (older["id"],))
    scalar(api, bob, "select add_reaction_v2(p_post_id => %s)", (newer["id"],))
    page = "select * from get_liked_posts_v2(p_limit => 1, p_offset_time => %s)"

    page1 = rows(api, bob, page, (None,))
    page2 = rows(api, bob, page, (page1[-1]["created_at"],))

    assert [row["id"] for row in page1] == [newer["id"]]
    assert page2 == []  # `older` was liked after `newer` was created: skipped


def test_reaction_on_a_missing_post_names_the_constraint(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    with raises(
        errors.ForeignKeyViolation,
        'insert or update on table "post_reactions" violates foreign key constraint '
        '"post_reactions_post_id_fkey"',
    ):
        scalar(api, alice, "select add_reaction_v2(p_post_id => %s)", (uuid.uuid4(),))


# Comments ---------------------------------------------------------------------------------------


def test_comments_create_list_and_page(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    target = post(api, alice)

    first = one(api, bob, CREATE_COMMENT, (target["id"], "first"))
    second = one(api, alice, CREATE_COMMENT, (target["id"], "second"))

    assert list(first) == COMMENT_COLUMNS
    assert (first["post_id"], first["user_id"], first["body"], first["attachments"]) == (
        target["id"],
        bob,
        "first",
        [],
    )
    listed = rows(api, bob, "select * from get_post_comments_v2(p_post_id => %s)", (target["id"],))
    assert list(listed[0]) == COMMENT_ROW_COLUMNS
    assert [row["id"] for row in listed] == [second["id"], first["id"]]
    page = rows(
        api,
        bob,
        "select * from get_post_comments_v2(p_post_id => %s, p_offset_time => %s, p_limit => 1)",
        (target["id"], second["created_at"]),
    )
    assert [row["id"] for row in page] == [first["id"]]


def test_comments_default_to_pages_of_50(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    target = post(api, alice)
    pg.execute(
        "insert into post_comments (post_id, user_id, body, created_at) "
        "select %s, %s, 'c' || g, now() - make_interval(mins => g) from generate_series(1, 60) g",
        (target["id"], alice),
    )

    listed = rows(
        api, alice, "select * from get_post_comments_v2(p_post_id => %s)", (target["id"],)
    )

    assert len(listed) == 50


@pytest.mark.parametrize(
    ("body", "message"),
    [("", "Comment must have content or images"), (None, "Comment must have content or images")],
)
def test_create_comment_v2_refusals(pg: Conn, api: Conn, body: str | None, message: str) -> None:
    alice = make_user(pg)
    target = post(api, alice)

    with raises(errors.RaiseException, message):
        one(api, alice, CREATE_COMMENT, (target["id"], body))


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
    comment = one(api, bob, CREATE_COMMENT, (target["id"], "hi"))
    delete = "select delete_comment_v2(p_comment_id => %s)"

    # Not even the post's author may delete someone else's comment.
    assert scalar(api, alice, delete, (comment["id"],)) is False
    assert exists(pg, "post_comments", comment["id"])
    assert scalar(api, bob, delete, (comment["id"],)) is True
    assert not exists(pg, "post_comments", comment["id"])


def test_cross_user_fault_changes_the_body_only_and_its_revert_restores_it(
    pg: Conn, api: Conn
) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    first = post(api, alice, "first")
    second = post(api, alice, "second")
    delete = "select delete_post_v2(p_post_id => %s)"
    before = privileges(pg)

    try:
        sync(pg, "security.cross_user")
        sync(pg, "security.cross_user")
        assert scalar(api, bob, delete, (first["id"],)) is True
        assert not exists(pg, "posts", first["id"])
        assert privileges(pg) == before
    finally:
        sync(pg)
    sync(pg)

    assert scalar(api, bob, delete, (second["id"],)) is False
    assert exists(pg, "posts", second["id"])
    assert privileges(pg) == before


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

    listing = "select * from get_followers_v2(p_user_id => %s, p_limit => 20, p_before => null)"
    followers = rows(api, carol, listing, (bob,))
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
    assert [row["user_id"] for row in page1 + page2] == [carol, bob]

    assert scalar(api, alice, unfollow, (bob,)) is True
    assert scalar(api, alice, unfollow, (bob,)) is False
    assert scalar(api, alice, following, (bob,)) is False


def test_follow_refuses_self_and_unknown_users(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    follow = "select follow_user_v2(p_target_user_id => %s)"

    with raises(errors.RaiseException, "Cannot follow yourself"):
        scalar(api, alice, follow, (alice,))
    with raises(errors.RaiseException, "User not found"):
        scalar(api, alice, follow, (uuid.uuid4(),))


# Without a user in the token --------------------------------------------------------------------


def test_v2_rpcs_do_not_check_for_a_user(pg: Conn, api: Conn) -> None:
    # The role may call them, the token names nobody: reads run, writes fail on a NOT NULL column.
    alice = make_user(pg)
    post(api, alice, "visible")

    assert rows(api, None, "select * from get_home_feed_v2(p_limit => 1)") != []
    assert one(api, None, "select * from get_my_profile_v2()")["id"] is None
    assert scalar(api, None, "select get_user_post_count_v2()") == 0
    with pytest.raises(errors.NotNullViolation):
        post(api, None, "nobody's")  # type: ignore[arg-type]


# The hardened state: privileges ------------------------------------------------------------------


def test_anon_and_public_can_execute_nothing(pg: Conn, api: Conn) -> None:
    calls = callable_functions(pg)
    opened = pg.execute(
        "select p.oid::regprocedure::text from pg_proc p "
        "where p.pronamespace = 'public'::regnamespace and ("
        "has_function_privilege('anon', p.oid, 'execute') "
        "or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0))"
    ).fetchall()

    assert opened == []
    assert len(calls) == len(FUNCTIONS) - 1  # all but the trigger function
    unreachable = []
    for signature, call in calls:
        name = signature.split("(")[0]
        try:
            with raises(errors.InsufficientPrivilege, f"permission denied for function {name}"):
                rows(api, None, call, role="anon")
        except errors.AmbiguousFunction:
            unreachable.append(signature)
    # The 07 overloads cannot even be named: every call matching them matches the 20 ones too.
    assert unreachable == ["create_comment_v2(uuid,text)", "create_post_v2(text)"]


def test_authenticated_executes_exactly_the_v2_rpcs(pg: Conn) -> None:
    executable = {
        row[0]
        for row in pg.execute(
            "select p.oid::regprocedure::text from pg_proc p "
            "where p.pronamespace = 'public'::regnamespace "
            "and has_function_privilege('authenticated', p.oid, 'execute')"
        ).fetchall()
    }
    service = count(
        pg,
        "select count(*) from pg_proc p where p.pronamespace = 'public'::regnamespace "
        "and not has_function_privilege('service_role', p.oid, 'execute')",
    )

    assert executable == V2
    assert service == 0


@pytest.mark.parametrize("table", TABLES)
def test_anon_cannot_touch_any_table(api: Conn, table: str) -> None:
    denied = f"permission denied for table {table}"
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, None, f"select * from {table}", role="anon")
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, None, f"delete from {table}", role="anon")


@pytest.mark.parametrize("table", [t for t in TABLES if t != "user_profiles"])
def test_authenticated_cannot_read_or_write_tables(pg: Conn, api: Conn, table: str) -> None:
    alice = make_user(pg)

    denied = f"permission denied for table {table}"
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, f"select * from {table}")
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, f"insert into {table} default values")
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, f"delete from {table}")


def test_authenticated_reads_profiles_but_not_password_hashes(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    columns = ", ".join(READABLE_PROFILE)

    listed = rows(api, alice, f"select {columns} from user_profiles where id = %s", (bob,))

    assert [row["id"] for row in listed] == [bob]
    denied = "permission denied for table user_profiles"
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, "select password_hash from user_profiles")
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, "select * from user_profiles")
    with raises(errors.InsufficientPrivilege, denied):
        rows(api, alice, "update user_profiles set bio = 'x' where id = %s", (alice,))


def test_v1_create_post_is_closed_to_api_roles_but_not_to_service_role(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    bob = make_user(pg)
    impersonate = "select * from create_post(p_user_id => %s, p_body => 'x')"

    for role in ("authenticated", "anon"):
        with raises(errors.InsufficientPrivilege, "permission denied for function create_post"):
            rows(api, bob, impersonate, (alice,), role=role)
    assert count(pg, "select count(*) from posts where user_id = %s", alice) == 0
    created = one(api, None, impersonate, (alice,), role="service_role")
    assert created["user_id"] == alice


# The security.anon_grant fault --------------------------------------------------------------------


def test_anon_grant_opens_every_function_to_public_and_anon(pg: Conn, api: Conn) -> None:
    with anon_grant(pg):
        closed = pg.execute(
            "select p.oid::regprocedure::text from pg_proc p "
            "where p.pronamespace = 'public'::regnamespace and not ("
            "has_function_privilege('anon', p.oid, 'execute') "
            "and exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0))"
        ).fetchall()
        definers = count(
            pg,
            "select count(*) from pg_proc p where p.pronamespace = 'public'::regnamespace "
            "and p.prosecdef and has_function_privilege('anon', p.oid, 'execute')",
        )
        feed = rows(api, None, "select * from get_home_feed_v2(p_limit => 1)", role="anon")

    assert closed == []
    assert definers == sum(1 for spec in FUNCTIONS.values() if spec[2])
    assert isinstance(feed, list)


def test_anon_grant_lets_anon_post_as_anyone_through_v1(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)

    with anon_grant(pg):
        forged = one(
            api,
            None,
            "select * from create_post(p_user_id => %s, p_body => 'not alice')",
            (alice,),
            role="anon",
        )

    assert (forged["user_id"], forged["body"]) == (alice, "not alice")
    assert exists(pg, "posts", forged["id"])


def test_anon_grant_opens_the_sensitive_tables_as_the_real_schema_does(pg: Conn, api: Conn) -> None:
    alice = make_user(pg)
    pg.execute("update user_profiles set password_hash = 'bcrypt-hash' where id = %s", (alice,))
    pg.execute(
        "insert into encrypted_maternal_health_records "
        "(user_id, maternal_health_id_hash, encrypted_payload) values (%s, %s, %s)",
        (alice, uuid.uuid4().hex, json.dumps({"ciphertext": "c2VjcmV0"})),
    )
    pg.execute(
        "insert into auth_sessions (user_id, session_token, refresh_token, expires_at) "
        "values (%s, 'session', 'refresh', now() + interval '1 day')",
        (alice,),
    )

    with anon_grant(pg):
        hashes = rows(
            api,
            None,
            "select password_hash from user_profiles where id = %s",
            (alice,),
            role="anon",
        )
        records = rows(
            api,
            None,
            "select encrypted_payload from encrypted_maternal_health_records where user_id = %s",
            (alice,),
            role="anon",
        )
        sessions = rows(api, None, "select * from auth_sessions", role="anon")
        posts = rows(api, None, "select id from posts limit 1", role="anon")

    assert hashes == [{"password_hash": "bcrypt-hash"}]  # the `using (true)` policy
    assert records == [{"encrypted_payload": {"ciphertext": "c2VjcmV0"}}]  # RLS is off
    assert sessions == []  # readable, but the owner policy shows anon no rows
    assert isinstance(posts, list)


def test_clearing_anon_grant_restores_the_hardened_privileges_exactly(pg: Conn, api: Conn) -> None:
    before = privileges(pg)

    with anon_grant(pg):
        opened = privileges(pg)
        sync(pg, "security.anon_grant")  # twice is the same as once
        assert privileges(pg) == opened
        sync(pg, "security.anon_grant", "security.cross_user")  # and survives a body swap
        assert [row for row in privileges(pg) if row[0] != "config"] == [
            row for row in opened if row[0] != "config"
        ]
        sync(pg, "security.anon_grant")

    assert opened != before
    assert privileges(pg) == before
    sync(pg)
    assert privileges(pg) == before
    with raises(errors.InsufficientPrivilege, "permission denied for function create_post"):
        rows(
            api,
            None,
            "select * from create_post(p_user_id => %s, p_body => 'x')",
            (uuid.uuid4(),),
            role="anon",
        )


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
