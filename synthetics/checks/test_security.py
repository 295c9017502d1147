"""Anonymous and cross-user access stays closed, and errors give nothing away.

The probes cover every function and table the API exposes (discovered from PostgREST's OpenAPI
and, with a `db_url`, from the catalog), not a list. Functions are called with GET, which
PostgREST runs read-only; table writes use a filter that matches no row (`col=in.()`). Nothing a
probe sends can change data on a real target. A security check is critical only when a probe
proved access; an answer that decides nothing is a warning that names what and why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from synthetics.checks.app_flow import STEPS, FlowState
from synthetics.clients.http import BadResponse, Call, TransportFailure
from synthetics.clients.supabase import error_code
from synthetics.journey import Blocked, Journey, NotApplicable
from synthetics.plugin.api import CheckRecord
from synthetics.runtime import Runtime
from synthetics.security import advisor, discovery
from synthetics.security.leaks import leaks
from synthetics.security.probes import Probe, Verdict, judge_call, judge_table, label, probe_params

#: How many names a message lists before "and N more" (the evidence has them all).
SHOWN = 8


@dataclass
class Discovered:
    """The run's view of the target's exposed surface, and its catalog when db_url is set."""

    surface: discovery.Surface
    catalog: advisor.Catalog | None
    catalog_problem: str | None


def _body(call: Call) -> Any:
    try:
        return call.response.json()
    except ValueError:
        return None


def _is_json(call: Call) -> bool:
    if call.truncated:
        return False
    try:
        call.response.json()
    except ValueError:
        return False
    return True


@pytest.fixture(scope="session")
def discovered(synthetics: Runtime, journey: Journey) -> Discovered:
    """Discover once per run: OpenAPI (service key) and the catalog (db_url)."""
    journey.require_up("rest")
    api = synthetics.api
    assert api is not None
    config = synthetics.settings.config
    surfaces: list[discovery.Surface] = []
    problems: list[str] = []
    if api.has_admin:
        try:
            call = api.openapi()
            if call.status == 200:
                surfaces.append(discovery.from_openapi(_body(call)))
            else:
                problems.append(f"the OpenAPI description answered {call.status}")
        except TransportFailure as exc:
            problems.append(f"the OpenAPI description could not be read: {exc}")
    else:
        problems.append("no service-role key: the OpenAPI description is not readable")
    catalog, catalog_problem = None, None
    if synthetics.db_url:
        try:
            catalog = advisor.read_catalog(synthetics.db_url, schemas=config.security.schemas)
            surfaces.append(discovery.from_catalog(catalog.function_rows, catalog.table_rows))
        except advisor.CatalogError as exc:
            catalog_problem = str(exc)
            problems.append(catalog_problem)
    surface = discovery.merge(*surfaces) if surfaces else discovery.Surface()
    surface.problems = problems + surface.problems
    discovery.with_configured(surface, config.rpc.functions)
    return Discovered(surface, catalog, catalog_problem)


def _listed(items: Sequence[str]) -> str:
    shown = "; ".join(items[:SHOWN])
    return shown + (f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _where(found: Discovered) -> str:
    sources = " and ".join(found.surface.sources) or "the configured list alone"
    gaps = (
        f"; discovery incomplete: {'; '.join(found.surface.problems)}"
        if found.surface.problems
        else ""
    )
    return f"(discovered from {sources}{gaps})"


def _probe_function(
    synthetics: Runtime, function: discovery.Function, *, overloaded: bool
) -> Probe:
    assert synthetics.api is not None
    name = label(function, overloaded=overloaded)
    try:
        call = synthetics.api.rpc_get(function.name, probe_params(function.params), bearer=None)
    except (TransportFailure, BadResponse) as exc:
        return Probe(name, Verdict.INCONCLUSIVE, str(exc))
    body = _body(call)
    if error_code(call) == "PGRST203" and function.source != "pgrst203":
        # OpenAPI lists one overload of several: probe each one PostgREST names, with all of
        # its arguments, so the answer comes from a function, not from the ambiguity.
        named = discovery.candidates(str(body.get("message", "")) if isinstance(body, dict) else "")
        reachable, _ = discovery.callable_overloads(named)
        probes = [_probe_function(synthetics, f, overloaded=True) for f in reachable]
        # An overload that is ambiguous again cannot be reached: its answer tells nothing.
        probes = [p for p in probes if "PGRST203" not in p.detail]
        for verdict in (Verdict.EXECUTED, Verdict.INCONCLUSIVE, Verdict.REFUSED):
            hit = next((p for p in probes if p.verdict is verdict), None)
            if hit is not None:
                return hit
    verdict, detail = judge_call(call.status, body, json=_is_json(call))
    return Probe(name, verdict, detail)


def _first(
    names: Sequence[str], functions: Sequence[discovery.Function]
) -> Iterator[discovery.Function]:
    """The app's own RPCs first (they matter most to the reader), then the rest by name."""
    order = {name: n for n, name in enumerate(names)}
    yield from sorted(functions, key=lambda f: (order.get(f.name, len(order)), f.name))


