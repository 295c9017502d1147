"""The report on its own: an empty history, hostile text, the JSON contract's shape."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from synthetics.dashboard.report import build
from synthetics.rules.policy import Policy
from tests.rules.runs import EMAIL_LOST, at, run

POLICY = Policy(window=timedelta(minutes=15), min_runs=3, expected_interval=timedelta(minutes=5))


def test_an_empty_history_is_unknown_not_stable(tmp_path: Path) -> None:
    report = build([], now=at(60), since=at(0), policy=POLICY, target="staging")
    page, doc = report.write(tmp_path)
    data = json.loads(doc.read_text())
    assert data["schema"] == "synthetics/report@1"
    assert data["verdict"]["day"]["verdict"] == "unknown"
    assert data["verdict"]["week"]["verdict"] == "unknown"
    assert data["latest_run"] is None and data["rollback"] is None
    assert {r["state"] for r in data["rules"]["current"]} == {"insufficient_data"}
    assert "no runs" in page.read_text()


def test_text_from_targets_cannot_become_markup(tmp_path: Path) -> None:
    hostile = run(1, EMAIL_LOST)
    hostile.checks[3].message = "<script>alert(1)</script>"
    hostile.run_id = "<img src=x onerror=alert(1)>"
    runs = [run(n, EMAIL_LOST) for n in range(3, 8)] + [hostile]
    report = build(runs, now=at(8), since=at(0), policy=POLICY, target="<b>staging</b>")
    html = report.html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;b&gt;staging&lt;/b&gt;" in html
    # Nothing on the page loads from elsewhere: no script at all, no external URL but SVG's xmlns.
    assert "<script" not in html
    assert 'src="http' not in html and 'href="http' not in html


def test_report_json_lists_firing_rules_with_since_and_the_rollback(tmp_path: Path) -> None:
    runs = [run(n) for n in range(10)] + [run(n, EMAIL_LOST) for n in range(10, 40)]
    data = build(runs, now=at(39), since=at(0), policy=POLICY, target="staging").data
    firing = {f["rule"]: f for f in data["rules"]["firing"]}
    assert firing["email_delivery"]["level"] == "critical"
    # The first lost email leaves 10 of 11 runs delivered (91 %); the second fires it (info).
    assert firing["email_delivery"]["since"] == at(11).isoformat()
    assert data["rollback"]["plan"].startswith("Rollback Plan A")
    assert data["rollback"]["first_steps"].startswith("Revert the Auth settings")
    # Registration below 50 % from minute 17 (8 of 15 lost), held 15 min by minute 32.
    assert data["rollback"]["since"] == at(17).isoformat()
    assert data["series"] == {"triggers": ["schedule"], "rehearsals": False, "runs": 40}


def test_a_monitor_that_stopped_running_is_raised_and_muted_runs_are_listed(
    tmp_path: Path,
) -> None:
    runs = [run(n) for n in range(10)]  # every 5 minutes (see tests/rules/runs.py), then silence
    quiet = build(runs, now=at(11), since=at(0), policy=POLICY, target="staging").data
    assert quiet["monitor"]["overdue"] is False
    late = build(runs, now=at(40), since=at(0), policy=POLICY, target="staging", muted=["r-muted"])
    assert late.data["monitor"]["overdue"] is True
    assert "no run recorded for" in late.data["monitor"]["message"]
    assert late.data["muted_runs"] == ["r-muted"]
    assert "The monitor stopped" in late.html and "r-muted" in late.html
