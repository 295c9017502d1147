"""The app's RPC flow (synthetics/checks/app_flow.py) against a project that misbehaves.

A sandbox stands in for somebody else's project; a test breaks one of its functions the way a
migration could (as `postgres`, put back afterwards) and runs `synthetics run --only rpc` against
it, so the verdicts come from the real flow over real HTTP. The pure helpers that judge an answer's
columns are table-tested first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from synthetics.checks.app_flow import FEED_ROW, PROFILE, json_kind, shape_problem, timestamp
from synthetics.sandbox.database import schema_sql
from synthetics.sandbox.server import Sandbox, SandboxInfo, settings_for_port
from synthetics.sandbox.settings import SandboxSettings

CONFIG = """
default_target = "local"

[targets.local]
url = "${LOCAL_URL}"
anon_key = "${LOCAL_ANON_KEY}"
service_role_key = "${LOCAL_SERVICE_ROLE_KEY}"

[targets.local.inbox]
provider = "mailpit"
url = "${LOCAL_INBOX_URL}"
address_template = "synthetic+{tag}@mamapace-synthetics.dev"
"""
FEED = {
    "id": "5b1f…",
    "user_id": "9c0e…",
    "body": "hello",
    "attachments": [],
    "created_at": "2025-12-01T22:12:00.123456+00:00",
    "display_name": None,
    "avatar_emoji": "👶",
    "is_liked": False,
    "reaction_count": 0,
    "comment_count": 2,
}


# -- judging one answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({}, None),
        ({"attachments": None}, None),  # the app reads `row.attachments || []`
        ({"display_name": "Mama"}, None),
        ({"created_at": "2025-12-01T22:12:00Z"}, None),
        ({"reaction_count": "0"}, "row: reaction_count is string '0', the app reads number"),
        ({"attachments": {}}, "row: attachments is object {}, the app reads array or null"),
        (
            {"created_at": "yesterday"},
            "row: created_at is string 'yesterday', the app reads a timestamp",
        ),
        (
            {"created_at": "2025-12-01T22:12:00"},
            "row: created_at is string '2025-12-01T22:12:00', the app reads a timestamp",
        ),  # no time zone
        ({"comment_count": True}, "row: comment_count is boolean True, the app reads number"),
    ],
)
def test_shape_problem_names_the_column_and_its_type(
    change: dict[str, Any], problem: str | None
) -> None:
    assert shape_problem({**FEED, **change}, FEED_ROW, "row") == problem


def test_shape_problem_accepts_the_apps_fallback_names() -> None:
    # fetchHomeFeed reads `row.user_display_name ?? row.display_name`: either will do.
    v1_names = {k: v for k, v in FEED.items() if k not in ("display_name", "avatar_emoji")}
    v1_names |= {"user_display_name": "Mama", "user_avatar_emoji": None}
    assert shape_problem(v1_names, FEED_ROW, "row") is None
    neither = {k: v for k, v in FEED.items() if k != "display_name"}
    assert shape_problem(neither, FEED_ROW, "row") == (
        "row has no user_display_name or display_name column (the app reads it)"
    )
    assert shape_problem({}, PROFILE, "the profile") == (
        "the profile has no id column (the app reads it)"
    )


def test_json_kinds_and_timestamps() -> None:
    assert [json_kind(v) for v in (None, True, 1, 1.5, "x", [], {})] == [
        "null",
        "boolean",
        "number",
        "number",
        "string",
        "array",
        "object",
    ]
    assert timestamp("2025-12-01T22:12:00.1+09:00") is not None
    assert timestamp("2025-12-01") is None and timestamp(5) is None


# -- the flow against a project ------------------------------------------------------------------


@pytest.fixture(scope="module")
def project() -> Iterator[Sandbox]:
    """A Supabase stand-in that the runs treat as somebody else's project."""
    with Sandbox(settings_for_port(SandboxSettings(), 0)) as sandbox:
        yield sandbox


def run_rpc(tmp_path: Path, info: SandboxInfo) -> tuple[int, dict[str, dict[str, Any]], str]:
    """`synthetics run --only rpc` against the project: exit code, checks by id, output."""
    config = tmp_path / "synthetics.toml"
    config.write_text(CONFIG)
    env = {
        **os.environ,
        "LOCAL_URL": info.api_url,
        "LOCAL_ANON_KEY": info.anon_key,
        "LOCAL_SERVICE_ROLE_KEY": info.service_role_key,
        "LOCAL_INBOX_URL": info.inbox_url,
    }
    report_dir = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", "--only", "rpc", "--config", str(config),
         "--report-dir", str(report_dir)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    results = json.loads((report_dir / "results.json").read_text())
    return done.returncode, {c["id"]: c for c in results["checks"]}, done.stdout + done.stderr


