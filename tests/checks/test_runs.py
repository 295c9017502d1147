"""`synthetics run` end to end against the sandbox: clean runs, both flows, every fault."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

#: Short email waits so fault runs finish quickly; the thresholds under test are set per case.
FAST = ["--set", "thresholds.email_timeout_s=3", "--set", "thresholds.email_sla_s=1"]


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the checks in a subprocess; return exit code, results.json and the terminal output."""
    report_dir = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", "--report-dir", str(report_dir), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).parents[2],
    )
    results_file = report_dir / "results.json"
    assert results_file.exists(), result.stdout + result.stderr
    return result.returncode, json.loads(results_file.read_text()), result.stdout + result.stderr


def statuses(results: dict[str, Any]) -> dict[str, str]:
    """check id → status."""
    return {c["id"]: c["status"] for c in results["checks"]}


def check(results: dict[str, Any], check_id: str) -> dict[str, Any]:
    """One check's entry."""
    return next(c for c in results["checks"] if c["id"] == check_id)


def test_a_clean_pkce_run_is_ok_everywhere(tmp_path: Path) -> None:
    code, results, output = run(tmp_path)
    assert code == 0, output
    assert results["schema"] == "synthetics/results@1"
    assert results["status"] == "ok"
    assert results["target"] == "sandbox"
    assert set(statuses(results).values()) == {"ok"}
    ids = set(statuses(results))
    assert {"auth.signup", "email.delivery", "deeplink.redirect", "auth.session"} <= ids
    assert {"security.anon_rpc", "security.direct_table", "security.cross_user"} <= ids
    assert len([i for i in ids if i.startswith("rpc.")]) == 20
    assert results["alerts"] == []
    delivery = check(results, "email.delivery")
    assert 0 < delivery["measurements"]["delivery_s"] < 5
    assert "code=" in check(results, "deeplink.redirect")["message"]
    for name in ("junit.xml", "report.html"):
        assert (tmp_path / "reports" / name).stat().st_size > 0
    assert "synthetics" in output and "OK" in output


def test_the_implicit_flow_passes_too(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, "--set", "auth.flow=implicit")
    assert code == 0
    assert "access_token=" in check(results, "deeplink.redirect")["message"]


def test_a_tokens_only_handler_strands_a_pkce_user(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, "--set", 'deeplink.accepts=["tokens"]')
    assert code == 2
    redirect = check(results, "deeplink.redirect")
    assert redirect["status"] == "critical"
    assert "accepts only tokens" in redirect["message"]
    assert "no session" in redirect["message"]
    assert check(results, "auth.session")["blocked_by"] == "deeplink.redirect"
    assert check(results, "rpc.get_my_profile_v2")["status"] == "ok"  # no blind spot


# fault, extra args, exit code, {check: status}, {check: blocked_by}
FAULTS: list[tuple[str, list[str], int, dict[str, str], dict[str, str]]] = [
    (
        "email.drop",
        FAST,
        2,
        {"email.delivery": "critical", "rpc.get_home_feed_v2": "ok", "security.anon_rpc": "ok"},
        {"deeplink.redirect": "email.delivery", "auth.session": "email.delivery"},
    ),
    (
        "email.delay=2",
        ["--set", "thresholds.email_sla_s=1", "--set", "thresholds.email_timeout_s=10"],
        1,
        {"email.delivery": "warning", "deeplink.redirect": "ok", "auth.session": "ok"},
        {},
    ),
    (
        "email.rate_limit",
        [],
        1,
        {"auth.signup": "warning", "rpc.create_post_v2": "ok"},
        {"email.delivery": "auth.signup", "auth.session": "auth.signup"},
    ),
    (
        "auth.redirect_disallowed",
        [],
        2,
        {"deeplink.redirect": "critical", "rpc.get_my_profile_v2": "ok"},
        {"auth.session": "deeplink.redirect"},
    ),
    ("auth.autoconfirm", [], 1, {"auth.settings": "warning", "auth.session": "ok"}, {}),
    (
        "auth.signup_error",
        [],
        2,
        {"auth.signup": "critical", "security.cross_user": "ok"},
        {"email.delivery": "auth.signup"},
    ),
    (
        "auth.latency=350",
        ["--set", "thresholds.signup_warning_ms=300"],
        1,
        {"auth.signup": "warning", "rpc.get_my_profile_v2": "ok"},
        {},
    ),
    (
        "rpc.latency=120",
        ["--set", "thresholds.rpc_info_ms=100"],
        0,
        {"rpc.get_home_feed_v2": "info"},
        {},
    ),
    (
        "rpc.latency=get_home_feed_v2:250",
        ["--set", "thresholds.rpc_info_ms=100", "--set", "thresholds.rpc_warning_ms=200"],
        1,
        {"rpc.get_home_feed_v2": "warning", "rpc.get_my_profile_v2": "ok"},
        {},
    ),
    (
        "rpc.missing=get_home_feed_v2",
        [],
        2,
        {"rpc.get_home_feed_v2": "critical", "security.anon_rpc": "ok"},
        {},
    ),
    (
        "rpc.error=create_post_v2",
        [],
        2,
        {"rpc.create_post_v2": "critical", "rpc.get_my_profile_v2": "ok"},
        {"rpc.get_home_feed_v2": "rpc.create_post_v2", "security.cross_user": "rpc.create_post_v2"},
    ),
    (
        "security.anon_grant",
        [],
        2,
        {"security.anon_rpc": "critical", "security.direct_table": "critical"},
        {},
    ),
    ("security.cross_user", [], 2, {"security.cross_user": "critical"}, {}),
    ("security.verbose_errors", [], 1, {"security.error_leak": "warning"}, {}),
    ("flaky=2", [], 0, {"auth.health": "info"}, {}),
]


@pytest.mark.parametrize(
    ("fault", "extra", "exit_code", "expected", "blocked"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_every_fault_has_its_outcome(
    tmp_path: Path,
    fault: str,
    extra: list[str],
    exit_code: int,
    expected: dict[str, str],
    blocked: dict[str, str],
) -> None:
    code, results, output = run(tmp_path, "--fault", fault, *extra)
    found = statuses(results)
    for check_id, status in expected.items():
        assert found[check_id] == status, (check_id, check(results, check_id)["message"])
    for check_id, root in blocked.items():
        assert found[check_id] == "blocked", check_id
        assert check(results, check_id)["blocked_by"] == root
    assert code == exit_code, output
    assert results["status"] == {0: results["status"], 1: "warning", 2: "critical"}[code]
    if code:
        assert results["alerts"], "a failing run names what to act on"
        assert all(a["runbook"] for a in results["alerts"])
    assert found["cleanup"] == "ok"  # whatever broke, the run's users are gone


def test_flaky_attempts_are_recorded(tmp_path: Path) -> None:
    _, results, _ = run(tmp_path, "--fault", "flaky=2", "--only", "auth")
    health = check(results, "auth.health")
    assert health["attempts"] == 3
    assert health["status"] == "info"
    assert health["evidence"]["attempts"].startswith("502, 502, 200")
