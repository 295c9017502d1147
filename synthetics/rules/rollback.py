"""The runbook's "Immediate Rollback Triggers" (pure): which plan, since when, shown by which runs.

| trigger | condition | held for | plan |
|---|---|---|---|
| registration | registration success < 50 % | 15 min | Plan A |
| email | email delivery (delivered at all) < 30 % | 10 min | Plan A |
| deeplink | deep-link failure > 30 % | 5 min | Plan A |
| rpc | v2 RPC errors > 30 % | 5 min | Plan B |
| security | a security check proved access (see metrics.py) | at once | Security Incident |

Several plans at once (A, B, security) → Plan C, naming the plans it combines.

How "held for" is judged. At each run, the trigger's metric is taken over the rule window
ending there (with at least `min_runs` runs in it, else the condition is unknown, which breaks a
streak). The condition has held *since* the first run of the newest unbroken streak of runs where
it was true, and for as long as that streak's newest run is after its first: the duration is
measured between observations, never extrapolated from one bad run. A decision at `now` needs a
streak whose newest run lies within the window before `now`; older evidence has gone stale.
The security trigger holds from the first run that proved access until a run whose security
checks all decided and proved nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from synthetics.catalog import FIRST_STEPS, PLAN_A, PLAN_B, PLAN_C, SECURITY
from synthetics.rules.metrics import (
    DEEPLINK_FAILURE,
    EMAIL_DELIVERED,
    METRICS,
    REGISTRATION,
    RPC_ERROR,
)
from synthetics.rules.policy import Policy, duration_text, percent
from synthetics.rules.window import Series

MAX_RUNS = 20


@dataclass(frozen=True)
class Trigger:
    """One rollback trigger."""

    id: str
    metric: str
    title: str
    worse: Literal["above", "below"]
    threshold: float
    duration: timedelta
    plan: str

    def holds(self, value: float) -> bool:
        """Whether `value` meets the trigger's condition."""
        return value > self.threshold if self.worse == "above" else value < self.threshold


TRIGGERS = (
    Trigger("registration", REGISTRATION, "registration success", "below", 0.50,
            timedelta(minutes=15), PLAN_A),
    Trigger("email", EMAIL_DELIVERED, "email delivery", "below", 0.30,
            timedelta(minutes=10), PLAN_A),
    Trigger("deeplink", DEEPLINK_FAILURE, "deep-link failure", "above", 0.30,
            timedelta(minutes=5), PLAN_A),
    Trigger("rpc", RPC_ERROR, "v2 RPC errors", "above", 0.30, timedelta(minutes=5), PLAN_B),
)  # fmt: skip


@dataclass(frozen=True)
class Held:
    """A trigger whose condition holds: since when, for how long, what it reads, which runs."""

    trigger: str
    plan: str
    since: datetime
    held: timedelta
    message: str
    runs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The report's trigger object."""
        return {
            "trigger": self.trigger,
            "plan": self.plan,
            "since": self.since.isoformat(),
            "held_s": round(self.held.total_seconds()),
            "message": self.message,
            "runs": list(self.runs),
        }


@dataclass(frozen=True)
class Decision:
    """Roll back: the plan, its first steps, since when, and the triggers that hold."""

    plan: str
    first_steps: str
    since: datetime
    triggers: tuple[Held, ...] = field(default_factory=tuple)

    @property
    def plans(self) -> tuple[str, ...]:
        """The plans the triggers call for (Plan C combines several)."""
        return tuple(dict.fromkeys(h.plan for h in self.triggers))

    def to_json(self) -> dict[str, object]:
        """The report's `rollback` object (contract: plan and since)."""
        return {
            "plan": self.plan,
            "since": self.since.isoformat(),
            "first_steps": self.first_steps,
            "plans": list(self.plans),
            "triggers": [h.to_json() for h in self.triggers],
        }


@dataclass(frozen=True)
class _Streak:
    start: int  # index of the streak's first point
    end: int  # index of its newest point


def _rate(series: Series, trigger: Trigger, i: int, policy: Policy) -> float | None:
    """The trigger's metric over the window ending at point i (None: too few runs)."""
    end = series.points[i].at
    totals = series.totals(trigger.metric, end - policy.window, end)
    if totals.runs < policy.min_runs:
        return None
    kind = METRICS[trigger.metric].kind
    return totals.success_rate if kind == "success" else totals.failure_rate


