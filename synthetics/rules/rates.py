"""The runbook's rate rules: pure functions of (a series of runs, now, policy).

Levels (the runbook's "Alerting Thresholds"; most severe first):

| rule | metric (see metrics.py) | info | warning | critical |
|---|---|---|---|---|
| auth_failure | auth failure rate | > 5 % | > 10 % | > 20 % |
| email_delivery | email delivered within the SLA | < 90 % | < 80 % | < 50 % |
| deeplink_failure | deep-link failure rate | | > 5 % | > 10 % |
| rpc_error | v2 RPC error rate (per call) | | > 5 % | > 10 % |
| rpc_time | mean v2 RPC time | > rpc_info_ms (500) | > rpc_warning_ms (1000) | |
| no_registration | time since the last successful registration | | | ≥ 30 min |

A rate rule looks at the runs in (now - window, now]. With fewer than `min_runs` of them it says
"insufficient data: 1 run in 15 min, need 3": never ok, never firing. `no_registration` fires
only when at least `min_runs` registration attempts have failed since the last success (a monitor
that stopped running is not an outage). A rule *fires* at its worst crossed level and *clears*
at the first later evaluation that is ok (insufficient data clears nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from synthetics.rules.metrics import (
    AUTH_FAILURE,
    DEEPLINK_FAILURE,
    EMAIL_DELIVERY,
    METRICS,
    REGISTRATION,
    RPC_ERROR,
    RPC_TIME,
)
from synthetics.rules.policy import Policy, duration_text, percent, plural
from synthetics.rules.window import Series, percentile
from synthetics.status import Status

State = Literal["ok", "firing", "insufficient_data"]
OK: State = "ok"
FIRING: State = "firing"
INSUFFICIENT: State = "insufficient_data"
#: Run ids a firing evaluation lists at most (the newest).
MAX_RUNS = 20


@dataclass(frozen=True)
class Evaluation:
    """What one rule says at one moment."""

    rule: str
    title: str
    at: datetime
    state: State
    level: Status | None = None
    value: float | None = None
    runs: int = 0
    message: str = ""
    #: The runs that show it (the bad ones in the window, newest last).
    evidence: tuple[str, ...] = ()
    #: A real-user figure (the app's own database), not the synthetic runs.
    real: bool = False

    def to_json(self) -> dict[str, object]:
        """The report's rule object."""
        return {
            "rule": self.rule,
            "title": self.title,
            "state": self.state,
            "level": self.level.value if self.level else None,
            "value": self.value,
            "runs": self.runs,
            "at": self.at.isoformat(),
            "message": self.message,
            "evidence": list(self.evidence),
            "real": self.real,
        }


class Rule(Protocol):
    """A rule over a series."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...

    def evaluate(self, series: Series, now: datetime, policy: Policy) -> Evaluation:
        """The rule's state at `now`."""
        ...


@dataclass(frozen=True)
class RateRule:
    """A rate (or mean time) over the window, graded by levels."""

    id: str
    metric: str
    title: str
    worse: Literal["above", "below"]
    #: (status, threshold), most severe first.
    levels: tuple[tuple[Status, float], ...]
    unit: Literal["%", "ms"] = "%"

    def value(self, series: Series, start: datetime, end: datetime) -> tuple[float | None, int]:
        """The figure this rule grades over (start, end], and the runs behind it."""
        totals = series.totals(self.metric, start, end)
        if self.unit == "ms":
            return totals.mean, totals.runs
        kind = METRICS[self.metric].kind
        rate = totals.success_rate if kind == "success" else totals.failure_rate
        return rate, totals.runs

    def show(self, value: float) -> str:
        """`33 %` or `812 ms`."""
        return percent(value) if self.unit == "%" else f"{value:.0f} ms"

    def crossed(self, value: float) -> tuple[Status, float] | None:
        """The most severe level `value` crosses."""
        for status, threshold in self.levels:
            if (value > threshold) if self.worse == "above" else (value < threshold):
                return status, threshold
        return None

    def evaluate(self, series: Series, now: datetime, policy: Policy) -> Evaluation:
        """The rule over (now - window, now]."""
        start = now - policy.window
        value, runs = self.value(series, start, now)
        base = Evaluation(self.id, self.title, now, INSUFFICIENT, value=value, runs=runs)
        span = duration_text(policy.window)
        if runs < policy.min_runs or value is None:
            message = f"insufficient data: {plural(runs, 'run')} in {span}, need {policy.min_runs}"
            return replace(base, message=message)
        figure = self.show(value)
        if self.metric == RPC_TIME:
            p95 = percentile(series.values(RPC_TIME, start, now), 0.95)
            figure += f" (p95 {p95:.0f} ms)" if p95 is not None else ""
        crossed = self.crossed(value)
        if crossed is None:
            return replace(
                base, state=OK, message=f"{self.title} {figure} over {plural(runs, 'run')}"
            )
        status, threshold = crossed
        sign = ">" if self.worse == "above" else "<"
        message = (
            f"{self.title} {figure} {sign} {self.show(threshold)} over "
            f"{plural(runs, 'run')} in {span}: {status.value}"
        )
        evidence = tuple(series.run_ids(self.metric, start, now, bad=True)[-MAX_RUNS:])
        return replace(base, state=FIRING, level=status, message=message, evidence=evidence)