@pytest.mark.check("security.anon_rpc")
def test_anon_rpc(synthetics: Runtime, discovered: Discovered, check: CheckRecord) -> None:
    reachable, unreachable = discovery.callable_overloads(discovered.surface.functions)
    functions = list(_first(synthetics.settings.config.rpc.functions, reachable))
    names = [f.name for f in discovered.surface.functions]
    probes = _parallel(
        lambda f: _probe_function(synthetics, f, overloaded=names.count(f.name) > 1), functions
    )
    executed = [f"{p.target} {p.detail}" for p in probes if p.verdict is Verdict.EXECUTED]
    unclear = [f"{p.target}: {p.detail}" for p in probes if p.verdict is Verdict.INCONCLUSIVE]
    check.measure(probed=len(probes), executed=len(executed), inconclusive=len(unclear))
    if unreachable:
        check.evidence["unreachable"] = "\n".join(
            f"{f.signature}: shadowed by another overload, no API call can reach it"
            for f in unreachable
        )
    if executed:
        check.evidence["executed"] = "\n".join(executed)
    if unclear:
        check.evidence["inconclusive"] = "\n".join(unclear)
    where = _where(discovered)
    if executed:
        ran = [f for f, p in zip(functions, probes, strict=True) if p.verdict is Verdict.EXECUTED]
        check.fail(
            f"SECURITY: {len(executed)} of {len(probes)} functions execute for the anon key "
            f"alone: {_exposure(ran, synthetics.settings.config.rpc.functions)} — REVOKE "
            f"EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC, anon {where}",
            "exposed",
        )
    if unclear:
        check.fail(
            f"could not decide for {len(unclear)} of {len(probes)} functions whether they refuse "
            f"the anon key: {_listed(unclear)} {where}",
            "inconclusive",
        )
    check.note(f"all {len(probes)} functions refuse the anon key (42501) {where}")


#: Probes are independent read-only requests: a few at a time cut the check's time.
PARALLEL = 8
_T = TypeVar("_T")
_R = TypeVar("_R")


def _parallel(call: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """`call` on every item, a few at a time, results in the items' order."""
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="synthetics-probe") as pool:
        return list(pool.map(call, items))


def _names(functions: Sequence[discovery.Function], shown: int = 10) -> str:
    names = list(dict.fromkeys(f.name for f in functions))
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _exposure(ran: Sequence[discovery.Function], app_rpcs: Sequence[str]) -> str:
    """What the exposed functions let anyone do, most dangerous first (details in evidence)."""
    as_anyone = [
        f for f in ran if f.name not in app_rpcs and any(p.name == "p_user_id" for p in f.params)
    ]
    app = [f for f in ran if f.name in app_rpcs]
    rest = [f for f in ran if f not in as_anyone and f not in app]
    parts = []
    if as_anyone:
        parts.append(
            f"{len(as_anyone)} that take p_user_id, so anyone can act as any user "
            f"({_names(as_anyone)})"
        )
    if app:
        parts.append(f"{len(app)} of the app's v2 RPCs ({_names(app)})")
    if rest:
        parts.append(f"{len(rest)} more ({_names(rest)})")
    return "; ".join(parts)


