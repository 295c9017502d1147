"""The issue's "done when": 20 scripted runs make the rules fire and clear as the runbook says,
the verdict turns stable as the fake clock passes 24 hours, a security fault calls the security
procedure at once, and `synthetics report` on that history renders in a real browser.

The 20 runs are real results with synthetic timestamps: three real sandbox runs
(`python -m synthetics.cli run`, clean / `--fault email.drop` / `--fault security.anon_grant`)
are made once, and copies of their results.json are re-timed on a fake clock every 2 hours and
marked as scheduled runs (each copy gets its own run_id). Everything else (the history store, the
rules, the report, the browser) is the real thing.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from synthetics.catalog import FIRST_STEPS, PLAN_A, SECURITY
from synthetics.cli import main
from synthetics.history.store import open_store
from synthetics.results import RunResult
from synthetics.rules.evaluate import judge
from synthetics.rules.policy import Policy
from tests.chromium import FOUND, needs_chromium

T0 = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
EVERY = timedelta(hours=2)
#: Which real run each of the 20 scheduled runs is a copy of.
PLAN = ["clean"] * 2 + ["email.drop"] * 4 + ["clean"] * 13 + ["security.anon_grant"]
POLICY = Policy(window=timedelta(hours=6), min_runs=3, expected_interval=EVERY)
CONFIG = """
[history]
url = "sqlite:///history.sqlite"
expected_interval = "2h"
window = "6h"
min_runs = 3
"""


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def scripted(real: dict[str, RunResult]) -> list[RunResult]:
    runs = []
    for n, kind in enumerate(PLAN):
        source = real[kind]
        start = T0 + n * EVERY
        took = (source.finished_at or source.started_at) - source.started_at
        runs.append(
            dataclasses.replace(
                source,
                run_id=f"scripted-{n:02d}-{kind}",
                started_at=start,
                finished_at=start + took,
                trigger="schedule",
            )
        )
    return runs


@pytest.fixture(scope="module")
def history(sandbox_results: dict[str, RunResult], tmp_path_factory: pytest.TempPathFactory):
    """The 20 scripted runs recorded in a real SQLite history next to a config file."""
    folder = tmp_path_factory.mktemp("scenario")
    (folder / "synthetics.toml").write_text(CONFIG)
    store = open_store(f"sqlite:///{folder}/history.sqlite")
    for item in scripted(sandbox_results):
        assert store.record(item)
    runs = store.runs()
    store.close()
    assert len(runs) == 20
    return folder, runs


def at_hour(runs: list[RunResult], n: float):
    return judge(runs, hours(n), POLICY, rehearsals=True)


def test_the_email_rule_fires_on_lost_emails_and_clears_after_clean_runs(history) -> None:
    _, runs = history
    early = next(e for e in at_hour(runs, 2).current if e.rule == "email_delivery")
    assert early.message == "insufficient data: 2 runs in 6 h, need 3"
    # Runs at 4 h and 6 h lost their email: 1 of 3 runs delivered within 6 h.
    email = next(e for e in at_hour(runs, 6).current if e.rule == "email_delivery")
    assert (email.state, email.level and email.level.value) == ("firing", "critical")
    assert email.evidence == ("scripted-02-email.drop", "scripted-03-email.drop")
    # Three clean runs (12 h, 14 h, 16 h) fill the window again: cleared.
    later = at_hour(runs, 16)
    assert next(e for e in later.current if e.rule == "email_delivery").state == "ok"
    [incident] = [i for i in later.incidents if i.rule == "email_delivery"]
    # It began with the first lost email (2 of 3 delivered: warning) and peaked critical.
    assert (incident.since, incident.cleared) == (hours(4), hours(16))
    assert incident.level.value == "critical"


def test_lost_emails_call_for_plan_a_while_they_last(history) -> None:
    _, runs = history
    decision = at_hour(runs, 10).rollback
    assert decision is not None and decision.plan == PLAN_A
    assert decision.first_steps == FIRST_STEPS[PLAN_A]
    assert {h.trigger for h in decision.triggers} == {"registration", "email"}
    assert at_hour(runs, 16).rollback is None


def test_the_verdict_turns_stable_as_the_clock_passes_24_hours(history) -> None:
    _, runs = history
    # The day ending at 34 h still holds the 12 h run, when Plan A was still called for.
    assert at_hour(runs, 34).day.verdict == "not_stable"
    stable = at_hour(runs, 36)
    assert stable.day.verdict == "stable", stable.day.reasons
    assert stable.week.verdict == "not_stable"  # the day ending at 12 h was not


def test_a_security_fault_calls_the_security_procedure_at_once(history) -> None:
    _, runs = history
    found = at_hour(runs, 38)
    assert found.rollback is not None and found.rollback.plan == SECURITY
    assert found.rollback.since == hours(38)
    assert found.rollback.triggers[0].runs == ("scripted-19-security.anon_grant",)
    assert found.day.verdict == "not_stable"


def test_rehearsals_stay_out_of_the_real_series_unless_asked(history) -> None:
    _, runs = history
    rehearsals = [dataclasses.replace(r, faults=["email.drop"]) for r in runs[2:6]]
    mixed = [*runs[:2], *rehearsals, *runs[6:]]
    assert judge(mixed, hours(10), POLICY).rollback is None
    assert judge(mixed, hours(10), POLICY, rehearsals=True).rollback is not None


def _report(folder: Path, out: Path, when: float, capsys) -> dict:
    code = main([
        "report", "--config", str(folder / "synthetics.toml"), "--out", str(out),
        "--at", hours(when).isoformat(), "--since", "2d", "--rehearsals",
    ])  # fmt: skip
    assert code == 0
    assert "index.html and report.json" in capsys.readouterr().out
    return json.loads((out / "report.json").read_text())


def test_report_json_keeps_the_contract(history, tmp_path: Path, capsys) -> None:
    folder, _ = history
    data = _report(folder, tmp_path / "at36", 36, capsys)
    assert data["schema"] == "synthetics/report@1"
    assert data["verdict"]["day"]["verdict"] == "stable"
    assert data["verdict"]["week"]["verdict"] == "not_stable"
    assert data["verdict"]["week"]["reasons"]
    assert data["rollback"] is None
    cleared = {c["rule"]: c for c in data["rules"]["cleared"]}
    assert cleared["email_delivery"]["since"] == hours(4).isoformat()
    assert cleared["email_delivery"]["cleared"] == hours(16).isoformat()
    assert data["rules"]["firing"] == []

    data = _report(folder, tmp_path / "at38", 38, capsys)
    assert data["verdict"]["day"]["verdict"] == "not_stable"
    assert data["rollback"]["plan"] == SECURITY
    assert data["rollback"]["since"] == hours(38).isoformat()
    assert data["latest_run"]["status"] == "critical"
    assert [r["plan"] for r in data["rollbacks"]] == [PLAN_A, SECURITY]


@needs_chromium
def test_the_page_renders_offline_in_a_real_browser(history, tmp_path: Path, capsys) -> None:
    from playwright.sync_api import sync_playwright

    from synthetics.deeplink.browser import launch_args

    folder, _ = history
    out = tmp_path / "report"
    _report(folder, out, 38, capsys)
    outside: list[str] = []
    assert FOUND is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=FOUND.path, args=launch_args())
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})

            def only_the_file(route) -> None:  # the page must need nothing from elsewhere
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_the_file)
            page.goto((out / "index.html").as_uri())
            assert "not stable" in page.inner_text("#verdict-day")
            assert "critical" in page.inner_text("#run-status")
            assert "Security Incident Response" in page.inner_text("#rollback")
            assert "REVOKE ALL" in page.inner_text("#rollback")
            charts = page.locator("#trends svg")
            assert charts.count() == 9
            box = charts.first.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            trends = page.inner_text("#trends")
            for title in ("email delivery within the SLA", "v2 RPC error rate", "critical < 50 %"):
                assert title in trends
            strip = page.locator("#status-strip .cell.c-critical")
            assert strip.count() >= 4
            assert "email delivery within the SLA" in page.inner_text("#incidents")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert outside == []
    assert shot.stat().st_size > 10_000  # docs/report.png is one such screenshot