@dataclass(frozen=True)
class NoRegistrationRule:
    """Zero successful registrations for `limit`: critical, once enough attempts have failed."""

    id: str = "no_registration"
    title: str = "time since the last successful registration"
    limit: timedelta = timedelta(minutes=30)
    metric: str = REGISTRATION

    def evaluate(self, series: Series, now: datetime, policy: Policy) -> Evaluation:
        """The time since the last good registration at or before `now`."""
        j = series.index_after(now)
        last_good = series.last_good(self.metric, j)
        attempts = series.totals_between(self.metric, last_good + 1, j)
        base = Evaluation(self.id, self.title, now, INSUFFICIENT, runs=attempts.runs)
        if last_good >= 0:
            since: datetime | None = series.points[last_good].at
        else:
            first = series.first_sample(self.metric, j)
            since = series.points[first].at if first is not None else None
        if since is None:
            return replace(base, message="insufficient data: no registration attempt yet")
        elapsed = now - since
        minutes = elapsed.total_seconds() / 60
        after = "since the last success" if last_good >= 0 else "and no success yet"
        if elapsed < self.limit:
            if last_good < 0:
                message = (
                    f"insufficient data: no successful registration yet, "
                    f"{plural(attempts.bad, 'failed attempt')} in {duration_text(elapsed)}"
                )
                return replace(base, value=minutes, message=message)
            message = f"last successful registration {duration_text(elapsed)} ago"
            return replace(base, state=OK, value=minutes, message=message)
        if attempts.bad >= policy.min_runs:
            evidence = tuple(
                p.run_id for p in series.points[last_good + 1 : j] if p.sample(self.metric).bad
            )[-MAX_RUNS:]
            message = (
                f"no successful registration for {duration_text(elapsed)} "
                f"({plural(attempts.bad, 'failed attempt')} {after}): critical"
            )
            return replace(
                base,
                state=FIRING,
                level=Status.CRITICAL,
                value=minutes,
                message=message,
                evidence=evidence,
            )
        message = (
            f"insufficient data: {plural(attempts.bad, 'failed registration attempt')} {after} "
            f"{duration_text(elapsed)} ago, need {policy.min_runs}"
        )
        return replace(base, value=minutes, message=message)


def rules(thresholds: Mapping[str, float] | None = None) -> tuple[Rule, ...]:
    """THE rule table; RPC time levels follow `[thresholds]` rpc_info_ms / rpc_warning_ms."""
    limits = thresholds or {}
    info_ms = float(limits.get("rpc_info_ms", 500))
    warning_ms = float(limits.get("rpc_warning_ms", 1000))
    c, w, i = Status.CRITICAL, Status.WARNING, Status.INFO
    table: tuple[Rule, ...] = (
        RateRule("auth_failure", AUTH_FAILURE, "auth failure rate", "above",
                 ((c, 0.20), (w, 0.10), (i, 0.05))),
        RateRule("email_delivery", EMAIL_DELIVERY, "email delivery within the SLA", "below",
                 ((c, 0.50), (w, 0.80), (i, 0.90))),
        RateRule("deeplink_failure", DEEPLINK_FAILURE, "deep-link failure rate", "above",
                 ((c, 0.10), (w, 0.05))),
        RateRule("rpc_error", RPC_ERROR, "v2 RPC error rate", "above", ((c, 0.10), (w, 0.05))),
        RateRule("rpc_time", RPC_TIME, "mean v2 RPC time", "above",
                 ((w, warning_ms), (i, info_ms)), unit="ms"),
        NoRegistrationRule(),
    )  # fmt: skip
    return table


def evaluate_all(
    series: Series, now: datetime, policy: Policy, table: Sequence[Rule] | None = None
) -> list[Evaluation]:
    """Every rule at `now`."""
    return [rule.evaluate(series, now, policy) for rule in table or rules()]


@dataclass
class Incident:
    """A stretch during which a rule fired: since when, its worst level, when it cleared."""

    rule: str
    title: str
    since: datetime
    level: Status
    message: str
    cleared: datetime | None = None
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The report's incident object."""
        return {
            "rule": self.rule,
            "title": self.title,
            "level": self.level.value,
            "since": self.since.isoformat(),
            "cleared": self.cleared.isoformat() if self.cleared else None,
            "message": self.message,
            "evidence": list(self.evidence),
        }


def timeline(
    rule: Rule, series: Series, policy: Policy, moments: Iterable[datetime]
) -> list[Evaluation]:
    """The rule evaluated at each moment (usually each run's start, then now)."""
    return [rule.evaluate(series, at, policy) for at in moments]


def incidents(evaluations: Iterable[Evaluation]) -> list[Incident]:
    """Fired-and-cleared stretches of one rule's timeline, oldest first."""
    found: list[Incident] = []
    open_: Incident | None = None
    for ev in evaluations:
        if ev.state == FIRING and ev.level is not None:
            if open_ is None:
                open_ = Incident(ev.rule, ev.title, ev.at, ev.level, ev.message)
                found.append(open_)
            elif ev.level.rank > open_.level.rank:
                open_.level, open_.message = ev.level, ev.message
            for run_id in ev.evidence:
                if run_id not in open_.evidence and len(open_.evidence) < 2 * MAX_RUNS:
                    open_.evidence.append(run_id)
        elif ev.state == OK and open_ is not None:
            open_.cleared = ev.at
            open_ = None
    return found