def _streaks(series: Series, trigger: Trigger, policy: Policy) -> list[_Streak | None]:
    """For each point, the unbroken streak of true conditions ending there (None if false)."""
    found: list[_Streak | None] = []
    current: _Streak | None = None
    for i, p in enumerate(series.points):
        if not p.sample(trigger.metric).total:
            found.append(current)  # says nothing of this metric: neither breaks nor extends
            continue
        value = _rate(series, trigger, i, policy)
        current = (
            _Streak(current.start if current else i, i)
            if (value is not None and trigger.holds(value))
            else None
        )
        found.append(current)
    return found


def _security_streaks(series: Series) -> list[_Streak | None]:
    found: list[_Streak | None] = []
    current: _Streak | None = None
    for i, p in enumerate(series.points):
        if p.exposed:
            current = _Streak(current.start if current else i, i)
        elif p.security_checked:
            current = None
        found.append(current)
    return found


def _held(series: Series, trigger: Trigger, streak: _Streak, policy: Policy) -> Held | None:
    since, last = series.points[streak.start].at, series.points[streak.end].at
    if last - since < trigger.duration:
        return None
    value = _rate(series, trigger, streak.end, policy)
    shown = percent(value) if value is not None else "?"
    sign = "<" if trigger.worse == "below" else ">"
    message = (
        f"{trigger.title} {shown} {sign} {percent(trigger.threshold)} for "
        f"{duration_text(last - since)} (needs {duration_text(trigger.duration)})"
    )
    # The runs that show it: the bad ones from the window that first met the condition on.
    evidence = _Streak(series.index_after(since - policy.window), streak.end)
    runs = _newest(series, evidence, lambda n: bool(series.points[n].sample(trigger.metric).bad))
    return Held(trigger.id, trigger.plan, since, last - since, message, runs)


def _security_held(series: Series, streak: _Streak) -> Held:
    since = series.points[streak.start].at
    runs = _newest(series, streak, lambda n: bool(series.points[n].exposed))
    checks = sorted({c for n in range(streak.end, streak.start - 1, -1)[:MAX_RUNS]
                     for c in series.points[n].exposed})  # fmt: skip
    message = f"a security check proved access: {', '.join(checks)} (act immediately)"
    last = series.points[streak.end].at
    return Held("security", SECURITY, since, last - since, message, runs)


def _newest(series: Series, streak: _Streak, shows: Callable[[int], bool]) -> tuple[str, ...]:
    """The run ids of the streak's newest MAX_RUNS points that show the condition, oldest first."""
    found: list[str] = []
    for n in range(streak.end, streak.start - 1, -1):
        if shows(n):
            found.append(series.points[n].run_id)
            if len(found) == MAX_RUNS:
                break
    return tuple(reversed(found))


def _decide(held: Sequence[Held]) -> Decision | None:
    if not held:
        return None
    plans = list(dict.fromkeys(h.plan for h in held))
    if len(plans) > 1:
        # Plan C from the moment the second plan joined.
        joined = sorted(min(h.since for h in held if h.plan == p) for p in plans)[1]
        steps = FIRST_STEPS[PLAN_C]
        if SECURITY in plans:
            steps = f"{FIRST_STEPS[SECURITY]}; then {steps}"
        return Decision(PLAN_C, steps, joined, tuple(held))
    return Decision(plans[0], FIRST_STEPS[plans[0]], min(h.since for h in held), tuple(held))


class Rollback:
    """The rollback triggers over one series, decided at any run or at `now`."""

    def __init__(
        self, series: Series, policy: Policy, triggers: Sequence[Trigger] = TRIGGERS
    ) -> None:
        self.series = series
        self.policy = policy
        self._triggers = list(triggers)
        self._streaks = [_streaks(series, t, policy) for t in self._triggers]
        self._security = _security_streaks(series)

    def at_index(self, i: int) -> Decision | None:
        """The decision as of point i."""
        held: list[Held] = []
        for trigger, streaks in zip(self._triggers, self._streaks, strict=True):
            streak = streaks[i]
            if streak is not None:
                found = _held(self.series, trigger, streak, self.policy)
                if found is not None:
                    held.append(found)
        security = self._security[i]
        if security is not None:
            held.append(_security_held(self.series, security))
        return _decide(held)

    def at(self, now: datetime) -> Decision | None:
        """The decision at `now`: from the newest run at or before it, if not stale."""
        j = self.series.index_after(now) - 1
        if j < 0 or now - self.series.points[j].at > self.policy.window:
            return None
        return self.at_index(j)

    def decisions(self) -> list[Decision | None]:
        """The decision as of every point, oldest first."""
        return [self.at_index(i) for i in range(len(self.series.points))]


def decide(series: Series, now: datetime, policy: Policy) -> Decision | None:
    """Whether to roll back at `now`, and how (None: no trigger holds)."""
    return Rollback(series, policy).at(now)
