"""The runbook's stability verdict (pure): is the last day stable, is the migration done?

A day (the 24 hours ending at a moment) is **stable** when, over its runs:

| figure | needs |
|---|---|
| registration success | > 95 % |
| email delivery within the SLA | > 90 % |
| deep-link success (1 - failure rate) | > 98 % |
| v2 RPC error rate | < 2 % |
| mean v2 RPC time | < 500 ms (rpc_info_ms) |
| rollbacks | none triggered at any run of the day |
| registration success of real users (with a db_url) | > 95 % (see real_users.py) |

**unknown** when the day is not covered: fewer runs than `coverage` x the expected runs (24 h /
`expected_interval`), or a figure without a single sample; gaps are never taken for stability.
**not_stable** when any figure is out of range or a rollback was triggered (even if coverage is
low: a seen failure is a fact). The week is **stable** (the migration is done) after 7 consecutive
stable days ending now; **not_stable** if one of them was not; otherwise **unknown**.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from synthetics.rules.metrics import (
    DEEPLINK_FAILURE,
    EMAIL_DELIVERY,
    REGISTRATION,
    RPC_ERROR,
    RPC_TIME,
)
from synthetics.rules.policy import Policy, percent, plural
from synthetics.rules.rollback import Rollback
from synthetics.rules.window import Series

Verdict = Literal["stable", "not_stable", "unknown"]
REGISTRATION_STABLE = 0.95
DAY = timedelta(hours=24)
WEEK_DAYS = 7


@dataclass(frozen=True)
class Target:
    """One figure of the 24-hour window and the range it must stay in."""

    metric: str
    title: str
    worse: Literal["above", "below"]
    limit: float
    unit: Literal["%", "ms"] = "%"
    #: Judge 1 - the rate (deep-link success from the failure rate).
    invert: bool = False


def targets(thresholds: Mapping[str, float] | None = None) -> tuple[Target, ...]:
    """The runbook's "24-Hour Stability Window"; the response time follows rpc_info_ms."""
    response = float((thresholds or {}).get("rpc_info_ms", 500))
    return (
        Target(REGISTRATION, "registration success", "below", 0.95),
        Target(EMAIL_DELIVERY, "email delivery", "below", 0.90),
        Target(DEEPLINK_FAILURE, "deep-link success", "below", 0.98, invert=True),
        Target(RPC_ERROR, "v2 RPC error rate", "above", 0.02),
        Target(RPC_TIME, "average response time", "above", response, unit="ms"),
    )


@dataclass(frozen=True)
class DayVerdict:
    """The verdict over (end - 24 h, end]."""

    verdict: Verdict
    start: datetime
    end: datetime
    reasons: tuple[str, ...]
    figures: Mapping[str, float | None] = field(default_factory=dict)
    runs: int = 0
    expected: int = 0

    def to_json(self) -> dict[str, object]:
        """The report's `verdict.day`."""
        return {
            "verdict": self.verdict,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "runs": self.runs,
            "expected_runs": self.expected,
            "reasons": list(self.reasons),
            "figures": dict(self.figures),
        }


@dataclass(frozen=True)
class WeekVerdict:
    """Seven consecutive days ending at `end`."""

    verdict: Verdict
    end: datetime
    days: tuple[DayVerdict, ...]
    reasons: tuple[str, ...]

    @property
    def stable_days(self) -> int:
        """Consecutive stable days ending now."""
        count = 0
        for day in self.days:
            if day.verdict != "stable":
                break
            count += 1
        return count

    def to_json(self) -> dict[str, object]:
        """The report's `verdict.week`."""
        return {
            "verdict": self.verdict,
            "end": self.end.isoformat(),
            "consecutive_stable_days": self.stable_days,
            "reasons": list(self.reasons),
            "days": [{"end": d.end.isoformat(), "verdict": d.verdict} for d in self.days],
        }


