"""Who watches the watcher: a dead-man ping per run, and the "no run for too long" rule.

```toml
[heartbeat]
url = "${HEARTBEAT_URL}"          # a healthchecks.io-style ping URL (the UUID in it is a secret)
expected_interval = "30m"         # the schedule's cron
missed_runs = 3                   # raise after this many expected runs did not happen
```

Pings follow healthchecks.io's Pinging API: `<url>/start` when a run starts, then `<url>` on
exit status 0 or `<url>/<exit-status>` otherwise (a non-zero status is a failure there), each
with `?rid=<uuid>` so the service pairs the start with its end and measures the run. A ping
answers `200 OK`. A ping that fails is a notice, never a change of the run's verdict.

GitHub delays scheduled workflows and disables them after 60 days without activity; the ping
service notices from outside, and `overdue` notices from inside: `synthetics report` and the
next run raise it over the list of run start times.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from synthetics.alerting.base import Receipt, post_and_parse
from synthetics.alerting.model import Observation, duration_text
from synthetics.alerting.sender import Answer, Sender
from synthetics.durations import parse_duration
from synthetics.status import Status

SUBJECT = "monitor.schedule"


class HeartbeatConfig(BaseModel):
    """The `[heartbeat]` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr | None = None
    expected_interval: str = "30m"
    missed_runs: Annotated[float, Field(gt=1, le=1000)] = 3
    #: The runs the dead-man switch hears: the schedule's (a manual or release run pinging it
    #: would hide a schedule that stopped).
    triggers: list[Literal["schedule", "release", "manual", "ci"]] = ["schedule"]

    @field_validator("expected_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) ping URL")  # the value itself is secret
        return value

    @property
    def interval(self) -> timedelta:
        """How often runs are expected."""
        return parse_duration(self.expected_interval)


@dataclass(frozen=True)
class Gap:
    """No run recorded for longer than allowed."""

    last_run: datetime
    now: datetime
    allowed: timedelta

    @property
    def elapsed(self) -> timedelta:
        """Time since the last run started."""
        return self.now - self.last_run

    def message(self, interval: timedelta) -> str:
        """What to tell."""
        return (
            f"no run recorded for {duration_text(self.elapsed)} (expected every "
            f"{duration_text(interval)}, raised after {duration_text(self.allowed)}): the "
            "schedule stopped or was delayed (GitHub disables scheduled workflows after 60 days "
            "without activity)"
        )


def overdue(
    starts: Sequence[datetime], now: datetime, interval: timedelta, missed_runs: float = 3
) -> Gap | None:
    """The gap when the newest run start is more than `missed_runs` times `interval` before `now`
    (None without any run: a monitor that never ran has nothing to compare with)."""
    earlier = [s for s in starts if s <= now]
    if not earlier:
        return None
    allowed = interval * missed_runs
    last = max(earlier)
    return Gap(last, now, allowed) if now - last > allowed else None


def observation(gap: Gap | None, interval: timedelta) -> Observation:
    """The gap as an alert subject (a warning that fires at once), or a pass."""
    if gap is None:
        return Observation(subject=SUBJECT, failing=False)
    return Observation(
        subject=SUBJECT,
        failing=True,
        severity=Status.WARNING,
        message=gap.message(interval),
        value=duration_text(gap.elapsed),
        threshold=f"{duration_text(gap.allowed)} without a run",
        runbook="the monitor itself: its schedule (the workflow's cron, a disabled workflow)",
        first_step="Check the scheduled workflow is enabled and its last runs in the Actions tab",
        immediate=True,
    )


def ping_url(base: str, event: str | int) -> str:
    """`<base>/start`, `<base>` (exit 0) or `<base>/<exit-status>`."""
    base = base.rstrip("/")
    if event == "start":
        return f"{base}/start"
    if event == 0 or event == "success":
        return base
    if event == "fail":
        return f"{base}/fail"
    return f"{base}/{int(event)}"


def run_uuid(run_id: str) -> str:
    """A UUID for `rid` that is the same for the start and the end of a run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthetics:{run_id}"))


def parse(answer: Answer) -> tuple[bool, str]:
    """`200 OK` (anything else is a failed ping)."""
    text = answer.text.strip()
    ok = answer.status == 200 and text.upper().startswith("OK") and "not found" not in text
    return ok, text or f"HTTP {answer.status}"


class Heartbeat:
    """Pings the dead-man URL."""

    name = "heartbeat"

    def __init__(self, config: HeartbeatConfig, sender: Sender) -> None:
        self.config = config
        self.sender = sender

    def _ping(self, event: str | int, run_id: str, body: str) -> Receipt | None:
        if self.config.url is None:
            return None
        base = self.config.url.get_secret_value()
        url = f"{ping_url(base, event)}?rid={run_uuid(run_id)}"
        headers = {"content-type": "text/plain; charset=utf-8"}
        return post_and_parse(self.name, self.sender, url, body.encode(), headers, parse, (base,))

    def start(self, run_id: str) -> Receipt | None:
        """`/start` (None when no URL is configured)."""
        return self._ping("start", run_id, f"synthetics run {run_id} started")

    def finish(self, run_id: str, exit_status: int, summary: str = "") -> Receipt | None:
        """Success or `/<exit-status>`, with a one-line summary as the logged body."""
        text = summary or f"synthetics run {run_id} exited {exit_status}"
        return self._ping(exit_status, run_id, text)
