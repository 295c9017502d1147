"""Anonymous and cross-user access stays closed, and errors give nothing away."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

from synthetics.clients.http import Call
from synthetics.clients.supabase import error_code, error_message
from synthetics.journey import Blocked, Journey
from synthetics.plugin import CheckRecord
from synthetics.runtime import Runtime

#: Argument names the probes fill with harmless values (random ids that match nothing).
_PROBE_ARGS: dict[str, Callable[[], object]] = {
    "p_user_id": lambda: str(uuid.uuid4()),
    "p_target_user_id": lambda: str(uuid.uuid4()),
    "p_post_id": lambda: str(uuid.uuid4()),
    "p_comment_id": lambda: str(uuid.uuid4()),
    "p_body": lambda: "synthetic probe",
    "p_display_name": lambda: None,
    "p_bio": lambda: None,
    "p_avatar_emoji": lambda: None,
}
_SIGNATURES = {
    "update_my_profile_v2": ("p_display_name", "p_bio", "p_avatar_emoji"),
    "get_user_profile_v2": ("p_user_id",),
    "create_post_v2": ("p_body",),
    "delete_post_v2": ("p_post_id",),
    "add_reaction_v2": ("p_post_id",),
    "remove_reaction_v2": ("p_post_id",),
    "create_comment_v2": ("p_post_id", "p_body"),
    "get_post_comments_v2": ("p_post_id",),
    "delete_comment_v2": ("p_comment_id",),
    "follow_user_v2": ("p_target_user_id",),
    "unfollow_user_v2": ("p_target_user_id",),
    "is_following_v2": ("p_target_user_id",),
    "get_follow_counts_v2": ("p_user_id",),
    "get_followers_v2": ("p_user_id",),
    "get_following_v2": ("p_user_id",),
}
#: What an error body must not contain: SQL, schema objects, stacks.
LEAKS = {
    "an SQL statement": re.compile(
        r"(?is)\b(select\b.{1,200}\bfrom|insert\s+into|delete\s+from|update\s+\w+\s+set)\b"
    ),
    "a PL/pgSQL stack": re.compile(r"PL/pgSQL|\bline \d+ at\b|CONTEXT:"),
    "a relation or constraint name": re.compile(r'\b(relation|constraint|column|table) "[^"]+"'),
    "row values": re.compile(r"\bKey \([^)]+\)=\("),
    "a stack trace": re.compile(
        r"Traceback \(most recent call last\)|\bat \w[\w.$]*\([^)]*:\d+:\d+\)"
    ),
}


def probe_args(function: str) -> dict[str, object]:
    """Harmless arguments for `function` (random ids match nothing)."""
    return {name: _PROBE_ARGS[name]() for name in _SIGNATURES.get(function, ())}


def closed(call: Call) -> bool:
    """Whether PostgREST refused for lack of privilege (42501), as a closed grant answers."""
    return call.status in (401, 403) and error_code(call) == "42501"


def _is_json(call: Call) -> bool:
    try:
        call.response.json()
    except ValueError:
        return False
    return True


def absent(call: Call) -> bool:
    """Whether the function does not exist at all (its own rpc check reports that)."""
    return call.status == 404 and error_code(call) == "PGRST202"


@pytest.mark.check("security.anon_rpc")
def test_anon_rpc(synthetics: Runtime, check: CheckRecord) -> None:
    api = synthetics.api
    assert api is not None
    open_to_anon, unclear = [], []
    for function in synthetics.settings.config.rpc.functions:
        call = api.rpc(function, probe_args(function), bearer=None)
        if not closed(call) and not absent(call):
            if not _is_json(call):
                unclear.append(
                    f"{function}: {call.status} {call.response.headers.get('content-type')}"
                )
            elif 200 <= call.status < 300:
                open_to_anon.append(f"{function} answered {call.status} to the anon key")
            else:
                # It ran (and failed inside): EXECUTE is granted to anon.
                open_to_anon.append(
                    f"{function} ran for anon ({call.status} {error_code(call)}: "
                    f"{error_message(call)[:80]})"
                )
    count = len(synthetics.settings.config.rpc.functions)
    if not open_to_anon and unclear:
        check.fail(
            "could not confirm that the v2 RPCs refuse the anon key (answers are not PostgREST "
            "JSON): " + "; ".join(unclear),
            "inconclusive",
        )
    assert not open_to_anon, (
        f"SECURITY: {len(open_to_anon)} of {count} v2 RPCs execute with the anon key alone: "
        + "; ".join(open_to_anon)
        + " — REVOKE EXECUTE ... FROM PUBLIC, anon"
    )
    check.note(f"all {count} v2 RPCs refuse the anon key (42501)")


@pytest.mark.check("security.direct_table")
def test_direct_table(synthetics: Runtime, journey: Journey, check: CheckRecord) -> None:
    api = synthetics.api
    assert api is not None
    signed = journey.signed_in()
    # Writes filtered to match no row: a granted privilege answers 2xx without changing anything.
    nothing = {"created_at": "eq.1900-01-01T00:00:00Z"}
    opened, unclear = [], []
    tables = synthetics.settings.config.security.protected_tables
    for who, bearer in (("anon", None), ("a signed-in user", signed.access_token)):
        for table in tables:
            for method, params, body in (
                ("GET", {"select": "*", "limit": "1"}, None),
                ("PATCH", nothing, {"created_at": "1900-01-01T00:00:00Z"}),
                ("DELETE", nothing, None),
            ):
                call = api.table(method, table, bearer=bearer, params=params, body=body)
                if closed(call):
                    continue
                answer = f"{who}: {method} {table} answered {call.status}"
                if 200 <= call.status < 300:
                    opened.append(answer)
                else:
                    unclear.append(f"{answer} {error_code(call)}")
    if opened:
        check.fail("SECURITY: protected tables accept direct access: " + "; ".join(opened))
    if unclear:
        check.fail(
            "could not confirm that protected tables are closed (expected 42501): "
            + "; ".join(unclear),
            "inconclusive",
        )
    note = f"{len(tables)} tables refuse direct reads and writes from anon and users (42501)"
    if signed.fallback_reason:
        note += f" ({signed.fallback_reason})"
    check.note(note)


@pytest.mark.check("security.cross_user")
def test_cross_user(synthetics: Runtime, journey: Journey, check: CheckRecord) -> None:
    api = synthetics.api
    assert api is not None
    owner = journey.signed_in()
    intruder = journey.admin_user("second")
    post_call = api.rpc(
        "create_post_v2", {"p_body": "synthetic cross-user probe"}, bearer=owner.access_token
    )
    if post_call.status != 200:
        raise Blocked(
            "rpc.create_post_v2", f"blocked: cannot create the probe post ({post_call.status})"
        )
    post = post_call.json_object()["id"]
    comment_call = api.rpc(
        "create_comment_v2", {"p_post_id": post, "p_body": "probe"}, bearer=owner.access_token
    )
    if comment_call.status != 200:
        api.rpc("delete_post_v2", {"p_post_id": post}, bearer=owner.access_token)
        raise Blocked(
            "rpc.create_comment_v2",
            f"blocked: cannot create the probe comment ({comment_call.status})",
        )
    comment = comment_call.json_object()["id"]
    problems = []
    try:
        stolen_comment = api.rpc(
            "delete_comment_v2", {"p_comment_id": comment}, bearer=intruder.access_token
        )
        if stolen_comment.status == 200 and stolen_comment.json() is not False:
            problems.append("another user deleted the owner's comment")
        stolen_post = api.rpc("delete_post_v2", {"p_post_id": post}, bearer=intruder.access_token)
        if stolen_post.status == 200 and stolen_post.json() is not False:
            problems.append("another user deleted the owner's post")
        posts = api.rpc("get_user_posts_v2", {"p_limit": 100}, bearer=owner.access_token).json()
        if isinstance(posts, list) and post not in {row.get("id") for row in posts}:
            problems.append("the owner's post is gone")
    finally:
        api.rpc("delete_post_v2", {"p_post_id": post}, bearer=owner.access_token)
    assert not problems, "SECURITY: " + "; ".join(problems) + " (RLS/ownership check broken)"
    check.note("a second user cannot delete the first user's post or comment")


@pytest.mark.check("security.error_leak")
def test_error_leak(synthetics: Runtime, journey: Journey, check: CheckRecord) -> None:
    api = synthetics.api
    assert api is not None
    signed = journey.signed_in()
    probes = [
        api.rpc(
            "create_comment_v2",
            {"p_post_id": str(uuid.uuid4()), "p_body": ""},
            bearer=signed.access_token,
        ),
        api.rpc("delete_post_v2", {"p_post_id": "not-a-uuid"}, bearer=signed.access_token),
        api.rpc("get_home_feed_v2", {"p_wrong_argument": 1}, bearer=signed.access_token),
        api.rpc("get_home_feed_v2", {}, bearer=None),
        api.table("GET", "posts", bearer=None, params={"select": "no_such_column"}),
    ]
    found = []
    for call in probes:
        text = call.response.text
        for what, pattern in LEAKS.items():
            if pattern.search(text):
                found.append(f"{call.label} ({call.status}) exposes {what}")
    assert not found, "error bodies expose internals: " + "; ".join(found)
    check.note(f"{len(probes)} error answers expose no SQL, schema objects or stacks")
