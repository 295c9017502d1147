"""Runs made to order for the rule tables: every check ok unless a test says otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from synthetics.results import CheckResult, RunResult
from synthetics.status import Status

#: The fake clock's epoch.
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)

CHECKS = (
    "auth.health",
    "auth.settings",
    "auth.signup",
    "email.delivery",
    "deeplink.redirect",
    "deeplink.browser",
    "auth.session",
    "auth.signin",
    "rpc.get_my_profile_v2",
    "rpc.create_post_v2",
    "security.anon_rpc",
    "security.direct_table",
    "security.cross_user",
    "cleanup",
)


def at(minutes: float) -> datetime:
    """The fake clock `minutes` after T0."""
    return T0 + timedelta(minutes=minutes)


def check(
    check_id: str, status: str = "ok", reason: str | None = None, **extra: Any
) -> CheckResult:
    """One check result."""
    measurements = extra.pop("measurements", None)
    if measurements is None:
        measurements = {"latency_ms": 100.0} if check_id.startswith("rpc.") else {}
    return CheckResult(
        id=check_id,
        group=check_id.split(".", 1)[0],
        status=Status(status),
        reason=reason,
        measurements=measurements,
        **extra,
    )


def run(
    minutes: float,
    changes: Mapping[str, tuple[Any, ...]] | None = None,
    *,
    trigger: str = "schedule",
    interrupted: bool = False,
    faults: tuple[str, ...] = (),
    run_id: str | None = None,
    target: str = "staging",
) -> RunResult:
    """A run at `at(minutes)`; `changes` maps a check id to (status, reason, blocked_by[, ms])."""
    checks = []
    for check_id in CHECKS:
        if changes and check_id in changes:
            status, reason, blocked_by, *rest = (*changes[check_id], None, None)[:4]
            extra: dict[str, Any] = {"blocked_by": blocked_by}
            if rest and rest[0] is not None:
                extra["measurements"] = {"latency_ms": float(rest[0])}
            checks.append(check(check_id, status, reason, **extra))
        else:
            checks.append(check(check_id))
    return RunResult(
        run_id=run_id or f"run-{minutes:g}",
        target=target,
        started_at=at(minutes),
        finished_at=at(minutes) + timedelta(seconds=20),
        checks=checks,
        interrupted=interrupted,
        trigger=trigger,
        faults=list(faults),
    )


#: A run whose confirmation email never came (what the sandbox's email.drop gives).
EMAIL_LOST: dict[str, tuple[Any, ...]] = {
    "email.delivery": ("critical", None, None),
    "deeplink.redirect": ("blocked", None, "email.delivery"),
    "deeplink.browser": ("blocked", None, "email.delivery"),
    "auth.session": ("blocked", None, "email.delivery"),
}
SIGNUP_BROKEN: dict[str, tuple[Any, ...]] = {
    "auth.signup": ("critical", None, None),
    "email.delivery": ("blocked", None, "auth.signup"),
    "deeplink.redirect": ("blocked", None, "auth.signup"),
    "deeplink.browser": ("blocked", None, "auth.signup"),
    "auth.session": ("blocked", None, "auth.signup"),
}
DEEPLINK_BROKEN: dict[str, tuple[Any, ...]] = {
    "deeplink.redirect": ("critical", None, None),
    "deeplink.browser": ("critical", None, None),
    "auth.session": ("blocked", None, "deeplink.redirect"),
}
RPC_BROKEN: dict[str, tuple[Any, ...]] = {
    "rpc.get_my_profile_v2": ("critical", None, None),
    "rpc.create_post_v2": ("critical", None, None),
}
EXPOSED: dict[str, tuple[Any, ...]] = {"security.anon_rpc": ("critical", "exposed", None)}
