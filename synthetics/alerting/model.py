"""What alerting reasons about: observations of a run, alert states, notifications.

    Observation   what one run says about one alert subject (a cause: a check, `rpc.*`, a rule)
    AlertState    where a subject of a target stands across runs (pending, firing, ok)
    Notification  something to tell people: trigger, escalate, reminder, resolve (or a test)

A *subject* is a cause, as `synthetics.severity.alerts` groups them: `email.delivery`,
`rpc.*`, `security.anon_rpc`, `run` (Plan C), or a rule of the history (`rule:<id>` unless the
rule measures a check's cause, see `verdicts.RULE_SUBJECTS`). The same subject on another target
is another alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from synthetics.status import Status

Phase = Literal["pending", "firing", "ok"]
Kind = Literal["trigger", "escalate", "reminder", "resolve", "test"]


@dataclass(frozen=True)
class Observation:
    """What this run says about one subject.

    `failing` is True (the cause shows in this run), False (its checks ran and passed) or None
    (it could not be seen: blocked, skipped, not selected, the run stopped). `immediate` fires
    without waiting for `failure_threshold` (security findings). `rule_level` is the level of a
    history rule over the same cause that fires now (rules have their own window, so they need
    no threshold); `rule_ok` says the rule evaluated ok (insufficient data is neither).
    """

    subject: str
    failing: bool | None
    severity: Status = Status.OK
    message: str = ""
    checks: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    runbook: str = ""
    first_step: str = ""
    value: str = ""
    threshold: str = ""
    immediate: bool = False
    rule_level: Status | None = None
    rule_ok: bool = False
    rule_message: str = ""


@dataclass(frozen=True)
class AlertState:
    """One subject of one target, across runs."""

    target: str
    subject: str
    phase: Phase = "ok"
    severity: Status = Status.OK
    failures: int = 0
    passes: int = 0
    since: datetime | None = None
    #: The highest severity announced in this episode (None: nothing announced yet).
    notified_severity: Status | None = None
    notified_at: datetime | None = None
    #: Channels that were told about this episode (a resolve goes to each of them).
    channels: tuple[str, ...] = ()
    message: str = ""
    checks: tuple[str, ...] = ()
    runbook: str = ""
    first_step: str = ""
    updated_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Whether anything about this subject is still to be said or watched."""
        return self.phase != "ok" or self.notified_severity is not None

    def evolve(self, **changes: object) -> AlertState:
        """A copy with `changes`."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Notification:
    """One thing to tell: the lifecycle's output, later given its channels by routing."""

    kind: Kind
    target: str
    subject: str
    severity: Status
    at: datetime
    message: str
    run_id: str = ""
    trigger: str = "schedule"
    location: str = ""
    checks: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    runbook: str = ""
    first_step: str = ""
    value: str = ""
    threshold: str = ""
    since: datetime | None = None
    previous_severity: Status | None = None
    report_url: str = ""
    #: Set when a maintenance window muted it: recorded, never sent.
    muted_by: str = ""
    channels: tuple[str, ...] = field(default=())

    @property
    def duration(self) -> timedelta:
        """How long the cause has lasted (zero when unknown)."""
        return self.at - self.since if self.since is not None else timedelta(0)

    @property
    def dedup_key(self) -> str:
        """A key that is the same for every notification of this target and subject."""
        return f"synthetics/{self.target}/{self.subject}"[:255]

    @property
    def title(self) -> str:
        """`CRITICAL: email.delivery on production` (RESOLVED / TEST prefixed)."""
        head = f"{self.severity.value.upper()}: {self.subject} on {self.target}"
        if self.kind == "resolve":
            return f"RESOLVED: {self.subject} on {self.target}"
        if self.kind == "test":
            return f"TEST: {head} (a test notification, nothing is wrong)"
        if self.kind == "escalate" and self.previous_severity is not None:
            return f"{head} (was {self.previous_severity.value})"
        if self.kind == "reminder":
            return f"{head} (still failing)"
        return head


def duration_text(span: timedelta) -> str:
    """`45 s`, `15 min`, `2 h 30 min`, `1 d 6 h`: a span as people say it."""
    seconds = max(round(span.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    if hours == 0:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
