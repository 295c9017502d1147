"""The result model of a run and results.json (schema `synthetics/results@1`): to_json, from_json.

`RunResult.from_json` reads a results.json back, so history can import runs recorded elsewhere (CI
artifacts) and every report can be rebuilt from files. Reading is lenient about fields a newer or
older writer added or left out, and strict about what a run cannot be without (its id, target,
start, and checks with ids and statuses): a file that lacks those is a `ResultsError`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from synthetics.errors import SyntheticsError
from synthetics.severity import Alert, alerts
from synthetics.status import Status, worst

SCHEMA = "synthetics/results@1"


class ResultsError(SyntheticsError):
    """A results.json that cannot be read back (not JSON, another schema, a field missing)."""


@dataclass
class CheckResult:
    """One check's outcome, as results.json and the reports show it."""

    id: str
    group: str
    status: Status
    duration_ms: float = 0.0
    attempts: int = 1
    measurements: dict[str, float] = field(default_factory=dict)
    message: str = ""
    blocked_by: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)
    #: A short machine-readable cause the check reported (`email_quota`, `inconclusive`, …).
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's check object (plus `evidence`)."""
        return {
            "id": self.id,
            "group": self.group,
            "status": self.status.value,
            "duration_ms": round(self.duration_ms, 1),
            "attempts": self.attempts,
            "measurements": {k: round(v, 3) for k, v in self.measurements.items()},
            "message": self.message,
            "reason": self.reason,
            "blocked_by": self.blocked_by,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        """A check object of results.json."""
        try:
            check_id, status = str(data["id"]), Status(data["status"])
        except (KeyError, ValueError) as exc:
            raise ResultsError(f"a check without a valid id and status: {exc}") from None
        measurements = data.get("measurements") or {}
        evidence = data.get("evidence") or {}
        return cls(
            id=check_id,
            group=str(data.get("group") or check_id.split(".", 1)[0]),
            status=status,
            duration_ms=_number(data.get("duration_ms"), 0.0),
            attempts=int(_number(data.get("attempts"), 1)),
            measurements={
                str(k): float(v)
                for k, v in measurements.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            },
            message=str(data.get("message") or ""),
            blocked_by=_optional(data.get("blocked_by")),
            evidence={str(k): str(v) for k, v in evidence.items()},
            reason=_optional(data.get("reason")),
        )


@dataclass
class RunResult:
    """A whole run."""

    run_id: str
    target: str
    started_at: datetime
    finished_at: datetime | None = None
    checks: list[CheckResult] = field(default_factory=list)
    #: The run did not finish (a signal, a deadline): what did not run is blocked by `interrupted`.
    interrupted: bool = False
    #: What started the run: schedule, release, manual or ci.
    trigger: str = "manual"
    #: Where it ran from (a runner, a region): several locations can watch one target.
    location: str = ""
    #: The synthetics version that ran it.
    version: str = ""
    #: Sandbox faults injected into the run (a rehearsal, not the real thing).
    faults: list[str] = field(default_factory=list)
    #: The `[thresholds]` the run was judged by (alerts name them; history's rules read them).
    thresholds: dict[str, float] = field(default_factory=dict)
    #: The runbook's rules over the target's history at the end of this run (firing rules and
    #: the rollback they call for); None when the run was not recorded.
    rules: dict[str, Any] | None = None
    #: Problems of the stages that finished the run (history, alerting…), one line each.
    notices: list[str] = field(default_factory=list)
    #: Alerts as a file recorded them (from_json); None means derive them from the checks.
    recorded_alerts: list[Alert] | None = None

    @property
    def status(self) -> Status:
        """The worst check status (blocked and skipped add nothing)."""
        return worst(c.status for c in self.checks)

    @property
    def alerts(self) -> list[Alert]:
        """Alerts with the runbook section to act on."""
        if self.recorded_alerts is not None:
            return list(self.recorded_alerts)
        return alerts(self.checks, self.thresholds)

    @property
    def duration_ms(self) -> float:
        """Wall time of the run."""
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds() * 1000

    def check(self, check_id: str) -> CheckResult | None:
        """The result of `check_id`, if the run has it."""
        return next((c for c in self.checks if c.id == check_id), None)

    def to_json(self) -> dict[str, Any]:
        """The contract's results.json document."""
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "target": self.target,
            "started_at": self.started_at.isoformat(),
            "finished_at": (self.finished_at or self.started_at).isoformat(),
            "duration_ms": round(self.duration_ms, 1),
            "status": self.status.value,
            "interrupted": self.interrupted,
            "trigger": self.trigger,
            "location": self.location,
            "version": self.version,
            "faults": list(self.faults),
            "thresholds": dict(self.thresholds),
            "checks": [c.to_json() for c in self.checks],
            "alerts": [a.to_json() for a in self.alerts],
            "notices": list(self.notices),
            "rules": self.rules,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        """A results.json document read back (ResultsError when it is not one)."""
        if not isinstance(data, Mapping):
            raise ResultsError("results.json must hold a JSON object")
        if data.get("schema") != SCHEMA:
            raise ResultsError(f"schema is {data.get('schema')!r}, expected {SCHEMA!r}")
        try:
            run_id, target = str(data["run_id"]), str(data["target"])
            started = datetime.fromisoformat(str(data["started_at"]))
        except (KeyError, ValueError) as exc:
            raise ResultsError(f"run_id, target and started_at are required: {exc}") from None
        finished_raw = data.get("finished_at")
        try:
            finished = datetime.fromisoformat(str(finished_raw)) if finished_raw else None
        except ValueError:
            finished = None
        raw_checks = data.get("checks")
        if not isinstance(raw_checks, list):
            raise ResultsError("checks must be a list")
        raw_alerts = data.get("alerts")
        recorded = None
        if isinstance(raw_alerts, list):
            recorded = [Alert.from_json(a) for a in raw_alerts if isinstance(a, Mapping)]
        return cls(
            run_id=run_id,
            target=target,
            started_at=started,
            finished_at=finished,
            checks=[CheckResult.from_json(c) for c in raw_checks if isinstance(c, Mapping)],
            interrupted=bool(data.get("interrupted", False)),
            trigger=str(data.get("trigger") or "manual"),
            location=str(data.get("location") or ""),
            version=str(data.get("version") or ""),
            faults=[str(f) for f in data.get("faults") or []],
            thresholds={
                str(k): float(v)
                for k, v in (data.get("thresholds") or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            },
            notices=[str(n) for n in data.get("notices") or []],
            rules=data.get("rules") if isinstance(data.get("rules"), dict) else None,
            recorded_alerts=recorded,
        )

    @classmethod
    def read(cls, path: Path) -> RunResult:
        """Read a results.json file (ResultsError when it cannot be read or is not one)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResultsError(f"{path}: {exc}") from None
        try:
            return cls.from_json(data)
        except ResultsError as exc:
            raise ResultsError(f"{path}: {exc}") from None

    def write(self, path: Path) -> None:
        """Write results.json (pretty, UTF-8) atomically; a failed write leaves no temp file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        # Lone surrogates from a target cannot be encoded as UTF-8: write them replaced.
        data = text.encode("utf-8", errors="replace")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def _optional(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
