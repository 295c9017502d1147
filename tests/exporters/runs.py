"""Runs to export: a whole Mamapace-shaped run, failed, slowed or interrupted where a test says."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from synthetics.results import CheckResult, RunResult
from synthetics.status import Status

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
#: promtool's unit tests start their clock at the Unix epoch: runs for them start there too.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RPCS = tuple(f"fn{n:02d}_v2" for n in range(20))
CHAIN = ("auth.signup", "email.delivery", "deeplink.redirect", "auth.session")
PLAIN = (
    "auth.health",
    "auth.settings",
    "auth.signup",
    "email.delivery",
    "deeplink.redirect",
    "deeplink.browser",
    "deeplink.app_links",
    "auth.session",
    "auth.signin",
)
SECURITY = ("security.anon_rpc", "security.direct_table", "security.cross_user")


def a_run(
    minute: float = 0,
    *,
    target: str = "staging",
    location: str = "eu",
    failed: Iterable[str] = (),
    statuses: Mapping[str, Status] | None = None,
    reasons: Mapping[str, str] | None = None,
    blocked: Iterable[str] = (),
    email_s: float | None = 0.8,
    rpc_ms: float | Mapping[str, float] = 120.0,
    interrupted: bool = False,
    trigger: str = "schedule",
    start: datetime = START,
) -> RunResult:
    """A run `minute` minutes after START: every check ok unless named `failed` (critical),
    `blocked` (by the first failed one), or given a status or reason."""
    failed, blocked = set(failed), set(blocked)
    statuses, reasons = dict(statuses or {}), dict(reasons or {})
    checks = []
    for check_id in (*PLAIN, *(f"rpc.{f}" for f in RPCS), *SECURITY, "cleanup"):
        status = Status.OK
        if check_id in failed:
            status = Status.CRITICAL
        elif check_id in blocked:
            status = Status.BLOCKED
        status = statuses.get(check_id, status)
        measurements: dict[str, float] = {}
        if status not in (Status.BLOCKED, Status.SKIPPED):
            if check_id == "email.delivery" and email_s is not None:
                measurements["delivery_s"] = email_s
            elif check_id.startswith("rpc."):
                latency = rpc_ms if isinstance(rpc_ms, int | float) else rpc_ms.get(check_id, 120.0)
                measurements["latency_ms"] = float(latency)
            elif check_id.startswith(("auth.", "deeplink.redirect")):
                measurements["latency_ms"] = 40.0
        checks.append(
            CheckResult(
                check_id,
                check_id.split(".", 1)[0],
                status,
                duration_ms=50.0,
                measurements=measurements,
                reason=reasons.get(check_id),
                blocked_by=sorted(failed)[0] if status is Status.BLOCKED and failed else None,
            )
        )
    started = start + timedelta(minutes=minute)
    return RunResult(
        run_id=f"run-{minute:g}",
        target=target,
        started_at=started,
        finished_at=started + timedelta(seconds=20),
        checks=checks,
        interrupted=interrupted,
        trigger=trigger,
        location=location,
        version="0.1.0",
    )


def signup_failed(minute: float, **extra: object) -> RunResult:
    """Sign-up refused: the rest of the registration chain is blocked by it."""
    return a_run(
        minute,
        failed={"auth.signup"},
        blocked={"email.delivery", "deeplink.redirect", "deeplink.browser", "auth.session"},
        **extra,  # type: ignore[arg-type]
    )
