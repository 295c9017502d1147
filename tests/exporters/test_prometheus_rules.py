"""`synthetics rules --prometheus`: valid for the real promtool, and firing exactly when the runbook
says, with its labels, on series the real exporter produced from runs.

Runs come every 5 minutes unless a case says otherwise; a scrape each minute sees the latest
finished run. The rate window is 2 h (121 one-minute samples), so a run's outcome weighs 5/121.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from synthetics import config as config_module
from synthetics.commands.rules import render
from synthetics.results import RunResult
from synthetics.status import Status
from tests.exporters.runs import EPOCH, RPCS, a_run, signup_failed
from tests.exporters.timeline import alerts_query, every, run_tests
from tests.exporters.tools import needs_promtool, promtool

pytestmark = needs_promtool

RUNBOOK = {
    "SyntheticsAuthFailureRate": "plan-a",
    "SyntheticsEmailDeliveryRate": "plan-a",
    "SyntheticsDeepLinkFailureRate": "plan-a",
    "SyntheticsRpcErrorRate": "plan-b",
    "SyntheticsRpcSlow": "plan-b",
    "SyntheticsNoSuccessfulRegistration": "plan-a",
    "SyntheticsRollbackRegistration": "plan-a",
    "SyntheticsRollbackEmail": "plan-a",
    "SyntheticsRollbackDeepLink": "plan-a",
    "SyntheticsRollbackRpc": "plan-b",
    "SyntheticsSecurityIncident": "security-incident",
    "SyntheticsRollbackPlanC": "plan-c",
    "SyntheticsMonitorNotRunning": "monitor",
}


INCIDENT = "SyntheticsSecurityIncident"


def rules_yaml(*sets: str) -> str:
    """The generated rules for the default config plus `--set` overrides."""
    return render(config_module.load(sets=list(sets), env={}, target="sandbox"))


def run(minute: int, **extra: object) -> RunResult:
    """A run on promtool's clock."""
    return a_run(minute, start=EPOCH, **extra)  # type: ignore[arg-type]


def alert(
    name: str,
    severity: str,
    state: str = "firing",
    *,
    target: str = "staging",
    location: str = "eu",
    **labels: str,
) -> dict[str, str]:
    """An ALERTS series as the rules must produce it."""
    return {
        "alertname": name,
        "alertstate": state,
        "severity": severity,
        "runbook": RUNBOOK[name],
        "target": target,
        "location": location,
        **labels,
    }


def levels(name: str, *severities: str) -> list[dict[str, str]]:
    """One firing alert per severity."""
    return [alert(name, s) for s in severities]


def runs_with(
    bad_minutes: set[int], bad: Callable[[int], RunResult], until: int = 180
) -> list[RunResult]:
    """A run every 5 minutes; the ones at `bad_minutes` made by `bad`."""
    return every(5, until, lambda m: bad(m) if m in bad_minutes else run(m))


def failing(*checks: str) -> Callable[[int], RunResult]:
    """Runs in which `checks` are critical."""
    return lambda m: run(m, failed=set(checks))


@dataclass
class Case:
    """Runs, a moment, and every Synthetics alert (firing or pending) expected then."""

    id: str
    runs: Sequence[RunResult]
    at: int
    expected: list[dict[str, str]] = field(default_factory=list)
    sets: tuple[str, ...] = ()


def _mid(count: int) -> set[int]:
    """`count` consecutive run minutes in the middle of the window ending at 125 min."""
    return {50 + 5 * n for n in range(count)}


