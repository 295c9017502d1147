"""rehearse.json, the terminal, the job summary and the page say the same thing, and text from a
run (a target's message, a file name) cannot become markup in any of them."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import cmarkgfm

from synthetics.rehearsal import render
from synthetics.rehearsal.diff import compare
from synthetics.results import RunResult

RUNS = Path(__file__).parents[1] / "alerting" / "runs"
HOSTILE = "<script>alert(1)</script> | [click](https://evil.example) **bold**"


def rendered(before: RunResult, after: RunResult) -> dict[str, Any]:
    diff = compare(before, after)
    context = render.Context(
        base=[],
        next=["supabase/migrations/2025_<b>grant</b>.sql"],
        before=render.Side(before, "before", 6.1, 0),
        after=render.Side(after, "after", 6.3, 2),
        postgres="PostgreSQL 15.18 (/usr/lib/postgresql/15/bin)",
        timings={"total": 14.2},
    )
    return render.document(diff, context, 1 if diff.worse else 0)


def runs() -> tuple[RunResult, RunResult]:
    before = RunResult.read(RUNS / "clean.json")
    after = RunResult.read(RUNS / "security.anon_grant.json")
    return before, after


def test_the_document_lists_each_change_with_what_is_new() -> None:
    before, after = runs()
    doc = rendered(before, after)
    assert doc["schema"] == "synthetics/rehearse@1"
    assert doc["verdict"] == "worse" and doc["exit_code"] == 1 and doc["worse"] == 3
    assert json.loads(json.dumps(doc)) == doc  # JSON all the way down
    changes = {c["check"]: c for c in doc["changes"]}
    anon = changes["security.anon_rpc"]
    assert (anon["before"], anon["after"], anon["verdict"]) == ("ok", "critical", "worse")
    executed = after.check("security.anon_rpc").evidence["executed"]
    assert anon["new"] == {"executed": executed.splitlines()} and anon["gone"] == {}
    assert doc["unchanged"]["count"] == len(after.checks) - 3


def test_the_terminal_reads_like_a_diff() -> None:
    before, after = runs()
    lines = render.text_lines(rendered(before, after))
    assert lines[0] == "rehearse: WORSE: 3 checks got worse (exit 1)"
    anon = next(line for line in lines if "security.anon_rpc" in line)
    assert anon.startswith("WORSE   security.anon_rpc: ok → critical: 6 new functions executable")
    assert "          + get_home_feed_v2 answered 200, 0 row(s)" in lines
    assert lines[-1] == f"{len(after.checks) - 3} checks unchanged (32 ok, 1 skipped)"


def test_nothing_worse_is_said_so() -> None:
    before, _ = runs()
    doc = rendered(before, copy.deepcopy(before))
    assert doc["verdict"] == "not worse" and doc["changes"] == []
    assert render.headline(doc) == "rehearse: nothing got worse (exit 0)"


def test_the_job_summary_cannot_be_injected() -> None:
    before, after = runs()
    hostile = copy.deepcopy(after)
    rpc = hostile.check("rpc.get_home_feed_v2")
    assert rpc is not None
    rpc.status, rpc.message = rpc.status.CRITICAL, HOSTILE
    markdown = render.markdown(rendered(before, hostile))
    html = cmarkgfm.github_flavored_markdown_to_html(markdown)
    assert "<script>" not in html and "<strong>bold" not in html
    assert 'href="https://evil' not in html and "<b>grant" not in html
    # The change table keeps its shape: a `|` in a message does not add a cell.
    table = html[html.index("<table>") : html.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 1 + 4  # header, three security checks and the RPC
    assert all(row.count("<td") == 5 for row in rows[1:])


def test_the_page_is_escaped_and_self_contained() -> None:
    before, after = runs()
    hostile = copy.deepcopy(after)
    rpc = hostile.check("rpc.get_home_feed_v2")
    assert rpc is not None
    rpc.status, rpc.message = rpc.status.CRITICAL, HOSTILE
    page = render.html(rendered(before, hostile))
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;grant&lt;/b&gt;" in page
    assert 'src="' not in page and 'href="http' not in page
    assert '<a href="before/report.html">' in page and '<a href="after/results.json">' in page
