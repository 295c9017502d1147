"""The alerting stages of `synthetics.finish`: lifecycle + routing + delivery, and the heartbeat.

    AlertDelivery   run → observations → lifecycle (in the state store, compare-and-set) →
                    routes → each channel; the GitHub channels report the run
    HeartbeatPing   the dead-man ping at the end of the run (success or /<exit-status>)

Neither changes the run's verdict. A delivery that fails after its retries is recorded in the
state store and becomes a warning notice naming the channel and the HTTP status; the other
channels are still tried. A maintenance window mutes notifications (recorded as `muted`, shown
in the job summary) and nothing else. Runs whose trigger no route takes (release, manual and CI
by default) leave the alert state alone: they are reported (GitHub), never paged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TextIO

import httpx

from synthetics.alerting import build_channel
from synthetics.alerting.base import Channel, Receipt
from synthetics.alerting.config import AlertsConfig
from synthetics.alerting.github import GitHubChannel, RunView
from synthetics.alerting.heartbeat import Heartbeat, HeartbeatConfig, observation, overdue
from synthetics.alerting.lifecycle import RunInfo, Step, advance
from synthetics.alerting.maintenance import active
from synthetics.alerting.model import Notification
from synthetics.alerting.routing import assign
from synthetics.alerting.sender import Sender
from synthetics.alerting.state import DeliveryRecord, Snapshot, StateStore, Transition
from synthetics.alerting.verdicts import RuleFinding, observe
from synthetics.errors import SyntheticsError
from synthetics.finish import Finish
from synthetics.results import RunResult
from synthetics.severity import exit_code
from synthetics.text import one_line

Clock = Callable[[], datetime]
#: The history's rules for a run (synthetics.rules.evaluate.judge(...).current), injected.
RulesFor = Callable[[RunResult], Sequence[RuleFinding]]


def _now() -> datetime:
    return datetime.now(UTC)


class AlertDelivery:
    """Tell people what this run means, once per alert, on the channels its routes name."""

    name = "alerting"

    def __init__(
        self,
        alerts: AlertsConfig,
        store: StateStore,
        *,
        heartbeat: HeartbeatConfig | None = None,
        rules: RulesFor | None = None,
        clock: Clock = _now,
        sender: Sender | None = None,
        stream: TextIO | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.alerts = alerts
        self.store = store
        self.heartbeat = heartbeat
        self.rules = rules
        self.clock = clock
        self.sender = sender
        self.stream = stream
        self.env = env
        #: What the last `write` decided and what each channel answered (for tests and reports).
        self.last_step: Step | None = None
        self.last_receipts: list[Receipt] = []

    def channels(self) -> dict[str, Channel]:
        """Every configured channel, built."""
        return {
            name: build_channel(name, config, stream=self.stream, env=self.env)
            for name, config in self.alerts.channels.items()
        }

    def write(self, run: RunResult, finish: Finish) -> None:
        """Advance the lifecycle for `run`, send what it says, report the run on GitHub."""
        env = os.environ if self.env is None else self.env
        channels = self.channels()
        for channel in channels.values():
            finish.redactor.add(*channel.secrets())
        now = self.clock()
        routes = self.alerts.effective_routes()
        window = active(self.alerts.maintenance, now, run.target)
        muted_by = window.label if window is not None else ""
        lifecycle_triggers = {"schedule"} | {t for r in routes for t in r.triggers}
        info = RunInfo(
            run_id=run.run_id,
            trigger=run.trigger,
            location=run.location,
            report_url=self.alerts.report_link(run.run_id, run.target, env),
        )
        findings = list(self.rules(run)) if self.rules is not None else []

        def step(snapshot: Snapshot) -> Transition:
            observations = observe(run, snapshot.states, findings)
            if self.heartbeat is not None:
                starts = [at for at, _ in snapshot.recent]
                gap = overdue(
                    starts, run.started_at, self.heartbeat.interval, self.heartbeat.missed_runs
                )
                observations.append(observation(gap, self.heartbeat.interval))
            moved = advance(
                snapshot.states,
                observations,
                target=run.target,
                now=now,
                policy=self.alerts.policy,
                run=info,
                muted_by=muted_by,
            )
            routed = assign(moved, routes, trigger=run.trigger, target=run.target)
            return Transition(routed, [*snapshot.recent, (run.started_at, run.status)])

        recent = []
        if run.trigger in lifecycle_triggers:
            result = self.store.transition(run.target, step)
            decided = result.step
            recent = [status for _, status in result.recent]
        else:
            decided = Step()
        self.last_step = decided
        sender = self.sender or Sender(
            timeout_s=self.alerts.timeout_s,
            retries=self.alerts.retries,
            max_wait_s=self.alerts.max_wait_s,
            redactor=finish.redactor,
        )
        sender.redactor = finish.redactor
        try:
            receipts = self._deliver(run, decided.notifications, channels, sender, finish, now)
        finally:
            if self.sender is None:
                sender.close()
        self.last_receipts = receipts
        view = RunView(
            run=run,
            states=decided.states,
            notifications=decided.notifications,
            receipts=receipts,
            recent=recent or [run.status],
            muted_by=muted_by,
            notices=list(finish.notices),
        )
        for name, channel in channels.items():
            if isinstance(channel, GitHubChannel):
                receipt = channel.report(view)
                if not receipt.ok:
                    finish.notices.append(f"alerting: warning: {name} (github): {receipt.detail}")

    def _deliver(
        self,
        run: RunResult,
        notes: Sequence[Notification],
        channels: Mapping[str, Channel],
        sender: Sender,
        finish: Finish,
        now: datetime,
    ) -> list[Receipt]:
        records: list[DeliveryRecord] = []
        receipts: list[Receipt] = []
        for note in notes:

            def record(channel: str, outcome: str, status: int | None, detail: str) -> None:
                records.append(
                    DeliveryRecord(
                        at=now,
                        target=note.target,  # noqa: B023 (called within this iteration)
                        subject=note.subject,  # noqa: B023
                        kind=note.kind,  # noqa: B023
                        severity=note.severity.value,  # noqa: B023
                        channel=channel,
                        outcome=outcome,
                        run_id=run.run_id,
                        status=status,
                        detail=detail,
                    )
                )

            if note.muted_by:
                record("", "muted", None, note.muted_by)
                continue
            for name in note.channels:
                channel = channels.get(name)
                if channel is None:  # a resolve owed to a channel no longer configured
                    receipt = Receipt(name, False, None, "channel no longer configured")
                else:
                    receipt = _send(channel, note, sender)
                receipts.append(receipt)
                detail = finish.redactor.redact(receipt.detail)
                record(name, "sent" if receipt.ok else "failed", receipt.status, detail)
                if not receipt.ok:
                    kind = channel.type if channel is not None else "?"
                    status = f"HTTP {receipt.status}" if receipt.status is not None else "no answer"
                    finish.notices.append(
                        f"alerting: warning: {note.kind} of {note.subject} to {name} ({kind}) "
                        f"failed: {status}: {one_line(detail, limit=200)}"
                    )
        self.store.record(records)
        return receipts


def _send(channel: Channel, note: Notification, sender: Sender) -> Receipt:
    """A channel's send; an unexpected error becomes a failed receipt, never hides the rest."""
    try:
        return channel.send(note, sender)
    except (SyntheticsError, OSError, ValueError, httpx.HTTPError) as exc:
        return Receipt(channel.name, False, None, f"{type(exc).__name__}: {exc}")


class HeartbeatPing:
    """The end-of-run dead-man ping (`/start` is `Heartbeat.start`, at the start of the run)."""

    name = "heartbeat"

    def __init__(self, config: HeartbeatConfig, *, sender: Sender | None = None) -> None:
        self.config = config
        self.sender = sender

    def write(self, run: RunResult, finish: Finish) -> None:
        """Ping success or `/<exit-status>`; a failed ping is a notice."""
        if self.config.url is None or run.trigger not in self.config.triggers:
            return
        finish.redactor.add(self.config.url)
        sender = self.sender or Sender(redactor=finish.redactor)
        code = exit_code(run.status, interrupted=run.interrupted)
        try:
            receipt = Heartbeat(self.config, sender).finish(
                run.run_id, code, f"synthetics {run.run_id} on {run.target}: {run.status.value}"
            )
        finally:
            if self.sender is None:
                sender.close()
        if receipt is not None and not receipt.ok:
            status = f"HTTP {receipt.status}" if receipt.status is not None else "no answer"
            detail = finish.redactor.redact(receipt.detail)
            finish.notices.append(f"heartbeat: warning: ping failed: {status}: {detail}")