CASES = [
    # -- auth failure rate: > 5 % info, > 10 % warning, > 20 % critical ---------------------------
    Case("auth failure 4 %: nothing", runs_with(_mid(1), failing("auth.signin")), 125),
    Case(
        "auth failure 8 %: info",
        runs_with(_mid(2), failing("auth.signin")),
        125,
        levels("SyntheticsAuthFailureRate", "info"),
    ),
    Case(
        "auth failure 12 %: info and warning",
        runs_with(_mid(3), failing("auth.signin")),
        125,
        levels("SyntheticsAuthFailureRate", "info", "warning"),
    ),
    Case(
        "auth failure 25 %: every level",
        runs_with(_mid(6), failing("auth.signin")),
        125,
        levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
    ),
    Case(
        "auth failure 25 %, a quota warning is not a failure",
        runs_with(
            _mid(6),
            lambda m: run(
                m,
                statuses={"auth.signup": Status.WARNING},
                reasons={"auth.signup": "email_quota"},
                blocked={"email.delivery", "deeplink.redirect", "deeplink.browser"},
            ),
        ),
        125,
    ),
    Case(
        "auth failures of an interrupted run do not count",
        runs_with(_mid(6), lambda m: run(m, failed={"auth.signin"}, interrupted=True)),
        125,
    ),
    # -- email delivery within the SLA: < 90 % info, < 80 % warning, < 50 % critical --------------
    Case(
        "email 12 % late: info",
        runs_with(_mid(3), lambda m: run(m, email_s=40.0)),
        125,
        levels("SyntheticsEmailDeliveryRate", "info"),
    ),
    Case(
        "email 25 % late: info and warning",
        runs_with(_mid(6), lambda m: run(m, email_s=40.0)),
        125,
        levels("SyntheticsEmailDeliveryRate", "info", "warning"),
    ),
    Case(
        "email 25 % late under a 60 s SLA: in time",
        runs_with(_mid(6), lambda m: run(m, email_s=40.0)),
        125,
        sets=("thresholds.email_sla_s=60", "thresholds.email_timeout_s=120"),
    ),
    Case(
        "email 54 % lost: every level; registration under 50 % since 101 min: Plan A",
        runs_with(
            {50 + 5 * n for n in range(13)},
            lambda m: run(
                m,
                failed={"email.delivery"},
                email_s=None,
                blocked={"deeplink.redirect", "deeplink.browser", "auth.session"},
            ),
        ),
        125,
        [
            *levels("SyntheticsEmailDeliveryRate", "info", "warning", "critical"),
            # registration fails with the email: 11 of the 21 runs seen by 101 min failed,
            # so its success has been under 50 % for 24 minutes at 125
            alert("SyntheticsRollbackRegistration", "critical"),
        ],
    ),
    Case(
        "an inbox the monitor cannot read says nothing about email",
        runs_with(
            _mid(13),
            lambda m: run(
                m,
                statuses={"email.delivery": Status.WARNING},
                reasons={"email.delivery": "inbox_error"},
                email_s=None,
                blocked={"deeplink.redirect", "deeplink.browser", "auth.session"},
            ),
        ),
        125,
    ),
    # -- deep-link failure: > 5 % warning, > 10 % critical ----------------------------------------
    Case("deep link 4 %: nothing", runs_with(_mid(1), failing("deeplink.browser")), 125),
    Case(
        "deep link 8 %: warning",
        runs_with(_mid(2), failing("deeplink.app_links")),
        125,
        levels("SyntheticsDeepLinkFailureRate", "warning"),
    ),
    Case(
        "deep link 12 %: warning and critical",
        runs_with(_mid(3), failing("deeplink.browser")),
        125,
        levels("SyntheticsDeepLinkFailureRate", "warning", "critical"),
    ),
    # -- v2 RPC error rate (per call): > 5 % warning, > 10 % critical -----------------------------
    Case(
        "1 of 20 RPCs failing in every run is 5 %: not above",
        every(5, 180, failing(f"rpc.{RPCS[0]}")),
        125,
    ),
    Case(
        "2 of 20 RPCs failing is 10 %: warning only",
        every(5, 180, failing(f"rpc.{RPCS[0]}", f"rpc.{RPCS[1]}")),
        125,
        levels("SyntheticsRpcErrorRate", "warning"),
    ),
    Case(
        "3 of 20 RPCs failing is 15 %: warning and critical",
        every(5, 180, failing(*(f"rpc.{f}" for f in RPCS[:3]))),
        125,
        levels("SyntheticsRpcErrorRate", "warning", "critical"),
    ),
    # -- mean RPC time: > rpc_info_ms info, > rpc_warning_ms warning ------------------------------
    Case("RPCs at 400 ms: nothing", every(5, 180, lambda m: run(m, rpc_ms=400)), 125),
    Case(
        "RPCs at 600 ms: info",
        every(5, 180, lambda m: run(m, rpc_ms=600)),
        125,
        levels("SyntheticsRpcSlow", "info"),
    ),
    Case(
        "RPCs at 1.2 s: info and warning",
        every(5, 180, lambda m: run(m, rpc_ms=1200)),
        125,
        levels("SyntheticsRpcSlow", "info", "warning"),
    ),
    Case(
        "RPCs at 1.2 s with rpc_warning_ms = 1500: info only",
        every(5, 180, lambda m: run(m, rpc_ms=1200)),
        125,
        levels("SyntheticsRpcSlow", "info"),
        sets=("thresholds.rpc_warning_ms=1500",),
    ),
    Case(
        "a failed RPC's time is not counted as slow",
        every(
            5,
            180,
            lambda m: run(m, failed={f"rpc.{RPCS[0]}"}, rpc_ms={f"rpc.{RPCS[0]}": 9000.0}),
        ),
        125,
    ),
    # -- rate rules need min_runs runs in the window ----------------------------------------------
    Case(
        "two failing runs in the window are not enough",
        [run(0, failed={"auth.signin"}), run(60, failed={"auth.signin"})],
        70,
    ),
    Case(
        "a third failing run is",
        [run(0, failed={"auth.signin"}), run(60, failed={"auth.signin"}), run(65)],
        70,
        levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
    ),
    # -- zero successful registrations for 30 minutes ---------------------------------------------
    Case(
        "29 minutes since the last successful registration (run 115, seen at 116)",
        every(5, 180, lambda m: signup_failed(m, start=EPOCH) if m >= 120 else run(m)),
        145,
        levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
    ),
    Case(
        "31 minutes since the last successful registration, 6 attempts failed",
        every(5, 180, lambda m: signup_failed(m, start=EPOCH) if m >= 120 else run(m)),
        147,
        [
            *levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
            alert("SyntheticsNoSuccessfulRegistration", "critical"),
        ],
    ),
    Case(
        "runs every 30 minutes: two failed registrations are not enough",
        every(30, 300, lambda m: signup_failed(m, start=EPOCH) if m >= 120 else run(m)),
        155,
        levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
    ),
    Case(
        "runs every 30 minutes: the third failed registration decides",
        every(30, 300, lambda m: signup_failed(m, start=EPOCH) if m >= 120 else run(m)),
        185,
        [
            *levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
            alert("SyntheticsNoSuccessfulRegistration", "critical"),
            # 1 success in the 4 runs of the window since 181 min: under 50 % for 4 minutes
            alert("SyntheticsRollbackRegistration", "critical", "pending"),
        ],
    ),
    Case(
        "a monitor that stopped after a failed registration is not an outage",
        [*every(5, 120, run), signup_failed(125, start=EPOCH)],
        170,
        # the failed run is 1 of 3+ in the window: a rate, not "no registration"
        levels("SyntheticsAuthFailureRate", "info"),
    ),
    # -- rollback triggers, held for their durations ----------------------------------------------
    Case(
        "registration success under 50 % for 10 of 15 minutes: pending",
        every(5, 240, lambda m: signup_failed(m, start=EPOCH) if m >= 120 else run(m)),
        190,
        [
            *levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
            alert("SyntheticsNoSuccessfulRegistration", "critical"),
            alert("SyntheticsRollbackRegistration", "critical", "pending"),
        ],
    ),
    Case(
        "registration success under 50 % for 20 minutes: Plan A",
        every(5, 240, lambda m: signup_failed(m, start=EPOCH) if m >= 120 else run(m)),
        200,
        [
            *levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
            alert("SyntheticsNoSuccessfulRegistration", "critical"),
            alert("SyntheticsRollbackRegistration", "critical"),
        ],
    ),
    Case(
        "registration failing for 50 minutes never crosses 50 %",
        every(5, 240, lambda m: signup_failed(m, start=EPOCH) if 120 <= m < 170 else run(m)),
        215,
        levels("SyntheticsAuthFailureRate", "info", "warning", "critical"),
    ),
    Case(
        "deep links and RPCs failing together: Plan A, Plan B, so Plan C",
        every(
            5,
            240,
            lambda m: (
                run(m, failed={"deeplink.browser", *(f"rpc.{f}" for f in RPCS[:8])})
                if m >= 60
                else run(m)
            ),
        ),
        170,
        [
            *levels("SyntheticsDeepLinkFailureRate", "warning", "critical"),
            *levels("SyntheticsRpcErrorRate", "warning", "critical"),
            alert("SyntheticsRollbackDeepLink", "critical"),
            alert("SyntheticsRollbackRpc", "critical"),
            alert("SyntheticsRollbackPlanC", "critical"),
        ],
    ),
    Case(
        "email not delivered at all under 30 % for 10 minutes: Plan A",
        every(
            5,
            240,
            lambda m: (
                run(
                    m,
                    failed={"email.delivery"},
                    email_s=None,
                    blocked={"deeplink.redirect", "deeplink.browser", "auth.session"},
                )
                if m >= 60
                else run(m)
            ),
        ),
        180,
        [
            *levels("SyntheticsEmailDeliveryRate", "info", "warning", "critical"),
            alert("SyntheticsNoSuccessfulRegistration", "critical"),
            alert("SyntheticsRollbackRegistration", "critical"),
            alert("SyntheticsRollbackEmail", "critical"),
        ],
    ),
    # -- security: at once ------------------------------------------------------------------------
    Case(
        "a security check proving access: the incident procedure at once",
        [*every(5, 60, run), run(65, failed={"security.anon_rpc"})],
        67,
        [
            alert(
                "SyntheticsSecurityIncident",
                "critical",
                check="security.anon_rpc",
                group="security",
            )
        ],
    ),
    Case(
        "an inconclusive security probe is not an incident",
        [
            *every(5, 60, run),
            run(
                65,
                statuses={"security.anon_rpc": Status.CRITICAL},
                reasons={"security.anon_rpc": "inconclusive"},
            ),
        ],
        67,
    ),
    Case(
        "a proof of access stands in an interrupted run",
        [*every(5, 60, run), run(65, failed={"security.cross_user"}, interrupted=True)],
        67,
        [
            alert(
                "SyntheticsSecurityIncident",
                "critical",
                check="security.cross_user",
                group="security",
            )
        ],
    ),
    # -- targets and locations apart --------------------------------------------------------------
    Case(
        "only the failing location alerts",
        [
            *every(5, 180, lambda m: run(m, location="us", failed={"auth.signin"})),
            *every(5, 180, lambda m: run(m, location="eu")),
        ],
        125,
        [
            alert("SyntheticsAuthFailureRate", s, location="us")
            for s in ("info", "warning", "critical")
        ],
    ),
    # -- the monitor itself -----------------------------------------------------------------------
    Case("runs stopped 80 minutes ago: not yet stale", every(5, 60, run), 140),
    Case(
        "runs stopped 100 minutes ago: the monitor is not running",
        every(5, 60, run),
        160,
        [alert("SyntheticsMonitorNotRunning", "warning")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_alerts_fire_as_the_runbook_says(case: Case, tmp_path: Path) -> None:
    rules = rules_yaml(*case.sets)
    run_tests(
        tmp_path,
        rules,
        case.runs,
        minutes=max(case.at, 250),
        expr_tests=[alerts_query(case.expected, f"{case.at}m")],
    )


def test_alerts_say_what_to_do_and_the_value(tmp_path: Path) -> None:
    runs = runs_with(_mid(6), failing("auth.signin"))
    plan_a = "Rollback Plan A: Auth Configuration Rollback"
    first_step = (
        "Revert the Auth settings (Site URL, Redirect URLs) in the Supabase dashboard, then test "
        "registration with the reverted settings"
    )
    run_tests(
        tmp_path,
        rules_yaml(),
        [*runs, run(185, failed={"security.anon_rpc"}, location="eu")],
        minutes=250,
        alert_tests=[
            {
                "eval_time": "125m",
                "alertname": "SyntheticsAuthFailureRate",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": severity,
                            "runbook": "plan-a",
                            "target": "staging",
                            "location": "eu",
                        },
                        "exp_annotations": {
                            "summary": "Auth failure rate on staging from eu is 25% over 2h "
                            f"({severity}: > {limit})",
                            "description": "The auth failure rate over the last 2h of synthetic "
                            f"runs is > {limit} (at least 3 runs in the window). "
                            f"Runbook: {plan_a}. First step: {first_step}.",
                            "runbook_plan": plan_a,
                            "first_step": first_step,
                        },
                    }
                    for severity, limit in (("critical", "20%"), ("warning", "10%"), ("info", "5%"))
                ],
            },
            {
                "eval_time": "187m",
                "alertname": "SyntheticsSecurityIncident",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "critical",
                            "runbook": "security-incident",
                            "target": "staging",
                            "location": "eu",
                            "check": "security.anon_rpc",
                            "group": "security",
                        },
                        "exp_annotations": {
                            "summary": "Security incident on staging from eu: security.anon_rpc "
                            "proved access",
                            "description": "A security check proved unauthorized access (an "
                            "inconclusive probe never counts): act immediately. Runbook: Emergency "
                            "Procedures: Security Incident Response (act immediately). First step: "
                            "REVOKE ALL ON ALL TABLES/FUNCTIONS IN SCHEMA public FROM anon; then "
                            "assess whether data was accessed.",
                            "runbook_plan": "Emergency Procedures: Security Incident Response (act "
                            "immediately)",
                            "first_step": "REVOKE ALL ON ALL TABLES/FUNCTIONS IN SCHEMA public "
                            "FROM anon; then assess whether data was accessed",
                        },
                    }
                ],
            },
        ],
    )


