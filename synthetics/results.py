"""The result model of a run and the results.json writer (schema `synthetics/results@1`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from synthetics.severity import Alert, Status, alerts, worst

SCHEMA = "synthetics/results@1"


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
            "blocked_by": self.blocked_by,
            "evidence": dict(self.evidence),
        }


@dataclass
class RunResult:
    """A whole run."""

    run_id: str
    target: str
    started_at: datetime
    finished_at: datetime | None = None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """The worst check status (blocked and skipped add nothing)."""
        return worst(c.status for c in self.checks)

    @property
    def alerts(self) -> list[Alert]:
        """Alerts with the runbook section to act on."""
        return alerts((c.id, c.status, c.message) for c in self.checks)

    @property
    def duration_ms(self) -> float:
        """Wall time of the run."""
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds() * 1000

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
            "checks": [c.to_json() for c in self.checks],
            "alerts": [
                {
                    "severity": a.severity.value,
                    "check": a.check,
                    "message": a.message,
                    "runbook": a.runbook,
                }
                for a in self.alerts
            ],
        }

    def write(self, path: Path) -> None:
        """Write results.json (pretty, UTF-8) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", "utf-8")
        tmp.replace(path)
