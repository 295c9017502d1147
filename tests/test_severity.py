"""Severity is pure: tables of measurements, thresholds, reasons and outcomes → statuses, alerts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from synthetics.catalog import CATALOG, GROUPS, MONITOR, browser_checks, parse_groups
from synthetics.config import Thresholds
from synthetics.severity import (
    PLAN_A,
    PLAN_B,
    PLAN_C,
    SECURITY,
    Status,
    alerts,
    evaluate,
    exit_code,
    spec_for,
    worst,
)

T = Thresholds()


@dataclass
class C:
    """A check result as alerting sees it."""

    id: str
    status: Status
    message: str = ""
    reason: str | None = None
    blocked_by: str | None = None
    measurements: dict[str, float] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("check_id", "measurements", "expected", "named"),
    [
        ("rpc.get_home_feed_v2", {"latency_ms": 120}, Status.OK, None),
        ("rpc.get_home_feed_v2", {"latency_ms": 500}, Status.OK, None),
        ("rpc.get_home_feed_v2", {"latency_ms": 501}, Status.INFO, "500 ms info threshold"),
        ("rpc.get_home_feed_v2", {"latency_ms": 1000.5}, Status.WARNING, "rpc_warning_ms"),
        ("auth.signup", {"latency_ms": 2999}, Status.OK, None),
        ("auth.signup", {"latency_ms": 3001}, Status.WARNING, "signup_warning_ms"),
        ("email.delivery", {"delivery_s": 29.9}, Status.OK, None),
        ("email.delivery", {"delivery_s": 31}, Status.WARNING, "30 s SLA (email_sla_s)"),
        ("deeplink.redirect", {"latency_ms": 2500}, Status.WARNING, "deeplink_warning_ms"),
        ("deeplink.browser", {"latency_ms": 2500}, Status.WARNING, "deeplink_warning_ms"),
        ("auth.session", {"latency_ms": 2001}, Status.WARNING, "session_warning_ms"),
        ("auth.health", {"latency_ms": 99999}, Status.OK, None),
        ("security.anon_rpc", {}, Status.OK, None),
    ],
)
def test_passing_checks_are_graded_by_their_measurements(
    check_id: str, measurements: dict[str, float], expected: Status, named: str | None
) -> None:
    grade = evaluate(check_id, passed=True, measurements=measurements, thresholds=T)
    assert grade.status is expected
    if named is None:
        assert grade.why == ""
    else:
        assert named in grade.why  # every latency message names the threshold it crossed


@pytest.mark.parametrize(
    ("check_id", "reason", "expected"),
    [
        ("auth.signup", None, Status.CRITICAL),
        ("auth.signup", "email_quota", Status.WARNING),  # 429 quota, not outage
        ("auth.settings", "autoconfirm", Status.WARNING),
        ("auth.settings", None, Status.CRITICAL),
        ("auth.health", "target_down", Status.CRITICAL),
        ("email.delivery", None, Status.CRITICAL),
        ("email.delivery", "inbox_error", Status.WARNING),  # the monitor's inbox, not the app
        ("deeplink.single_use", None, Status.WARNING),
        ("security.error_leak", None, Status.WARNING),
        ("security.cross_user", None, Status.CRITICAL),
        ("security.anon_rpc", "inconclusive", Status.WARNING),  # never a finding
        ("security.cross_user", "check_error", Status.WARNING),  # a crash is never a finding
        ("rpc.delete_post_v2", None, Status.CRITICAL),
        ("rpc.delete_post_v2", "email_quota", Status.CRITICAL),  # a reason of another check
        ("cleanup", None, Status.WARNING),
        ("cleanup", "unverified", Status.WARNING),
    ],
)
def test_failures_take_the_status_their_reason_earns(
    check_id: str, reason: str | None, expected: Status
) -> None:
    grade = evaluate(check_id, passed=False, measurements={}, thresholds=T, reason=reason)
    assert grade.status is expected
    assert grade.reason == reason


def test_a_pass_after_a_retry_is_info_not_ok() -> None:
    retried = evaluate("auth.health", passed=True, measurements={}, thresholds=T, attempts=3)
    assert (retried.status, retried.reason) == (Status.INFO, "retried")
    assert "2 retried" in retried.why
    slow = {"latency_ms": 1500}
    assert (
        evaluate("rpc.x", passed=True, measurements=slow, thresholds=T, attempts=2).status
        is Status.WARNING
    )


def test_custom_thresholds_apply_and_mappings_work_too() -> None:
    tight = Thresholds(rpc_info_ms=10, rpc_warning_ms=20)
    assert (
        evaluate("rpc.f", passed=True, measurements={"latency_ms": 15}, thresholds=tight).status
        is Status.INFO
    )
    as_dict = {"rpc_info_ms": 10, "rpc_warning_ms": 20}
    assert (
        evaluate("rpc.f", passed=True, measurements={"latency_ms": 25}, thresholds=as_dict).status
        is Status.WARNING
    )


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="rpc_info_ms"):
        Thresholds(rpc_info_ms=2000)
    with pytest.raises(ValueError, match="email_sla_s"):
        Thresholds(email_sla_s=200)


@pytest.mark.parametrize(
    ("statuses", "interrupted", "expected", "code"),
    [
        ([], False, Status.OK, 0),
        ([Status.OK, Status.SKIPPED, Status.BLOCKED], False, Status.OK, 0),
        ([Status.OK, Status.INFO], False, Status.INFO, 0),
        ([Status.INFO, Status.WARNING, Status.BLOCKED], False, Status.WARNING, 1),
        ([Status.WARNING, Status.CRITICAL, Status.OK], False, Status.CRITICAL, 2),
        ([Status.OK], True, Status.OK, 4),  # an interrupted run is never "ok"
        ([Status.CRITICAL], True, Status.CRITICAL, 4),
    ],
)
def test_run_status_and_exit_code(
    statuses: list[Status], interrupted: bool, expected: Status, code: int
) -> None:
    assert worst(statuses) is expected
    assert exit_code(worst(statuses), interrupted=interrupted) == code


def test_alerts_point_to_the_runbook_most_severe_first() -> None:
    found = alerts(
        [
            C(
                "rpc.get_home_feed_v2",
                Status.INFO,
                "slow",
                "slow",
                measurements={"latency_ms": 600},
            ),
            C("security.anon_rpc", Status.CRITICAL, "open", "exposed"),
            C("auth.health", Status.OK, "fine"),
            C("email.delivery", Status.BLOCKED, "blocked", blocked_by="auth.signup"),
        ],
        T,
    )
    assert [(a.check, a.severity) for a in found] == [
        ("security.anon_rpc", Status.CRITICAL),
        ("rpc.*", Status.INFO),
    ]
    assert found[0].runbook == SECURITY
    assert found[0].first_step.startswith("REVOKE")
    assert found[1].runbook == PLAN_B


def test_twenty_slow_rpcs_are_one_alert_that_counts_them_and_names_the_threshold() -> None:
    latencies = [1210.0] * 10 + [1190.0 + n for n in range(9)] + [1305.0]
    checks = [
        C(f"rpc.f{n}_v2", Status.WARNING, "answered", "slow", measurements={"latency_ms": ms})
        for n, ms in enumerate(latencies)
    ]
    found = alerts(checks, T)
    assert len(found) == 1
    assert found[0].check == "rpc.*"
    assert found[0].message.startswith(
        "20 of 20 v2 RPCs slower than 1000 ms (rpc_warning_ms) (p50 1210 ms, max 1305 ms)"
    )
    assert len(found[0].checks) == 20


def test_one_outage_is_one_alert_listing_what_it_blocked() -> None:
    found = alerts(
        [
            C("auth.health", Status.CRITICAL, "Auth unreachable", "target_down"),
            C("auth.signup", Status.BLOCKED, blocked_by="auth.health"),
            C("rpc.get_my_profile_v2", Status.BLOCKED, blocked_by="auth.health"),
            C("security.anon_rpc", Status.BLOCKED, blocked_by="auth.health"),
        ],
        T,
    )
    assert len(found) == 1
    assert found[0].check == "auth.health"
    assert found[0].blocked == ("auth.signup", "rpc.get_my_profile_v2", "security.anon_rpc")
    assert "3 dependent check(s) blocked" in found[0].message


def test_failing_rpcs_for_different_reasons_are_different_causes() -> None:
    found = alerts(
        [
            C("rpc.a_v2", Status.CRITICAL, "a failed"),
            C("rpc.b_v2", Status.CRITICAL, "b failed"),
            C("rpc.c_v2", Status.WARNING, "c is slow", "slow", measurements={"latency_ms": 1500}),
        ],
        T,
    )
    assert [a.severity for a in found] == [Status.CRITICAL, Status.WARNING]
    assert found[0].message.startswith("2 of 3 v2 RPCs fail: a failed; b failed")


def test_monitor_problems_point_to_the_monitor_not_the_runbook() -> None:
    found = alerts([C("security.cross_user", Status.WARNING, "crashed", "check_error")], T)
    assert found[0].runbook == MONITOR


def test_auth_and_rpc_critical_together_point_to_plan_c() -> None:
    found = alerts(
        [
            C("deeplink.redirect", Status.CRITICAL, "x"),
            C("rpc.create_post_v2", Status.CRITICAL, "y"),
        ],
        T,
    )
    assert found[0].runbook == PLAN_C
    assert set(found[0].checks) == {"deeplink.redirect", "rpc.create_post_v2"}
    assert {a.runbook for a in found[1:]} == {PLAN_A, PLAN_B}


def test_every_rpc_id_has_a_spec() -> None:
    assert spec_for("rpc.anything_v2").group == "rpc"
    with pytest.raises(KeyError):
        spec_for("dns.resolve")


def test_the_catalogue_is_the_one_source_of_ids_groups_and_order() -> None:
    assert {s.group for s in CATALOG.values()} == set(GROUPS)
    orders = [s.order for s in CATALOG.values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert browser_checks() == {"deeplink.browser"}  # single_use clicks again over HTTP
    assert all(s.security == (s.group == "security") for s in CATALOG.values())


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (None, None),
        ("auth", {"auth", "cleanup"}),
        ("rpc, security", {"rpc", "security", "cleanup"}),
    ],
)
def test_only_takes_exactly_the_catalogues_groups(
    only: str | None, expected: set[str] | None
) -> None:
    assert parse_groups(only) == (None if expected is None else frozenset(expected))


@pytest.mark.parametrize("only", ["session", "auth,sesion", ",", ""])
def test_only_refuses_anything_else(only: str) -> None:
    with pytest.raises(ValueError, match="group"):
        parse_groups(only)