def synthetics(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m synthetics.cli ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "synthetics.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd or Path(__file__).parents[2],
        check=False,
    )


def test_the_command_prints_rules_promtool_accepts(tmp_path: Path) -> None:
    done = synthetics("rules", "--prometheus")
    assert done.returncode == 0, done.stderr
    (tmp_path / "rules.yml").write_text(done.stdout)
    output = promtool("check", "rules", str(tmp_path / "rules.yml"))
    document = yaml.safe_load(done.stdout)
    count = sum(len(g["rules"]) for g in document["groups"])
    assert f"SUCCESS: {count} rules found" in output
    assert [g["name"] for g in document["groups"]] == [
        "synthetics-records",
        "synthetics-runbook",
        "synthetics-rollback",
        "synthetics-monitor",
    ]
    assert done.stdout.startswith("# Generated by `synthetics rules --prometheus`")


def test_a_users_config_shows_up_in_the_rules(tmp_path: Path) -> None:
    config = tmp_path / "synthetics.toml"
    config.write_text(
        "[thresholds]\nrpc_info_ms = 300\nrpc_warning_ms = 800\nemail_sla_s = 45\n"
        '[history]\nwindow = "1h"\nmin_runs = 5\n'
        '[prometheus.rules]\nstale_after = "3h"\ninterval = "30s"\n'
    )
    out = tmp_path / "out" / "synthetics.rules.yml"
    out.parent.mkdir()
    done = synthetics("rules", "--prometheus", "--config", str(config), "--out", str(out))
    assert done.returncode == 0, done.stderr
    promtool("check", "rules", str(out))
    document = yaml.safe_load(out.read_text())
    rules = [r for g in document["groups"] for r in g["rules"]]
    exprs = {r.get("alert", r.get("record")): r["expr"] for r in rules}
    slow = [r["expr"] for r in rules if r.get("alert") == "SyntheticsRpcSlow"]
    assert slow[0].startswith("target_location:synthetics_rpc_latency_seconds:avg1h > 0.8\n")
    assert slow[1].startswith("target_location:synthetics_rpc_latency_seconds:avg1h > 0.3\n")
    assert all("[1h]) >= 5" in e for e in slow)
    assert "<= bool 45" in exprs["target_location:synthetics_email_delivery:run"]
    assert "offset 30s" in exprs["target_location:synthetics_runs:new"]
    assert "> 10800" in exprs["SyntheticsMonitorNotRunning"]
    assert {g["interval"] for g in document["groups"]} == {"30s"}
    assert list(out.parent.iterdir()) == [out]  # no temporary file left beside it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "one of the arguments --prometheus is required"),
        (
            ("--prometheus", "--set", "prometheus.rules.stale_after=2 hours"),
            "prometheus.rules.stale_after (from --set prometheus.rules.stale_after): '2 hours' is "
            "not a Prometheus duration like 90s, 15m, 2h or 1h30m",
        ),
        (
            ("--prometheus", "--set", "history.min_runs=0"),
            "history.min_runs (from --set history.min_runs): Input should be greater than or "
            "equal to 1",
        ),
        (
            ("--prometheus", "--set", "prometheus.rules.window=1h"),
            "prometheus.rules.window (from --set prometheus.rules.window): unknown key",
        ),
        (("--prometheus", "--out", "/nonexistent/dir/rules.yml"), "--out: cannot write"),
    ],
)
def test_bad_usage_exits_3_naming_the_key(args: tuple[str, ...], message: str) -> None:
    done = synthetics("rules", *args)
    assert done.returncode == 3, done.stdout + done.stderr
    assert message in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("scrape_s", [15, 60, 120])
