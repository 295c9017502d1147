"""How each runbook metric is computed from one run's check results (pure).

A run gives each metric a `Sample`: `good` and `bad` counts (and, for times, values). The rules
add samples over a window. What counts:

**Never counted** (the check says nothing about the app, so it is neither good nor bad):
a check `blocked` (its prerequisite failed, or the run was interrupted: `blocked_by` names it) or
`skipped`; a check whose reason says the *monitor* could not decide (`inconclusive`,
`check_error`, `inbox_error`); and in a run with `interrupted: true`, any failure (the
interruption may have caused it; what passed before it still counts as good).

Per metric (`checks` → when one run counts, and when it is bad):

- `auth_failure`: auth.health, auth.signup, auth.session, auth.signin → once a run if any
  counted; bad when any is critical (a 429 `email_quota` is a warning: not an auth failure).
- `registration`: the chain auth.signup → email.delivery → deeplink.redirect → auth.session →
  once a run when every link reached a verdict, or a link failed; bad when a link is critical,
  good only when all passed (ok, info, warning). A sign-up refused for `email_quota` is not
  counted.
- `email_delivery`: email.delivery → once; bad when not delivered within the SLA (critical, or a
  warning `late`).
- `email_delivered`: email.delivery → once; bad only when not delivered at all (critical).
- `deeplink_failure`: deeplink.redirect, deeplink.browser, deeplink.app_links → once a run if any
  counted; bad when any is critical.
- `rpc_error`: every rpc.* → once per call; bad when the call is critical.
- `rpc_time`: every rpc.* that has `latency_ms` and is not critical → its latency (mean, p95).

Security (for the rollback trigger, not a rate): a check of group `security` whose status is
critical and whose reason is not `inconclusive` or `check_error` *proved access*.

A sandbox fault rehearsal (a run with `faults`) is kept out of the real series unless asked
(`rehearsals=True`), and so are runs of other triggers: the default series is `schedule` alone,
so release, manual and CI runs never page the on-call engineer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from synthetics.results import CheckResult, RunResult
from synthetics.status import Status

AUTH_FAILURE = "auth_failure"
REGISTRATION = "registration"
EMAIL_DELIVERY = "email_delivery"
EMAIL_DELIVERED = "email_delivered"
DEEPLINK_FAILURE = "deeplink_failure"
RPC_ERROR = "rpc_error"
RPC_TIME = "rpc_time"

#: Reasons that say the monitor could not decide: such a result is not counted either way.
UNDECIDED = frozenset({"inconclusive", "check_error", "inbox_error"})
#: Reasons of a security check that did not prove access, even when critical.
NOT_PROOF = frozenset({"inconclusive", "check_error"})

AUTH_CHECKS = ("auth.health", "auth.signup", "auth.session", "auth.signin")
REGISTRATION_CHAIN = ("auth.signup", "email.delivery", "deeplink.redirect", "auth.session")
DEEPLINK_CHECKS = ("deeplink.redirect", "deeplink.browser", "deeplink.app_links")
DEFAULT_TRIGGERS = ("schedule",)


@dataclass(frozen=True)
class Metric:
    """A runbook metric: what it measures and which way is bad."""

    id: str
    title: str
    #: "success" rates (lower is worse), "failure" rates (higher is worse) or "time" (ms).
    kind: str


METRICS: dict[str, Metric] = {
    m.id: m
    for m in (
        Metric(AUTH_FAILURE, "auth failure rate", "failure"),
        Metric(REGISTRATION, "registration success rate", "success"),
        Metric(EMAIL_DELIVERY, "email delivery within the SLA", "success"),
        Metric(EMAIL_DELIVERED, "email delivery rate", "success"),
        Metric(DEEPLINK_FAILURE, "deep-link failure rate", "failure"),
        Metric(RPC_ERROR, "v2 RPC error rate", "failure"),
        Metric(RPC_TIME, "v2 RPC time", "time"),
    )
}


@dataclass(frozen=True)
class Sample:
    """One run's contribution to a metric."""

    good: int = 0
    bad: int = 0
    values: tuple[float, ...] = ()

    @property
    def total(self) -> int:
        """Results counted."""
        return self.good + self.bad