@contextmanager
def replaced(project: Sandbox, signature: str, definition: str) -> Iterator[None]:
    """`signature` redefined for the block (drop + create), then put back with its grants."""
    with psycopg.connect(project.info.db_url, autocommit=True) as conn:
        row = conn.execute(
            "select pg_get_functiondef(%s::regprocedure)", (f"public.{signature}",)
        ).fetchone()
        assert row is not None
        original = row[0]
        conn.execute(f"drop function public.{signature}".encode())
        conn.execute(definition.encode())
        conn.execute(schema_sql("hardening.sql").encode())
        project.set_faults([])  # re-reads the schema cache, as PostgREST's DDL trigger makes it
        try:
            yield
        finally:
            conn.execute(f"drop function public.{signature}".encode())
            conn.execute(original.encode())
            conn.execute(schema_sql("hardening.sql").encode())
            project.set_faults([])


def bystander(info: SandboxInfo) -> str:
    """A real user of the project (not the run's), created through the admin API."""
    admin = {"apikey": info.service_role_key, "Authorization": f"Bearer {info.service_role_key}"}
    email = f"mother-{uuid.uuid4().hex[:10]}@mamapace-synthetics.dev"
    created = httpx.post(
        f"{info.api_url}/auth/v1/admin/users",
        headers=admin,
        json={"email": email, "password": "a-real-password", "email_confirm": True},
    )
    created.raise_for_status()
    return str(created.json()["id"])


@contextmanager
def others_posting(info: SandboxInfo) -> Iterator[None]:
    """Another user posts every 20 ms for the block, as real users do during a run."""
    someone = bystander(info)
    stop = threading.Event()

    def post_now_and_then() -> None:
        with psycopg.connect(info.db_url, autocommit=True) as conn:
            while not stop.wait(0.02):  # the pace of the other user, not a wait for anything
                conn.execute(
                    "insert into public.posts (user_id, body) values (%s, 'busy')", (someone,)
                )

    writer = threading.Thread(target=post_now_and_then)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()


