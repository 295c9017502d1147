"""Every rule over one series at once: the current states, the incidents, the rollback, the verdict.

`judge(runs, now, policy)` is what the run-finishing pipeline calls after recording a run (with
the history's recent runs) and what `synthetics report` renders. Pure: the clock is `now`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from synthetics.results import RunResult
from synthetics.rules import metrics, real_users
from synthetics.rules.policy import Policy
from synthetics.rules.rates import Evaluation, Incident, Rule, incidents, rules, timeline
from synthetics.rules.rollback import Decision, Rollback
from synthetics.rules.stability import DayVerdict, WeekVerdict, day, week
from synthetics.rules.window import Series
from synthetics.status import Status


@dataclass(frozen=True)
class RollbackIncident:
    """A stretch during which a rollback was called for."""

    plan: str
    since: datetime
    cleared: datetime | None
    decision: Decision

    def to_json(self) -> dict[str, object]:
        """The report's rollback incident object."""
        return {
            "plan": self.plan,
            "since": self.since.isoformat(),
            "cleared": self.cleared.isoformat() if self.cleared else None,
            "plans": list(self.decision.plans),
        }


@dataclass(frozen=True)
class Judgement:
    """What the runbook says about a series at `now`."""

    now: datetime
    series: Series
    current: tuple[Evaluation, ...]
    incidents: tuple[Incident, ...]
    rollback: Decision | None
    rollbacks: tuple[RollbackIncident, ...]
    day: DayVerdict
    week: WeekVerdict
    #: The app's own figures (from its database), when the target has a db_url.
    real: real_users.RealUsers | None = None

    @property
    def firing(self) -> list[Evaluation]:
        """Rules firing now, most severe first."""
        found = [e for e in self.current if e.state == "firing"]
        return sorted(found, key=lambda e: -(e.level or Status.OK).rank)


def rollback_incidents(judge: Rollback) -> list[RollbackIncident]:
    """Stretches of consecutive runs at which a rollback was called for (by plan)."""
    found: list[RollbackIncident] = []
    open_: RollbackIncident | None = None
    for point, decision in zip(judge.series.points, judge.decisions(), strict=True):
        if decision is not None and (open_ is None or open_.plan != decision.plan):
            if open_ is not None:
                found[-1] = RollbackIncident(open_.plan, open_.since, point.at, open_.decision)
            open_ = RollbackIncident(decision.plan, decision.since, None, decision)
            found.append(open_)
        elif decision is None and open_ is not None:
            found[-1] = RollbackIncident(open_.plan, open_.since, point.at, open_.decision)
            open_ = None
    return found


def judge(
    runs: Iterable[RunResult],
    now: datetime,
    policy: Policy,
    *,
    target: str | None = None,
    triggers: Collection[str] | None = metrics.DEFAULT_TRIGGERS,
    rehearsals: bool = False,
    thresholds: Mapping[str, float] | None = None,
    table: tuple[Rule, ...] | None = None,
    real: real_users.RealUsers | None = None,
) -> Judgement:
    """The runbook's judgement of one series (a target's scheduled runs by default) at `now`,
    with the app's own figures (`real`) next to the synthetic ones when given."""
    chosen = metrics.select(runs, target=target, triggers=triggers, rehearsals=rehearsals)
    series = Series(metrics.points(r for r in chosen if r.started_at <= now))
    table = table or rules(thresholds)
    moments = [*series.times, now]
    found: list[Incident] = []
    current: list[Evaluation] = []
    for rule in table:
        evaluations = timeline(rule, series, policy, moments)
        current.append(evaluations[-1])
        found.extend(incidents(evaluations))
    found.sort(key=lambda i: i.since)
    if real is not None:
        current.extend(real_users.evaluate(real))
    roll = Rollback(series, policy)
    return Judgement(
        now=now,
        series=series,
        current=tuple(current),
        incidents=tuple(found),
        rollback=roll.at(now),
        rollbacks=tuple(rollback_incidents(roll)),
        day=day(
            series,
            now,
            policy,
            rollback=roll,
            thresholds=thresholds,
            real_registration=real_users.registration_rate(real) if real else None,
        ),
        week=week(series, now, policy, thresholds=thresholds),
        real=real,
    )