def _table_probes(
    synthetics: Runtime, table: discovery.Table, bearer: str | None, *, writes: bool
) -> list[tuple[str, Verdict, str]]:
    assert synthetics.api is not None
    api = synthetics.api
    attempts: list[tuple[str, dict[str, str], Any]] = [("GET", {"select": "*", "limit": "1"}, None)]
    if writes and table.columns and table.writable:
        column = table.columns[0]
        nothing = {column: "in.()"}  # matches no row, whatever the data
        attempts += [("PATCH", nothing, {column: None}), ("DELETE", nothing, None)]
    found = []
    for method, params, body in attempts:
        try:
            call = api.table(method, table.name, bearer=bearer, params=params, body=body)
        except (TransportFailure, BadResponse) as exc:
            found.append((method, Verdict.INCONCLUSIVE, str(exc)))
            continue
        verdict, detail, _ = judge_table(
            call.status, _body(call), method=method, json=_is_json(call)
        )
        found.append((method, verdict, detail))
    return found


@pytest.mark.check("security.direct_table")
def test_direct_table(
    synthetics: Runtime, journey: Journey, discovered: Discovered, check: CheckRecord
) -> None:
    config = synthetics.settings.config.security
    protected = set(config.protected_tables)
    public = set(config.public_tables)
    tables = {t.name: t for t in discovered.surface.tables}
    for name in protected:
        tables.setdefault(name, discovery.Table(name, source="config"))
    signed = journey.signed_in()
    exposed, granted, unclear = [], [], []
    callers: list[tuple[discovery.Table, str, str | None]] = []
    for table in sorted(tables.values(), key=lambda t: (t.name in protected, t.name)):
        callers.append((table, "anon", None))
        if table.name in protected:
            callers.append((table, "a signed-in user", signed.access_token))
    answers = _parallel(lambda c: _table_probes(synthetics, c[0], c[2], writes=True), callers)
    for (table, who, _), found in zip(callers, answers, strict=True):
        for method, verdict, detail in found:
            line = f"{who}: {table.name} {detail}"
            if verdict is Verdict.INCONCLUSIVE:
                unclear.append(line)
            elif verdict is Verdict.REFUSED:
                continue
            elif table.name in protected:
                exposed.append(line)
            elif table.name in public and method == "GET":
                continue
            elif verdict is Verdict.EXECUTED:
                exposed.append(line)
            else:
                granted.append(line)
    check.measure(tables=len(tables), exposed=len(exposed), inconclusive=len(unclear))
    for key, items in (("exposed", exposed), ("granted", granted), ("inconclusive", unclear)):
        if items:
            check.evidence[key] = "\n".join(items)
    where = _where(discovered)
    exposed.sort(key=lambda line: "row(s)" not in line)  # data that came out first
    if exposed:
        check.fail(
            f"SECURITY: direct access is open on {_listed(exposed)} — REVOKE ALL ON ALL TABLES IN "
            f"SCHEMA public FROM anon {where}",
            "exposed",
        )
    if unclear:
        check.fail(
            f"could not decide whether these tables are closed: {_listed(unclear)} {where}",
            "inconclusive",
        )
    if granted:
        check.fail(
            f"anon holds privileges it should not (row level security let nothing through, so no "
            f"data was exposed): {_listed(granted)} — REVOKE ALL ON ALL TABLES IN SCHEMA public "
            f"FROM anon {where}",
            "anon_grant",
        )
    note = (
        f"{len(tables)} tables and views refuse direct access from anon, and the "
        f"{len(protected)} protected ones from users too (42501) {where}"
    )
    if signed.fallback_reason:
        note += f" ({signed.fallback_reason})"
    check.note(note)


@pytest.mark.check("security.advisor")
def test_advisor(synthetics: Runtime, discovered: Discovered, check: CheckRecord) -> None:
    if not synthetics.db_url:
        raise NotApplicable("does not apply: no db_url configured for this target")
    if discovered.catalog is None:
        check.fail(f"could not read the catalog: {discovered.catalog_problem}", "inconclusive")
    assert discovered.catalog is not None
    found = advisor.findings(discovered.catalog)
    exposed = [f for f in found if f.exposed]
    check.measure(findings=len(found), exposed=len(exposed))
    if found:
        check.evidence["fix"] = "\n".join(f"{f.fix}  -- {f.rule}: {f.object}" for f in found)
        counts = ", ".join(f"{n} {rule}" for rule, n in advisor.summary(found).items())
        lines = [f"{f.rule} {f.object}" for f in found]
        if exposed:
            check.fail(
                f"SECURITY: {len(exposed)} catalog finding(s) expose objects to anon ({counts}): "
                f"{_listed(lines)}; the evidence has the SQL that fixes each",
                "exposed",
            )
        check.fail(
            f"{len(found)} catalog finding(s) ({counts}): {_listed(lines)}; the evidence has the "
            "SQL that fixes each",
            "advisory",
        )
    check.note(
        "no catalog findings: no anon-executable SECURITY DEFINER function, RLS on every "
        "table, no policy without RLS, fixed search_path on definer functions"
    )