def synthetic_posts(info: SandboxInfo) -> int:
    """Posts left by the runs' users (their profiles outlive them: no cascade from auth.users)."""
    with psycopg.connect(info.db_url) as conn:
        row = conn.execute(
            "select count(*) from public.posts p join public.user_profiles u on u.id = p.user_id "
            "where u.username like 'synthetic+%'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_flow_is_green_while_others_post(tmp_path: Path, project: Sandbox) -> None:
    with others_posting(project.info):
        code, checks, output = run_rpc(tmp_path, project.info)

    rpcs = {k: v for k, v in checks.items() if k.startswith("rpc.")}
    assert len(rpcs) == 20
    assert {k: v["status"] for k, v in rpcs.items() if v["status"] != "ok"} == {}, output
    assert code == 0, output
    # Both posts the flow made (the second one for the page checks) are gone again.
    assert synthetic_posts(project.info) == 0


IGNORES_OFFSET = """
create function public.get_user_posts_v2(
    p_limit int default 20, p_offset_time timestamptz default null
)
returns table (id uuid, user_id uuid, body text, attachments jsonb, created_at timestamptz,
               display_name text, avatar_emoji text, is_liked boolean, reaction_count bigint,
               comment_count bigint)
language sql security definer as $$
  select p.id, p.user_id, p.body, p.attachments, p.created_at, u.display_name, u.avatar_emoji,
         false, 0::bigint, 0::bigint
    from public.posts p join public.user_profiles u on u.id = p.user_id
   where p.user_id = auth.uid()
   order by p.created_at desc
   limit greatest(1, least(coalesce(p_limit, 20), 100))
$$
"""


def test_a_feed_that_ignores_p_offset_time_fails_the_second_page(
    tmp_path: Path, project: Sandbox
) -> None:
    with replaced(project, "get_user_posts_v2(integer, timestamptz)", IGNORES_OFFSET):
        code, checks, output = run_rpc(tmp_path, project.info)

    broken = checks["rpc.get_user_posts_v2"]
    assert broken["status"] == "critical", output
    assert "page 2 repeats page 1's" in broken["message"]
    assert "p_offset_time is not applied" in broken["message"]
    assert checks["rpc.get_home_feed_v2"]["status"] == "ok"
    assert code == 2
    assert synthetic_posts(project.info) == 0


SKIPS_A_DAY = """
create function public.get_home_feed_v2(
    p_limit int default 20, p_offset_time timestamptz default null
)
returns table (id uuid, user_id uuid, body text, attachments jsonb, created_at timestamptz,
               display_name text, avatar_emoji text, is_liked boolean, reaction_count bigint,
               comment_count bigint)
language sql security definer as $$
  select p.id, p.user_id, p.body, p.attachments, p.created_at, u.display_name, u.avatar_emoji,
         false, 0::bigint, 0::bigint
    from public.posts p join public.user_profiles u on u.id = p.user_id
   where p_offset_time is null or p.created_at < p_offset_time - interval '1 day'
   order by p.created_at desc
   limit greatest(1, least(coalesce(p_limit, 20), 100))
$$
"""


def test_a_feed_whose_page_two_skips_rows_fails(tmp_path: Path, project: Sandbox) -> None:
    with psycopg.connect(project.info.db_url, autocommit=True) as conn:
        # An old post of someone else's, so that the broken page 2 is not merely empty.
        conn.execute(
            "insert into public.posts (user_id, body, created_at) "
            "values (%s, 'old', now() - interval '30 days')",
            (bystander(project.info),),
        )
    with replaced(project, "get_home_feed_v2(integer, timestamptz)", SKIPS_A_DAY):
        code, checks, output = run_rpc(tmp_path, project.info)

    broken = checks["rpc.get_home_feed_v2"]
    assert broken["status"] == "critical", output
    assert "past the run's first post: rows between the pages are skipped" in broken["message"]
    assert checks["rpc.get_user_posts_v2"]["status"] == "ok"
    assert code == 2


THE_07_VERSION = """
create function public.get_home_feed_v2(p_limit int default 20, p_before timestamptz default null)
returns table (id uuid, user_id uuid, body text, created_at timestamptz, user_username text,
               user_display_name text, user_avatar_emoji text, reaction_count bigint,
               comment_count bigint)
language sql stable security definer as $$
  select p.id, p.user_id, p.body, p.created_at, u.username, u.display_name, u.avatar_emoji,
         0::bigint, 0::bigint
    from public.posts p join public.user_profiles u on u.id = p.user_id
   where (p_before is null or p.created_at < p_before)
   order by p.created_at desc
   limit greatest(1, least(coalesce(p_limit, 20), 100))
$$
"""


def test_the_07_feed_a_plain_replay_leaves_is_caught(tmp_path: Path, project: Sandbox) -> None:
    # What running the repository's files with psql leaves: 20_add_attachments.sql cannot
    # replace this one, and the app's p_offset_time finds no function.
    with replaced(project, "get_home_feed_v2(integer, timestamptz)", THE_07_VERSION):
        code, checks, output = run_rpc(tmp_path, project.info)

    broken = checks["rpc.get_home_feed_v2"]
    assert broken["status"] == "critical", output
    assert "404 PGRST202" in broken["message"]
    assert "get_home_feed_v2(p_limit, p_offset_time)" in broken["message"]
    assert code == 2


COUNTS_AS_TEXT = """
create function public.get_liked_posts_v2(
    p_limit int default 20, p_offset_time timestamptz default null
)
returns table (id uuid, user_id uuid, body text, attachments jsonb, created_at timestamptz,
               display_name text, avatar_emoji text, is_liked boolean, reaction_count text,
               comment_count text)
language sql security definer as $$
  select p.id, p.user_id, p.body, p.attachments, p.created_at, u.display_name, u.avatar_emoji,
         true, '1', '0'
    from public.post_reactions r join public.posts p on p.id = r.post_id
    join public.user_profiles u on u.id = p.user_id
   where r.user_id = auth.uid()
$$
"""


def test_a_column_of_the_wrong_json_type_is_caught(tmp_path: Path, project: Sandbox) -> None:
    with replaced(project, "get_liked_posts_v2(integer, timestamptz)", COUNTS_AS_TEXT):
        code, checks, output = run_rpc(tmp_path, project.info)

    broken = checks["rpc.get_liked_posts_v2"]
    assert broken["status"] == "critical", output
    assert "reaction_count is string '1', the app reads number" in broken["message"]
    assert checks["rpc.remove_reaction_v2"]["status"] == "ok"  # ordering only, not blocked
    assert code == 2


def test_a_feed_too_busy_to_search_is_inconclusive_not_failed(
    tmp_path: Path, project: Sandbox
) -> None:
    someone = bystander(project.info)
    with psycopg.connect(project.info.db_url, autocommit=True) as conn:
        # Posts dated ahead of every clock (a skewed writer, scheduled posts): always newest.
        conn.execute(
            "insert into public.posts (user_id, body, created_at) "
            "select %s, 'ahead ' || g, now() + interval '1 day' + make_interval(secs => g) "
            "from generate_series(1, 200) g",
            (someone,),
        )
        try:
            code, checks, output = run_rpc(tmp_path, project.info)
        finally:
            conn.execute("delete from public.posts where user_id = %s", (someone,))

    feed = checks["rpc.get_home_feed_v2"]
    assert (feed["status"], feed["reason"]) == ("warning", "inconclusive"), output
    assert "too busy to tell" in feed["message"]
    assert checks["rpc.get_user_posts_v2"]["status"] == "ok"
    assert code == 1