def test_shares_count_runs_whatever_the_scrape_interval(scrape_s: int, tmp_path: Path) -> None:
    # 24 runs in the window ending at 125 min, 6 of them with a failed sign-in and 2 of them
    # with 3 of the 20 RPCs failing: exact shares of runs and of calls.
    def make(m: int) -> RunResult:
        failed = {"auth.signin"} if m in _mid(6) else set()
        if m in {90, 95}:
            failed |= {f"rpc.{f}" for f in RPCS[:3]}
        return run(m, failed=failed)

    def sample(name: str, value: float) -> dict[str, object]:
        # rounded: Prometheus 2.42 sums without compensation (0.25 comes out 1 ulp short)
        return {
            "expr": f"round({name}, 0.000001)",
            "eval_time": "125m",
            "exp_samples": [{"labels": '{location="eu",target="staging"}', "value": value}],
        }

    run_tests(
        tmp_path,
        rules_yaml(),
        every(5, 180, make),
        minutes=130,
        scrape_s=scrape_s,
        expr_tests=[
            sample("target_location:synthetics_auth_failure:ratio2h", 0.25),
            sample("target_location:synthetics_registration:ratio2h", 1.0),
            sample("target_location:synthetics_rpc_error:ratio2h", 0.0125),  # 6 of 480 calls
            {
                "expr": "count_over_time(target_location:synthetics_auth_failure:run[2h])",
                "eval_time": "125m",
                "exp_samples": [{"labels": '{location="eu",target="staging"}', "value": 24}],
            },
        ],
    )
