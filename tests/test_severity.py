"""Severity is pure: tables of measurements, thresholds and outcomes → statuses and alerts."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize(
    ("check_id", "measurements", "expected"),
    [
        ("rpc.get_home_feed_v2", {"latency_ms": 120}, Status.OK),
        ("rpc.get_home_feed_v2", {"latency_ms": 500}, Status.OK),
        ("rpc.get_home_feed_v2", {"latency_ms": 501}, Status.INFO),
        ("rpc.get_home_feed_v2", {"latency_ms": 1000.5}, Status.WARNING),
        ("auth.signup", {"latency_ms": 2999}, Status.OK),
        ("auth.signup", {"latency_ms": 3001}, Status.WARNING),
        ("email.delivery", {"delivery_s": 29.9}, Status.OK),
        ("email.delivery", {"delivery_s": 31}, Status.WARNING),
        ("deeplink.redirect", {"latency_ms": 2500}, Status.WARNING),
        ("deeplink.browser", {"latency_ms": 2500}, Status.WARNING),
        ("auth.session", {"latency_ms": 2001}, Status.WARNING),
        ("auth.health", {"latency_ms": 99999}, Status.OK),
        ("security.anon_rpc", {}, Status.OK),
    ],
)
def test_passing_checks_are_graded_by_their_measurements(
    check_id: str, measurements: dict[str, float], expected: Status
) -> None:
    assert evaluate(check_id, passed=True, measurements=measurements, thresholds=T) is expected


@pytest.mark.parametrize(
    ("check_id", "declared", "expected"),
    [
        ("auth.signup", None, Status.CRITICAL),
        ("auth.signup", Status.WARNING, Status.WARNING),  # 429 quota, not outage
        ("email.delivery", None, Status.CRITICAL),
        ("deeplink.single_use", None, Status.WARNING),
        ("security.error_leak", None, Status.WARNING),
        ("security.cross_user", None, Status.CRITICAL),
        ("rpc.delete_post_v2", None, Status.CRITICAL),
        ("cleanup", None, Status.WARNING),
    ],
)
def test_failures_take_the_checks_severity(
    check_id: str, declared: Status | None, expected: Status
) -> None:
    status = evaluate(check_id, passed=False, measurements={}, thresholds=T, declared=declared)
    assert status is expected


def test_a_pass_after_a_retry_is_info_not_ok() -> None:
    assert (
        evaluate("auth.health", passed=True, measurements={}, thresholds=T, attempts=3)
        is Status.INFO
    )
    slow = {"latency_ms": 1500}
    assert (
        evaluate("rpc.x", passed=True, measurements=slow, thresholds=T, attempts=2)
        is Status.WARNING
    )


def test_custom_thresholds_apply() -> None:
    tight = Thresholds(rpc_info_ms=10, rpc_warning_ms=20)
    assert (
        evaluate("rpc.f", passed=True, measurements={"latency_ms": 15}, thresholds=tight)
        is Status.INFO
    )


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="rpc_info_ms"):
        Thresholds(rpc_info_ms=2000)
    with pytest.raises(ValueError, match="email_sla_s"):
        Thresholds(email_sla_s=200)


@pytest.mark.parametrize(
    ("statuses", "expected", "code"),
    [
        ([], Status.OK, 0),
        ([Status.OK, Status.SKIPPED, Status.BLOCKED], Status.OK, 0),
        ([Status.OK, Status.INFO], Status.INFO, 0),
        ([Status.INFO, Status.WARNING, Status.BLOCKED], Status.WARNING, 1),
        ([Status.WARNING, Status.CRITICAL, Status.OK], Status.CRITICAL, 2),
    ],
)
def test_run_status_and_exit_code(statuses: list[Status], expected: Status, code: int) -> None:
    assert worst(statuses) is expected
    assert exit_code(worst(statuses)) == code


def test_alerts_point_to_the_runbook_most_severe_first() -> None:
    found = alerts(
        [
            ("rpc.get_home_feed_v2", Status.INFO, "slow"),
            ("security.anon_rpc", Status.CRITICAL, "open"),
            ("auth.health", Status.OK, "fine"),
            ("email.delivery", Status.BLOCKED, "blocked"),
        ]
    )
    assert [(a.check, a.severity) for a in found] == [
        ("security.anon_rpc", Status.CRITICAL),
        ("rpc.get_home_feed_v2", Status.INFO),
    ]
    assert found[0].runbook == SECURITY
    assert found[1].runbook == PLAN_B


def test_auth_and_rpc_critical_together_point_to_plan_c() -> None:
    found = alerts(
        [("deeplink.redirect", Status.CRITICAL, "x"), ("rpc.create_post_v2", Status.CRITICAL, "y")]
    )
    assert found[0].runbook == PLAN_C
    assert {a.runbook for a in found[1:]} == {PLAN_A, PLAN_B}


def test_every_rpc_id_has_a_spec() -> None:
    assert spec_for("rpc.anything_v2").group == "rpc"
    with pytest.raises(KeyError):
        spec_for("dns.resolve")
