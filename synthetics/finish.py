"""The end of a run, in one place: run → history → rules → alerting → exporters → files.

Each stage is an `Output` in one ordered list. `synthetics run` (through the pytest plugin) and
every later command that finishes or rebuilds a run (import, watch, rehearse) call `finish` with
the same list. A stage that fails is reported as a notice in the run (and so in results.json,
written last) and never stops the stages after it or changes the run's verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from synthetics.errors import SyntheticsError
from synthetics.redact import Redactor
from synthetics.results import RunResult
from synthetics.text import one_line


@dataclass
class Finish:
    """What the stages share: where files go, the run's settings, the redactor."""

    report_dir: Path
    redactor: Redactor = field(default_factory=Redactor)
    settings: Any = None  # synthetics.config.Settings when the run has them
    #: What went wrong in a stage, one line each ("history: …"); results.json lists them.
    notices: list[str] = field(default_factory=list)
    #: Whether the run is recorded in the history (`--no-history` says no).
    history: bool = True
    #: The runbook's judgement of the target's series, once the history stage made it.
    judgement: Any = None
    #: The history store while the stages run (the alert state lives in it); None without one.
    store: Any = None
    #: A long-lived Prometheus registry to feed (`synthetics watch` serves it as /metrics).
    exporter: Any = None


class Output(Protocol):
    """One stage of finishing a run."""

    name: str

    def write(self, run: RunResult, finish: Finish) -> None:
        """Do this stage's part for `run` (raise SyntheticsError or OSError to report a problem)."""
        ...


class ResultsJson:
    """`<report-dir>/results.json`, written last so it carries every stage's notices."""

    name = "results.json"

    def write(self, run: RunResult, finish: Finish) -> None:
        """Write results.json atomically."""
        run.notices = list(finish.notices)
        judgement = finish.judgement
        if judgement is not None:
            run.rules = {
                "firing": [e.to_json() for e in judgement.firing],
                "rollback": judgement.rollback.to_json() if judgement.rollback else None,
            }
        run.write(finish.report_dir / "results.json")


#: The stages of `synthetics run`, in order. Later stages (history, alerting, exporters) are
#: inserted before results.json by `default_outputs`.
OutputFactory = Callable[[Finish], Sequence[Output]]


class History:
    """Record the run, prune what is past retention, and judge the target's series with the
    runbook's rules (the judgement is left in `Finish.judgement` for the stages after it)."""

    name = "history"

    def write(self, run: RunResult, finish: Finish) -> None:
        """Record, prune, judge."""
        from synthetics.history.store import open_store
        from synthetics.rules.evaluate import judge

        history = finish.settings.config.history
        now = run.finished_at or run.started_at
        store = open_store(history.resolved_url(finish.settings.folder))
        finish.store = store  # closed by `finish` once every stage ran
        store.record(run)
        store.prune(now - history.retention)
        recent = store.runs(target=run.target, since=now - timedelta(days=8))
        finish.judgement = judge(
            recent,
            now,
            history.policy(),
            target=run.target,
            thresholds=finish.settings.config.thresholds.model_dump(),
        )


class Alerting:
    """The alert lifecycle and its channels (synthetics.alerting), on the history's state.

    Without a history (`--no-history`) the state is a fresh in-memory one: the run is still
    reported (the GitHub summary), but a lifecycle across runs needs the history.
    """

    name = "alerting"

    def write(self, run: RunResult, finish: Finish) -> None:
        """Advance the lifecycle and deliver."""
        from sqlalchemy import create_engine

        from synthetics.alerting.delivery import AlertDelivery
        from synthetics.alerting.state import SqlStateStore

        config = finish.settings.config
        if finish.store is not None:
            state = SqlStateStore(finish.store.engine, create=False)
        else:
            state = SqlStateStore(create_engine("sqlite://"))
        judgement = finish.judgement
        stage = AlertDelivery(
            config.alerts,
            state,
            heartbeat=config.heartbeat,
            rules=(lambda _run: judgement.current) if judgement is not None else None,
        )
        stage.write(run, finish)


def default_outputs(finish: Finish) -> list[Output]:
    """The run's stages: history (and the rules over it) when enabled, alerting and the
    heartbeat when configured, the exporters, then junit.xml and results.json."""
    from synthetics.exporters.junit import JunitXml

    stages: list[Output] = []
    if finish.settings is None:
        return [JunitXml(), ResultsJson()]
    if finish.history:
        stages.append(History())
    if finish.settings.config.alerts.channels or finish.history:
        # Without a channel the lifecycle still runs on the history (its state and the
        # maintenance-muted runs the report shows); without either, nothing would see it.
        stages.append(Alerting())
    if finish.settings.config.heartbeat.url is not None:
        from synthetics.alerting.delivery import HeartbeatPing

        stages.append(HeartbeatPing(finish.settings.config.heartbeat))
    from synthetics.exporters.prometheus_config import config_of

    if config_of(finish).exports or finish.exporter is not None:
        from synthetics.exporters import prometheus  # loads prometheus_client

        stages.extend(prometheus.outputs(finish, exporter=finish.exporter))
    stages += [JunitXml(), ResultsJson()]
    return stages


def finish(run: RunResult, context: Finish, outputs: Sequence[Output] | None = None) -> RunResult:
    """Run every stage for `run`; a failing stage becomes a notice, never an exception."""
    stages = list(outputs) if outputs is not None else default_outputs(context)
    try:
        for stage in stages:
            try:
                stage.write(run, context)
            except (SyntheticsError, OSError) as exc:
                text = one_line(context.redactor.redact(str(exc)))
                context.notices.append(f"{stage.name}: {text}")
                if isinstance(stage, ResultsJson):
                    raise
    finally:
        if context.store is not None:
            context.store.close()
            context.store = None
    return run
