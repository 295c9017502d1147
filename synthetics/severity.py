"""Statuses, the check catalogue and pure evaluation: measurements + thresholds → status, alerts.

Nothing here does I/O or reads a clock: every function takes what it needs and is tested with
tables. Checks assert and measure; this module decides what a result means for the on-call
engineer and which part of the runbook to open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from synthetics.config import Thresholds


class Status(StrEnum):
    """A check's or a run's outcome. Severity order: ok < info < warning < critical."""

    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    BLOCKED = "blocked"  # a prerequisite failed: not run, adds no severity
    SKIPPED = "skipped"  # not applicable here, with a reason

    @property
    def rank(self) -> int:
        """Severity rank; blocked and skipped rank with ok (they add nothing)."""
        return _RANK.get(self, 0)


_RANK = {Status.OK: 0, Status.INFO: 1, Status.WARNING: 2, Status.CRITICAL: 3}

#: Sections of the runbook (seed/operations-monitoring-rollback.md) an alert points to.
PLAN_A = "Rollback Plan A: Auth Configuration Rollback"
PLAN_B = "Rollback Plan B: v2 RPC Rollback"
PLAN_C = "Rollback Plan C: Complete Migration Rollback"
SECURITY = "Emergency Procedures: Security Incident Response (act immediately)"
HOUSEKEEPING = "Monitoring Implementation: delete leftover throwaway users (Authentication > Users)"


@dataclass(frozen=True)
class CheckSpec:
    """What a check id means: its group, how bad its failure is, and where to act."""

    id: str
    group: str
    on_failure: Status
    runbook: str
    title: str


def _spec(check_id: str, on_failure: Status, runbook: str, title: str) -> CheckSpec:
    return CheckSpec(check_id, check_id.split(".", 1)[0], on_failure, runbook, title)


CHECKS: dict[str, CheckSpec] = {
    s.id: s
    for s in (
        _spec("auth.health", Status.CRITICAL, PLAN_A, "Auth and REST endpoints answer"),
        _spec("auth.settings", Status.CRITICAL, PLAN_A, "confirm email on, sign-ups on"),
        _spec("auth.signup", Status.CRITICAL, PLAN_A, "a throwaway user can sign up"),
        _spec("email.delivery", Status.CRITICAL, PLAN_A, "the confirmation email arrives"),
        _spec("deeplink.redirect", Status.CRITICAL, PLAN_A, "the link lands on the deep link"),
        _spec(
            "deeplink.browser", Status.CRITICAL, PLAN_A, "a browser click lands on the deep link"
        ),
        _spec("deeplink.single_use", Status.WARNING, PLAN_A, "a second click gives no session"),
        _spec("deeplink.app_links", Status.CRITICAL, PLAN_A, "app-link association files"),
        _spec("auth.session", Status.CRITICAL, PLAN_A, "the deep link yields a working session"),
        _spec("auth.signin", Status.CRITICAL, PLAN_A, "password sign-in and token rotation"),
        _spec("security.anon_rpc", Status.CRITICAL, SECURITY, "v2 RPCs reject the anon key"),
        _spec("security.direct_table", Status.CRITICAL, SECURITY, "protected tables stay closed"),
        _spec("security.cross_user", Status.CRITICAL, SECURITY, "users cannot touch others' data"),
        _spec("security.error_leak", Status.WARNING, SECURITY, "errors expose no internals"),
        _spec("cleanup", Status.WARNING, HOUSEKEEPING, "throwaway users are deleted"),
    )
}


def spec_for(check_id: str) -> CheckSpec:
    """The spec of a check id; every `rpc.<function>` shares the RPC spec."""
    if check_id in CHECKS:
        return CHECKS[check_id]
    if check_id.startswith("rpc."):
        return _spec(check_id, Status.CRITICAL, PLAN_B, "a v2 RPC answers correctly")
    raise KeyError(check_id)


def latency_status(ms: float, warning_ms: float, info_ms: float | None = None) -> Status:
    """Slower than the warning threshold → warning; than the info threshold → info."""
    if ms > warning_ms:
        return Status.WARNING
    if info_ms is not None and ms > info_ms:
        return Status.INFO
    return Status.OK


def measured_status(
    check_id: str, measurements: Mapping[str, float], thresholds: Thresholds
) -> Status:
    """The status a passing check earns from its measurements."""
    latency = measurements.get("latency_ms")
    if check_id == "email.delivery":
        delivery = measurements.get("delivery_s")
        if delivery is not None and delivery > thresholds.email_sla_s:
            return Status.WARNING
        return Status.OK
    if latency is None:
        return Status.OK
    if check_id.startswith("rpc."):
        return latency_status(latency, thresholds.rpc_warning_ms, thresholds.rpc_info_ms)
    limits = {
        "auth.signup": thresholds.signup_warning_ms,
        "deeplink.redirect": thresholds.deeplink_warning_ms,
        "deeplink.browser": thresholds.deeplink_warning_ms,
        "auth.session": thresholds.session_warning_ms,
    }
    if check_id in limits:
        return latency_status(latency, limits[check_id])
    return Status.OK


def evaluate(
    check_id: str,
    *,
    passed: bool,
    measurements: Mapping[str, float],
    thresholds: Thresholds,
    attempts: int = 1,
    declared: Status | None = None,
) -> Status:
    """A check's status: its failure severity, or what its measurements and retries earn.

    `declared` is a status the check set itself (e.g. a 429 quota answer is a warning, not an
    outage); it wins when the check failed, and raises the floor when it passed.
    """
    if not passed:
        return declared or spec_for(check_id).on_failure
    status = measured_status(check_id, measurements, thresholds)
    if attempts > 1:
        status = worst([status, Status.INFO])  # passed only after a retry: keep it visible
    if declared is not None:
        status = worst([status, declared])
    return status


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of `statuses` (ok when there is nothing severe)."""
    result = Status.OK
    for status in statuses:
        if status.rank > result.rank:
            result = status
    return result


def exit_code(status: Status) -> int:
    """`synthetics run`'s exit code for a run status: 0 ok/info, 1 warning, 2 critical."""
    return {Status.WARNING: 1, Status.CRITICAL: 2}.get(status, 0)


@dataclass(frozen=True)
class Alert:
    """One line of `alerts` in results.json."""

    severity: Status
    check: str
    message: str
    runbook: str


def alerts(results: Iterable[tuple[str, Status, str]]) -> list[Alert]:
    """Alerts for every info/warning/critical check, most severe first, plus Plan C if needed.

    Several rollback plans triggered at once point to Plan C, as the runbook says.
    """
    found = [
        Alert(status, check_id, message, spec_for(check_id).runbook)
        for check_id, status, message in results
        if status.rank > 0
    ]
    found.sort(key=lambda a: -a.severity.rank)
    plans = {
        a.runbook for a in found if a.severity is Status.CRITICAL and a.runbook != HOUSEKEEPING
    }
    if {PLAN_A, PLAN_B} <= plans:
        found.insert(
            0,
            Alert(
                Status.CRITICAL,
                "run",
                "auth and v2 RPC checks are critical together: consider a complete rollback",
                PLAN_C,
            ),
        )
    return found