def _created_id(call: Call) -> str | None:
    body = _body(call)
    value = body.get("id") if call.status == 200 and isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _ids(call: Call) -> set[str] | None:
    body = _body(call)
    if call.status != 200 or not isinstance(body, list):
        return None
    return {str(row.get("id")) for row in body if isinstance(row, dict)}


@pytest.mark.check("security.cross_user")
def test_cross_user(synthetics: Runtime, journey: Journey, check: CheckRecord) -> None:
    api = synthetics.api
    assert api is not None
    owner = journey.signed_in()
    intruder = journey.admin_user("second")
    state = FlowState(me=owner.user.id or "", run_id=journey.run_id)
    post_call = api.rpc(
        "create_post_v2", STEPS["create_post_v2"].args(state), bearer=owner.access_token
    )
    post = _created_id(post_call)
    if post is None:
        raise Blocked(
            "rpc.create_post_v2",
            f"blocked: cannot create the probe post (create_post_v2 answered {post_call.status} "
            f"{error_code(post_call) or ''})".replace(" )", ")"),
        )
    state.post_id = post
    try:
        comment_call = api.rpc(
            "create_comment_v2", STEPS["create_comment_v2"].args(state), bearer=owner.access_token
        )
        comment = _created_id(comment_call)
        if comment is None:
            raise Blocked(
                "rpc.create_comment_v2",
                f"blocked: cannot create the probe comment ({comment_call.status})",
            )
        api.rpc("delete_comment_v2", {"p_comment_id": comment}, bearer=intruder.access_token)
        api.rpc("delete_post_v2", {"p_post_id": post}, bearer=intruder.access_token)
        # Proof, not the intruder's answer: are the owner's post and comment still there?
        posts = _ids(
            api.rpc(
                "get_user_posts_v2",
                STEPS["get_user_posts_v2"].args(state),
                bearer=owner.access_token,
            )
        )
        comments = _ids(
            api.rpc(
                "get_post_comments_v2",
                STEPS["get_post_comments_v2"].args(state),
                bearer=owner.access_token,
            )
        )
    finally:
        api.rpc("delete_post_v2", {"p_post_id": post}, bearer=owner.access_token)
    if posts is None or comments is None:
        check.fail(
            "could not read the owner's posts and comments back after the intruder's deletes, so "
            "whether they survived is unknown",
            "inconclusive",
        )
    assert posts is not None
    assert comments is not None
    problems = []
    if post not in posts:
        problems.append("another user deleted the owner's post")
    if comment not in comments and post in posts:
        problems.append("another user deleted the owner's comment")
    if problems:
        check.fail("SECURITY: " + "; ".join(problems) + " (RLS/ownership check broken)", "exposed")
    check.note("a second user cannot delete the first user's post or comment")


@pytest.mark.check("security.error_leak")
def test_error_leak(synthetics: Runtime, journey: Journey, check: CheckRecord) -> None:
    api = synthetics.api
    assert api is not None
    signed = journey.signed_in()
    token = signed.access_token
    # GET: read-only, so these provocations cannot change data on a real target.
    probes = [
        api.rpc_get(
            "create_comment_v2",
            {"p_post_id": str(uuid.uuid4()), "p_body": "", "p_attachments": "[]"},
            bearer=token,
        ),
        api.rpc_get("delete_post_v2", {"p_post_id": "not-a-uuid"}, bearer=token),
        api.rpc_get("get_home_feed_v2", {"p_wrong_argument": "1"}, bearer=token),
        api.rpc_get("get_home_feed_v2", {}, bearer=None),
        api.table("GET", "posts", bearer=None, params={"select": "no_such_column"}),
    ]
    found = []
    for call in probes:
        if call.status < 400:
            continue
        for what in leaks(call.response.content):
            found.append(f"{call.label} ({call.status}) exposes {what}")
    if found:
        check.evidence["answers"] = "\n".join(
            json.dumps(_body(c))[:300] for c in probes if c.status >= 400
        )
    assert not found, "error messages expose internals: " + "; ".join(found)
    check.note(f"{len(probes)} error answers expose no SQL, schema objects or stacks")
