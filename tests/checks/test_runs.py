"""`synthetics run` end to end against the sandbox: clean runs, both flows, every fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import FOUND, needs_chromium

#: Short email waits so fault runs finish quickly; the thresholds under test are set per case.
FAST = ["--set", "thresholds.email_timeout_s=3", "--set", "thresholds.email_sla_s=1"]
#: The browser check's status in a clean run: CI installs Chromium; elsewhere it may be missing.
BROWSER_OK = "ok" if FOUND else "skipped"
#: An https redirect (a universal link / App Link) and the apps its host must name.
UNIVERSAL = [
    "--set",
    "deeplink.redirect=https://app.mamapace.com/auth-callback",
    "--set",
    'deeplink.apple_app_ids=["ABCDE12345.com.mamapace.app"]',
    "--set",
    'deeplink.android_packages=["com.mamapace.app"]',
    "--set",
    f'deeplink.android_sha256_fingerprints=["{":".join(["3F"] * 32)}"]',
]


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """Run the checks in a subprocess; return exit code, results.json and the terminal output."""
    report_dir = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", "--report-dir", str(report_dir), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).parents[2],
        env=env,
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
    found = statuses(results)
    # A custom-scheme redirect has no association files to check; a browser-less machine skips
    # the browser click. Everything else is ok.
    assert found.pop("deeplink.app_links") == "skipped"
    assert found.pop("deeplink.browser") == BROWSER_OK
    assert found.pop("auth.recovery") == "skipped"  # Mamapace offers no password reset
    assert set(found.values()) == {"ok"}
    ids = set(statuses(results))
    assert {"auth.signup", "email.delivery", "deeplink.redirect", "auth.session"} <= ids
    assert {"deeplink.browser", "deeplink.single_use", "deeplink.app_links"} <= ids
    assert {"security.anon_rpc", "security.direct_table", "security.cross_user"} <= ids
    assert len([i for i in ids if i.startswith("rpc.")]) == 20
    assert results["alerts"] == []
    delivery = check(results, "email.delivery")
    assert 0 < delivery["measurements"]["delivery_s"] < 5
    assert "code=" in check(results, "deeplink.redirect")["message"]
    assert "otp_expired" in check(results, "deeplink.single_use")["message"]
    if FOUND:
        browser = check(results, "deeplink.browser")
        assert "handed mamapace://auth-callback?code=" in browser["message"]
        assert 0 < browser["measurements"]["latency_ms"] < 2000
        assert "session for a confirmed user" in browser["message"]
    assert "custom scheme" in check(results, "deeplink.app_links")["message"]
    assert not list((tmp_path / "reports").glob("*.png"))  # screenshots only for failures
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
        {
            "deeplink.redirect": "email.delivery",
            "auth.session": "email.delivery",
            "deeplink.browser": "email.delivery",
            "deeplink.single_use": "email.delivery",
        },
    ),
    (
        "email.delay=2",
        ["--set", "thresholds.email_sla_s=1", "--set", "thresholds.email_timeout_s=10"],
        1,
        {
            "email.delivery": "warning",
            "deeplink.redirect": "ok",
            "auth.session": "ok",
            "deeplink.browser": "ok",
        },
        {},
    ),
    (
        "email.rate_limit",
        [],
        1,
        {"auth.signup": "warning", "rpc.create_post_v2": "ok"},
        {
            "email.delivery": "auth.signup",
            "auth.session": "auth.signup",
            "deeplink.browser": "auth.signup",
        },
    ),
    (
        "auth.redirect_disallowed",
        [],
        2,
        {
            "deeplink.redirect": "critical",
            "deeplink.browser": "critical",
            "deeplink.single_use": "ok",
            "rpc.get_my_profile_v2": "ok",
        },
        {"auth.session": "deeplink.redirect"},
    ),
    (
        "auth.autoconfirm",
        [],
        1,
        {"auth.settings": "warning", "auth.session": "ok", "deeplink.browser": "skipped"},
        {},
    ),
    (
        "auth.signup_error",
        [],
        2,
        {"auth.signup": "critical", "security.cross_user": "ok"},
        {"email.delivery": "auth.signup", "deeplink.browser": "auth.signup"},
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
        # Hidden from the API, the function cannot be probed: undecided, never a finding.
        {"rpc.get_home_feed_v2": "critical", "security.anon_rpc": "warning"},
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
    if FOUND is None:  # without Chromium the browser check is skipped, whatever the fault
        expected = {k: v for k, v in expected.items() if k != "deeplink.browser"}
        blocked = {k: v for k, v in blocked.items() if k != "deeplink.browser"}
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


@needs_chromium
def test_a_disallowed_redirect_strands_the_browser_with_evidence(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, "--fault", "auth.redirect_disallowed", "--only", "deeplink")
    assert code == 2
    browser = check(results, "deeplink.browser")
    assert browser["status"] == "critical"
    # Where the user landed instead: GoTrue's fallback to the Site URL.
    assert "lands on https://app.mamapace.com?code=" in browser["message"]
    assert "instead of mamapace://auth-callback" in browser["message"]
    assert browser["evidence"]["final_url"].startswith("https://app.mamapace.com?code=")
    shot = tmp_path / "reports" / browser["evidence"]["screenshot"]
    assert shot.name == "deeplink.browser.screenshot.png"
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert "data:image/png;base64," in (tmp_path / "reports" / "report.html").read_text()


@needs_chromium
def test_a_universal_link_passes_in_the_browser_and_its_association_files(
    tmp_path: Path,
) -> None:
    code, results, output = run(tmp_path, "--only", "deeplink", *UNIVERSAL)
    assert code == 0, output
    found = statuses(results)
    for check_id in ("deeplink.redirect", "deeplink.browser", "deeplink.single_use"):
        assert found[check_id] == "ok", check(results, check_id)["message"]
    app_links = check(results, "deeplink.app_links")
    assert app_links["status"] == "ok", app_links["message"]
    assert "apple-app-site-association (ABCDE12345.com.mamapace.app)" in app_links["message"]
    assert "assetlinks.json (com.mamapace.app)" in app_links["message"]
    handed = "handed https://app.mamapace.com/auth-callback?code="
    assert handed in check(results, "deeplink.browser")["message"]


def test_broken_association_files_are_critical(tmp_path: Path) -> None:
    code, results, _ = run(
        tmp_path, "--only", "deeplink", "--fault", "site.app_links=missing_app", *UNIVERSAL
    )
    assert code == 2
    app_links = check(results, "deeplink.app_links")
    assert app_links["status"] == "critical"
    assert "does not name ABCDE12345.com.mamapace.app" in app_links["message"]
    assert "no handle_all_urls statement for com.mamapace.app" in app_links["message"]
    assert check(results, "deeplink.redirect")["status"] == "ok"


def test_with_the_browser_off_a_second_click_is_checked_over_http(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, "--only", "deeplink", "--set", "deeplink.browser=off")
    assert code == 0
    browser = check(results, "deeplink.browser")
    assert (browser["status"], browser["message"]) == (
        "skipped",
        'does not apply: deeplink.browser = "off"',
    )
    second = check(results, "deeplink.single_use")
    assert second["status"] == "ok"
    assert (
        "a second click (HTTP) lands on mamapace://auth-callback with otp_expired"
        in (second["message"])
    )


def test_without_a_browser_auto_skips_and_says_how_to_install_one(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    # No chromium on PATH and no Playwright download: nothing to find.
    env = {**os.environ, "PATH": str(empty), "PLAYWRIGHT_BROWSERS_PATH": str(empty)}
    code, results, _ = run(tmp_path, "--only", "deeplink", env=env)
    assert code == 0
    browser = check(results, "deeplink.browser")
    assert browser["status"] == "skipped"
    assert "no Chromium found" in browser["message"]
    assert "apt-get install chromium" in browser["message"]
    assert check(results, "deeplink.single_use")["status"] == "ok"