@dataclass(frozen=True)
class Point:
    """One run as the rules see it: when, which run, and its sample for every metric."""

    at: datetime
    run_id: str
    samples: Mapping[str, Sample] = field(default_factory=dict)
    #: Security checks that proved access in this run (empty: none did).
    exposed: tuple[str, ...] = ()
    #: Whether the run's security checks reached a verdict (ran and decided).
    security_checked: bool = False
    #: A real-user figure (the app's own database) rather than a synthetic run.
    real: bool = False

    def sample(self, metric: str) -> Sample:
        """This point's sample for `metric` (empty when it has none)."""
        return self.samples.get(metric, _EMPTY)


_EMPTY = Sample()
_FAILED = Status.CRITICAL


def _counted(check: CheckResult | None, interrupted: bool) -> bool:
    if check is None or check.status in (Status.BLOCKED, Status.SKIPPED):
        return False
    if check.reason in UNDECIDED:
        return False
    return not (interrupted and check.status is _FAILED)


def _any_failed(checks: list[CheckResult]) -> Sample:
    if not checks:
        return _EMPTY
    return Sample(bad=1) if any(c.status is _FAILED for c in checks) else Sample(good=1)


def _registration(run: RunResult, every: Mapping[str, CheckResult]) -> Sample:
    signup = every.get("auth.signup")
    if signup is not None and signup.reason == "email_quota":
        return _EMPTY
    for check_id in REGISTRATION_CHAIN:
        check = every.get(check_id)
        if check is not None and check.status is _FAILED and _counted(check, run.interrupted):
            return Sample(bad=1)
        if not _counted(check, run.interrupted):
            return _EMPTY
    return Sample(good=1)


def point(run: RunResult) -> Point:
    """What one run tells every metric (see the module's table)."""
    stop = run.interrupted
    every = {c.id: c for c in run.checks}
    counted = [c for c in run.checks if _counted(c, stop)]
    by_id = {c.id: c for c in counted}
    samples: dict[str, Sample] = {
        AUTH_FAILURE: _any_failed([by_id[i] for i in AUTH_CHECKS if i in by_id]),
        REGISTRATION: _registration(run, every),
        DEEPLINK_FAILURE: _any_failed([by_id[i] for i in DEEPLINK_CHECKS if i in by_id]),
    }
    email = by_id.get("email.delivery")
    if email is not None:
        delivered = email.status is not _FAILED
        in_sla = delivered and email.reason != "late"
        samples[EMAIL_DELIVERY] = Sample(good=int(in_sla), bad=int(not in_sla))
        samples[EMAIL_DELIVERED] = Sample(good=int(delivered), bad=int(not delivered))
    rpcs = [c for c in counted if c.id.startswith("rpc.")]
    if rpcs:
        bad = sum(1 for c in rpcs if c.status is _FAILED)
        samples[RPC_ERROR] = Sample(good=len(rpcs) - bad, bad=bad)
        times = tuple(
            c.measurements["latency_ms"]
            for c in rpcs
            if c.status is not _FAILED and "latency_ms" in c.measurements
        )
        if times:
            samples[RPC_TIME] = Sample(good=len(times), values=times)
    security = [c for c in run.checks if c.group == "security"]
    exposed = tuple(c.id for c in security if c.status is _FAILED and c.reason not in NOT_PROOF)
    checked = any(_counted(c, stop) for c in security)
    return Point(
        at=run.started_at,
        run_id=run.run_id,
        samples={k: v for k, v in samples.items() if v.total},
        exposed=exposed,
        security_checked=checked or bool(exposed),
    )


def select(
    runs: Iterable[RunResult],
    *,
    target: str | None = None,
    triggers: Collection[str] | None = DEFAULT_TRIGGERS,
    rehearsals: bool = False,
) -> list[RunResult]:
    """The runs of one series: a target, some triggers (None: all), rehearsals only if asked."""
    chosen = [
        r
        for r in runs
        if (target is None or r.target == target)
        and (triggers is None or r.trigger in triggers)
        and (rehearsals or not r.faults)
    ]
    return sorted(chosen, key=lambda r: r.started_at)


def points(runs: Iterable[RunResult]) -> list[Point]:
    """Every run as a point, oldest first."""
    return sorted((point(r) for r in runs), key=lambda p: p.at)
