"""Pure evaluation: (check, passed, reason, measurements, thresholds) → status; alerts by cause.

Nothing here does I/O or reads a clock: every function takes what it needs and is tested with
tables. Checks assert, measure and report a *reason* (a short machine-readable cause such as
`email_quota` or `inconclusive`); this module alone decides what that means for the on-call
engineer and which part of the runbook to open.

Reasons a check may report (anything else is treated as a plain failure):

| reason | on | status | meaning |
|---|---|---|---|
| `email_quota` | auth.signup | warning | 429 over_email_send_rate_limit: quota, not outage |
| `autoconfirm` | auth.settings | warning | confirm email is off |
| `target_down` | auth.health | critical | transport failures or 5xx: the target is down |
| `inconclusive` | any | warning | the check could not decide (names what and why) |
| `inbox_error` | email.delivery | warning | the monitor's test inbox refused (bad credentials) |
| `check_error` | any | warning | the check itself crashed: the monitor's bug, not a finding |
| `deadline` | any | warning | the check ran out of its own time (pytest-timeout): undecided |
| `unverified` | cleanup | warning | deletion could not be verified; lists what may be left |
| `exposed` | security.* | critical | a probe proved access |
| `anon_grant` | security.direct_table | warning | anon holds a table privilege; no data came out |
| `advisory` | security.advisor | warning | catalog findings without anon exposure |
| `slow`, `late`, `retried` | passing checks | by thresholds | graded by a measurement or a retry |
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from synthetics.catalog import (
    FIRST_STEPS,
    HOUSEKEEPING,
    MONITOR,
    PLAN_A,
    PLAN_B,
    PLAN_C,
    SECURITY,
    CheckSpec,
    spec_for,
)
from synthetics.status import Status, worst

__all__ = [
    "HOUSEKEEPING",
    "MONITOR",
    "PLAN_A",
    "PLAN_B",
    "PLAN_C",
    "SECURITY",
    "Alert",
    "Grade",
    "Status",
    "alerts",
    "evaluate",
    "exit_code",
    "grade",
    "spec_for",
    "worst",
]

#: (catalogue row or "*", reason) → the status a failure with that reason earns.
FAILURE_REASONS: dict[tuple[str, str], Status] = {
    ("auth.signup", "email_quota"): Status.WARNING,
    ("auth.settings", "autoconfirm"): Status.WARNING,
    ("auth.health", "target_down"): Status.CRITICAL,
    ("email.delivery", "inbox_error"): Status.WARNING,
    ("cleanup", "unverified"): Status.WARNING,
    ("security.direct_table", "anon_grant"): Status.WARNING,
    ("security.advisor", "advisory"): Status.WARNING,
    ("*", "inconclusive"): Status.WARNING,
    ("*", "check_error"): Status.WARNING,
    ("*", "deadline"): Status.WARNING,
}
#: Reasons that point to the monitor rather than to the app's runbook.
MONITOR_REASONS = frozenset({"check_error", "inbox_error"})

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_USAGE, EXIT_UNFINISHED = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Grade:
    """What a measurement earns: a status, a reason and the sentence that says why."""

    status: Status
    reason: str | None = None
    why: str = ""


_OK = Grade(Status.OK)


def _threshold(thresholds: Any, key: str) -> float | None:
    value = (
        thresholds.get(key) if isinstance(thresholds, Mapping) else getattr(thresholds, key, None)
    )
    return float(value) if isinstance(value, int | float) else None


def grade(check_id: str, measurements: Mapping[str, float], thresholds: Any) -> Grade:
    """The status a passing check earns from its measurements, naming the threshold it crossed.

    `thresholds` is the `[thresholds]` model or a mapping of the same keys.
    """
    spec = spec_for(check_id)
    if spec.id == "email.delivery":
        delivery = measurements.get("delivery_s")
        sla = _threshold(thresholds, "email_sla_s")
        if delivery is not None and sla is not None and delivery > sla:
            why = f"delivered after {delivery:.1f} s, over the {sla:g} s SLA (email_sla_s)"
            return Grade(Status.WARNING, "late", why)
        return _OK
    latency = measurements.get("latency_ms")
    if latency is None or not spec.latency:
        return _OK
    levels = zip((Status.WARNING, Status.INFO), spec.latency, strict=False)
    for status, key in levels:
        limit = _threshold(thresholds, key)
        if limit is not None and latency > limit:
            level = status.value
            why = f"{latency:.0f} ms, over the {limit:g} ms {level} threshold ({key})"
            return Grade(status, "slow", why)
    return _OK


def evaluate(
    check_id: str,
    *,
    passed: bool,
    measurements: Mapping[str, float],
    thresholds: Any,
    attempts: int = 1,
    reason: str | None = None,
) -> Grade:
    """A check's status: what its failure reason earns, or what its measurements and retries earn.

    A passing check that needed a retry is at least info, so flakiness stays visible.
    """
    spec = spec_for(check_id)
    if not passed:
        return Grade(failure_status(spec, reason), reason)
    graded = grade(check_id, measurements, thresholds)
    if attempts > 1 and graded.status.rank < Status.INFO.rank:
        return Grade(Status.INFO, "retried", f"passed after {attempts - 1} retried attempt(s)")
    return graded


def failure_status(spec: CheckSpec, reason: str | None) -> Status:
    """The status of a failed check with `reason` (its catalogue severity without one)."""
    if reason is not None:
        for key in ((spec.id, reason), ("*", reason)):
            if key in FAILURE_REASONS:
                return FAILURE_REASONS[key]
    return spec.on_failure


def exit_code(status: Status, *, interrupted: bool = False) -> int:
    """`synthetics run`'s exit code: 0 ok/info, 1 warning, 2 critical, 4 did not finish."""
    if interrupted:
        return EXIT_UNFINISHED
    return {Status.WARNING: EXIT_WARNING, Status.CRITICAL: EXIT_CRITICAL}.get(status, EXIT_OK)