def _figure(series: Series, target: Target, start: datetime, end: datetime) -> float | None:
    totals = series.totals(target.metric, start, end)
    if target.unit == "ms":
        return totals.mean
    if target.metric == RPC_ERROR or target.invert:
        rate = totals.failure_rate
        return None if rate is None else (1 - rate if target.invert else rate)
    return totals.success_rate


def day(
    series: Series,
    end: datetime,
    policy: Policy,
    *,
    rollback: Rollback | None = None,
    thresholds: Mapping[str, float] | None = None,
    real_registration: float | None = None,
) -> DayVerdict:
    """The 24-hour verdict ending at `end`; `real_registration` is the app's own registration
    success rate over the day (real users), judged like the synthetic one when given."""
    start = end - DAY
    i, j = series.span(start, end)
    runs = j - i
    expected = max(1, int(DAY / policy.expected_interval))
    failed: list[str] = []
    unknown: list[str] = []
    figures: dict[str, float | None] = {}
    for target in targets(thresholds):
        value = _figure(series, target, start, end)
        figures["deeplink_success" if target.invert else target.metric] = value
        if value is None:
            unknown.append(f"no {target.title} samples")
            continue
        bad = value <= target.limit if target.worse == "below" else value >= target.limit
        if bad:
            shown = percent(value) if target.unit == "%" else f"{value:.0f} ms"
            limit = percent(target.limit) if target.unit == "%" else f"{target.limit:.0f} ms"
            sign = ">" if target.worse == "below" else "<"
            failed.append(f"{target.title} {shown}, needs {sign} {limit}")
    if real_registration is not None:
        figures["real_users.registration"] = real_registration
        if real_registration <= REGISTRATION_STABLE:
            failed.append(
                f"registration success (real users) {percent(real_registration)}, needs > 95 %"
            )
    judge = rollback or Rollback(series, policy)
    plans = [d.plan for d in (judge.at_index(n) for n in range(i, j)) if d is not None]
    if plans:
        failed.append(f"rollback triggered ({', '.join(dict.fromkeys(plans))})")
    needed = policy.coverage * expected
    if runs < needed:
        unknown.insert(
            0,
            f"{plural(runs, 'run')} of {expected} expected ({percent(runs / expected)}); "
            f"a verdict needs {percent(policy.coverage)}",
        )
    verdict: Verdict = "not_stable" if failed else ("unknown" if unknown else "stable")
    reasons = failed + unknown if failed else unknown
    if verdict == "stable":
        reasons = [f"every figure in range over {plural(runs, 'run')}, no rollback triggered"]
    return DayVerdict(verdict, start, end, tuple(reasons), figures, runs, expected)


def week(
    series: Series,
    end: datetime,
    policy: Policy,
    *,
    thresholds: Mapping[str, float] | None = None,
) -> WeekVerdict:
    """Seven consecutive days ending at `end`: stable (done), not_stable, or unknown."""
    judge = Rollback(series, policy)
    days = tuple(
        day(series, end - n * DAY, policy, rollback=judge, thresholds=thresholds)
        for n in range(WEEK_DAYS)
    )
    stable = sum(1 for d in days if d.verdict == "stable")
    bad = [d for d in days if d.verdict == "not_stable"]
    if stable == WEEK_DAYS:
        return WeekVerdict("stable", end, days, ("7 consecutive stable days: migration done",))
    if bad:
        reasons = tuple(
            f"day ending {d.end:%Y-%m-%d %H:%M} not stable: {'; '.join(d.reasons)}" for d in bad
        )
        return WeekVerdict("not_stable", end, days, reasons)
    reasons = (
        f"{stable} of {WEEK_DAYS} days stable; the others are unknown",
        *(
            f"day ending {d.end:%Y-%m-%d %H:%M}: {'; '.join(d.reasons)}"
            for d in days
            if d.verdict == "unknown"
        ),
    )
    return WeekVerdict("unknown", end, days, reasons)
