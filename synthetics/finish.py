"""The end of a run, in one place: run → history → rules → alerting → exporters → files.

Each stage is an `Output` in one ordered list. `synthetics run` (through the pytest plugin) and
every later command that finishes or rebuilds a run (import, watch, rehearse) call `finish` with
the same list. A stage that fails is reported as a notice in the run (and so in results.json,
written last) and never stops the stages after it or changes the run's verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
        run.write(finish.report_dir / "results.json")


#: The stages of `synthetics run`, in order. Later stages (history, alerting, exporters) are
#: inserted before results.json by `default_outputs`.
OutputFactory = Callable[[Finish], Sequence[Output]]


def default_outputs(finish: Finish) -> list[Output]:
    """The run's stages: whatever the settings enable, then results.json."""
    return [ResultsJson()]


def finish(run: RunResult, context: Finish, outputs: Sequence[Output] | None = None) -> RunResult:
    """Run every stage for `run`; a failing stage becomes a notice, never an exception."""
    stages = list(outputs) if outputs is not None else default_outputs(context)
    for stage in stages:
        try:
            stage.write(run, context)
        except (SyntheticsError, OSError) as exc:
            context.notices.append(f"{stage.name}: {one_line(context.redactor.redact(str(exc)))}")
            if isinstance(stage, ResultsJson):
                raise
    return run