# -- alerts, grouped by cause -----------------------------------------------------------------


class Judged(Protocol):
    """What alerting needs of a check result."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> Status: ...
    @property
    def message(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def blocked_by(self) -> str | None: ...
    @property
    def measurements(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class Alert:
    """One line of `alerts` in results.json: one cause, however many checks it shows in."""

    severity: Status
    check: str  # a check id; `rpc.*` for a cause shared by several RPCs; `run` for Plan C
    message: str
    runbook: str
    checks: tuple[str, ...] = ()
    reason: str | None = None
    blocked: tuple[str, ...] = ()  # checks that did not run because of it
    first_step: str = ""

    def to_json(self) -> dict[str, Any]:
        """The contract's alert object (plus checks, reason, blocked, first_step)."""
        return {
            "severity": self.severity.value,
            "check": self.check,
            "message": self.message,
            "runbook": self.runbook,
            "checks": list(self.checks or (self.check,)),
            "reason": self.reason,
            "blocked": list(self.blocked),
            "first_step": self.first_step,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """An alert object of results.json."""
        try:
            severity = Status(str(data.get("severity")))
        except ValueError:
            severity = Status.WARNING
        return cls(
            severity=severity,
            check=str(data.get("check") or ""),
            message=str(data.get("message") or ""),
            runbook=str(data.get("runbook") or ""),
            checks=tuple(str(c) for c in data.get("checks") or ()),
            reason=data.get("reason") if isinstance(data.get("reason"), str) else None,
            blocked=tuple(str(c) for c in data.get("blocked") or ()),
            first_step=str(data.get("first_step") or ""),
        )


@dataclass
class _Cause:
    severity: Status
    runbook: str
    reason: str | None
    checks: list[Judged] = field(default_factory=list)


def _runbook(check: Judged) -> str:
    if check.reason in MONITOR_REASONS:
        return MONITOR
    return spec_for(check.id).runbook


def _cause_key(check: Judged) -> tuple[str, str, str | None]:
    """RPCs failing or slow for the same reason are one cause, every proven security exposure
    is one (one incident, one page: the probes that proved it are listed inside); any other
    check is its own."""
    spec = spec_for(check.id)
    if spec.id == "rpc":
        return ("rpc", check.status.value, check.reason)
    if spec.security and check.status is Status.CRITICAL and check.reason == "exposed":
        return ("security", check.status.value, check.reason)
    return (check.id, check.status.value, check.reason)


def _rpc_message(cause: _Cause, total: int, thresholds: Any) -> str:
    names = [c.id.removeprefix("rpc.") for c in cause.checks]
    count = f"{len(names)} of {total} v2 RPCs" if total else f"{len(names)} v2 RPCs"
    if cause.reason == "slow":
        latencies = [
            c.measurements["latency_ms"] for c in cause.checks if "latency_ms" in c.measurements
        ]
        key = "rpc_warning_ms" if cause.severity is Status.WARNING else "rpc_info_ms"
        limit = _threshold(thresholds, key)
        over = f"slower than {limit:g} ms ({key})" if limit is not None else "slow"
        spread = ""
        if latencies:
            spread = f" (p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms)"
        which = "" if len(names) == total else f": {', '.join(names)}"
        return f"{count} {over}{spread}{which}"
    if len(cause.checks) == 1:
        return cause.checks[0].message
    details = "; ".join(c.message for c in cause.checks[:5])
    more = f"; and {len(cause.checks) - 5} more" if len(cause.checks) > 5 else ""
    return f"{count} fail: {details}{more}"


def alerts(checks: Sequence[Judged], thresholds: Any = None) -> list[Alert]:
    """One alert per cause, most severe first, plus Plan C when several plans are triggered.

    Checks blocked by a failing check are listed inside its alert instead of alerting on their
    own; slow or failing RPCs that share a reason make one alert that counts them.
    """
    causes: dict[tuple[str, str, str | None], _Cause] = {}
    for check in checks:
        if check.status.rank == 0:
            continue
        key = _cause_key(check)
        if key not in causes:
            causes[key] = _Cause(check.status, _runbook(check), check.reason)
        causes[key].checks.append(check)
    total_rpcs = sum(1 for c in checks if spec_for(c.id).id == "rpc")
    found: list[Alert] = []
    for key, cause in causes.items():
        ids = tuple(c.id for c in cause.checks)
        blocked = tuple(c.id for c in checks if c.blocked_by in ids)
        grouped = (key[0] == "rpc" and (len(ids) > 1 or cause.reason == "slow")) or (
            key[0] == "security" and len(ids) > 1
        )
        if key[0] == "rpc":
            message = _rpc_message(cause, total_rpcs, thresholds)
        elif key[0] == "security" and len(ids) > 1:
            shown = "; ".join(
                f"{c.id}: {c.message.removeprefix('SECURITY: ')}" for c in cause.checks
            )
            message = f"SECURITY: {len(ids)} checks proved anon or cross-user access — {shown}"
        else:
            message = cause.checks[0].message
        if blocked:
            message = f"{message} [{len(blocked)} dependent check(s) blocked]"
        found.append(
            Alert(
                severity=cause.severity,
                check=f"{key[0]}.*" if grouped else ids[0],
                message=str(message),
                runbook=cause.runbook,
                checks=ids,
                reason=cause.reason,
                blocked=blocked,
                first_step=FIRST_STEPS.get(cause.runbook, ""),
            )
        )
    found.sort(key=lambda a: -a.severity.rank)
    plans = {a.runbook for a in found if a.severity is Status.CRITICAL}
    if {PLAN_A, PLAN_B} <= plans:
        found.insert(
            0,
            Alert(
                Status.CRITICAL,
                "run",
                "auth and v2 RPC checks are critical together: consider a complete rollback",
                PLAN_C,
                checks=tuple(i for a in found if a.runbook in (PLAN_A, PLAN_B) for i in a.checks),
                first_step=FIRST_STEPS[PLAN_C],
            ),
        )
    return found


def worst_of(checks: Iterable[Judged]) -> Status:
    """The run status of `checks`."""
    return worst(c.status for c in checks)
