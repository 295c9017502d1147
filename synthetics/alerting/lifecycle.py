"""The alert lifecycle, pure: (previous states, this run's observations, now, policy) →
(new states, notifications).

One subject of one target moves through:

    ok ─fail─▶ pending ─failure_threshold failures in a row─▶ firing ─▶ trigger
                 │ (security findings, firing rules: at once)    │
                 └─a pass─▶ ok                                   ├─ severity rises ─▶ escalate
                                                                 ├─ repeat_interval ─▶ reminder
                               ok ◀─success_threshold passes─────┴─▶ resolve

A run that could not see a subject (blocked, skipped, not selected, interrupted) changes none of
its counters: an alert never resolves because its check stopped running. A maintenance window
(`muted_by`) lets the states move but sends nothing: what would have been sent comes out with
`muted_by` set, and the state remembers it was not told, so an alert still firing after the
window is announced then, and one that was announced before the window gets its resolve notice
once the window is over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from synthetics.alerting.model import AlertState, Kind, Notification, Observation, duration_text
from synthetics.status import Status, worst


@dataclass(frozen=True)
class Policy:
    """The `[alerts]` knobs of the lifecycle."""

    failure_threshold: int = 2
    success_threshold: int = 2
    repeat_interval: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class RunInfo:
    """What a notification says about the run that caused it."""

    run_id: str = ""
    trigger: str = "schedule"
    location: str = ""
    report_url: str = ""


@dataclass
class Step:
    """The lifecycle's answer: every open state of the target, and what to tell."""

    states: dict[str, AlertState] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)


def advance(
    previous: Mapping[str, AlertState],
    observations: Sequence[Observation],
    *,
    target: str,
    now: datetime,
    policy: Policy,
    run: RunInfo | None = None,
    muted_by: str = "",
) -> Step:
    """One run's step for one target (`previous` and the result are keyed by subject)."""
    info = run or RunInfo()
    seen = {o.subject: o for o in observations}
    step = Step()
    for subject in dict.fromkeys([*previous, *seen]):
        before = previous.get(subject) or AlertState(target=target, subject=subject)
        obs = seen.get(subject) or Observation(subject=subject, failing=None)
        state, note = _advance_one(before, obs, now, policy, info, muted_by)
        if state.open:
            step.states[subject] = state
        if note is not None:
            step.notifications.append(note)
    order = {"resolve": 0, "reminder": 1, "trigger": 2, "escalate": 3}
    step.notifications.sort(key=lambda n: (-n.severity.rank, order.get(n.kind, 4), n.subject))
    return step


def _advance_one(
    st: AlertState,
    obs: Observation,
    now: datetime,
    policy: Policy,
    info: RunInfo,
    muted_by: str,
) -> tuple[AlertState, Notification | None]:
    failures, passes = st.failures, st.passes
    if obs.failing is True:
        failures, passes = failures + 1, 0
    elif obs.failing is False:
        failures, passes = 0, passes + 1
    levels: list[Status] = []
    if obs.failing is True and (
        failures >= policy.failure_threshold or obs.immediate or st.phase == "firing"
    ):
        levels.append(obs.severity)
    if obs.rule_level is not None:
        levels.append(obs.rule_level)
    firing_now = worst(levels) if levels else None
    state = st.evolve(failures=failures, passes=passes, updated_at=now)
    if obs.failing is True or obs.rule_level is not None:
        state = state.evolve(
            message=obs.message or obs.rule_message,
            checks=obs.checks or st.checks,
            runbook=obs.runbook or st.runbook,
            first_step=obs.first_step or st.first_step,
        )

    if firing_now is not None and firing_now.rank > 0:
        since = st.since if st.phase != "ok" and st.since is not None else now
        state = state.evolve(phase="firing", severity=firing_now, since=since)
        kind: Kind | None = None
        if st.notified_severity is None:
            kind = "trigger"
        elif firing_now.rank > st.notified_severity.rank:
            kind = "escalate"
        elif st.notified_at is not None and now - st.notified_at >= policy.repeat_interval:
            kind = "reminder"
        if kind is None:
            return state, None
        note = _note(kind, state, obs, now, info, muted_by, previous=st.notified_severity)
        if not muted_by:
            top = (
                firing_now
                if st.notified_severity is None
                else _max(firing_now, st.notified_severity)
            )
            state = state.evolve(notified_severity=top, notified_at=now)
        return state, note

    if st.phase == "firing":
        rule_holds = obs.rule_level is not None
        if passes >= policy.success_threshold and not rule_holds:
            return _resolve(state, st, now, info, muted_by, passes)
        return state, None
    if obs.failing is True:
        since = st.since if st.phase == "pending" and st.since is not None else now
        return state.evolve(phase="pending", severity=obs.severity, since=since), None
    if st.phase == "pending" and obs.failing is False:
        state = state.evolve(phase="ok", since=None, severity=Status.OK)
    if state.phase == "ok" and st.notified_severity is not None:
        # A resolve a maintenance window held back: say it now that the window is over.
        return _resolve(state, st, now, info, muted_by, passes)
    return state, None


def _resolve(
    state: AlertState,
    st: AlertState,
    now: datetime,
    info: RunInfo,
    muted_by: str,
    passes: int,
) -> tuple[AlertState, Notification | None]:
    resolved = state.evolve(phase="ok", severity=Status.OK, failures=0)
    if st.notified_severity is None:
        return resolved.evolve(since=None, channels=()), None
    lasted = f" after {duration_text(now - st.since)}" if st.since is not None else ""
    message = f"{st.subject} recovered{lasted}: {passes} passing run(s) in a row"
    note = Notification(
        kind="resolve",
        target=st.target,
        subject=st.subject,
        severity=st.notified_severity,
        at=now,
        message=message,
        run_id=info.run_id,
        trigger=info.trigger,
        location=info.location,
        checks=st.checks,
        runbook=st.runbook,
        first_step=st.first_step,
        since=st.since,
        report_url=info.report_url,
        muted_by=muted_by,
        channels=() if muted_by else st.channels,
    )
    if muted_by:
        return resolved, note  # still owed: notified_severity and channels stay
    return resolved.evolve(notified_severity=None, notified_at=None, since=None, channels=()), note


def _note(
    kind: Kind,
    state: AlertState,
    obs: Observation,
    now: datetime,
    info: RunInfo,
    muted_by: str,
    *,
    previous: Status | None,
) -> Notification:
    message = obs.message or obs.rule_message or state.message
    if obs.rule_message and obs.message and obs.rule_message not in message:
        message = f"{message}; {obs.rule_message}"
    return Notification(
        kind=kind,
        target=state.target,
        subject=state.subject,
        severity=state.severity,
        at=now,
        message=message,
        run_id=info.run_id,
        trigger=info.trigger,
        location=info.location,
        checks=obs.checks or state.checks,
        blocked=obs.blocked,
        runbook=obs.runbook or state.runbook,
        first_step=obs.first_step or state.first_step,
        value=obs.value,
        threshold=obs.threshold,
        since=state.since,
        previous_severity=previous if kind == "escalate" else None,
        report_url=info.report_url,
        muted_by=muted_by,
    )


def _max(a: Status, b: Status) -> Status:
    return a if a.rank >= b.rank else b
