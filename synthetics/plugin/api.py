"""What a check imports: the `check` fixture's record, through which it measures and reports.

A check asserts, measures and reports a *reason* when its failure is not a plain one (see
`synthetics.severity`); it never picks a severity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from synthetics.clients.http import Recorder
from synthetics.journey import Outcome


class CheckFailed(AssertionError):
    """A check failure with a reason (severity.py maps it to a status)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class CheckRecord:
    """What a running check reports: measurements, evidence, a message, a reason."""

    id: str
    recorder: Recorder = field(default_factory=Recorder)
    measurements: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    message: str = ""
    #: Why a passing check is worth a look (e.g. `inconclusive` parts); failures carry their own.
    reason: str | None = None
    started: float = field(default_factory=time.perf_counter)
    blocked_by: str | None = None
    skip_reason: str | None = None
    attachments: dict[str, bytes] = field(default_factory=dict)

    def measure(self, **values: float) -> None:
        """Record measurements (latency_ms, delivery_s, …)."""
        self.measurements.update(values)

    def note(self, message: str, **evidence: str) -> None:
        """Set the check's message and add evidence for the on-call engineer."""
        self.message = message
        self.evidence.update(evidence)

    def attach(self, name: str, png: bytes) -> None:
        """Attach a PNG (a screenshot): left in the report directory and shown in the HTML
        report. It must not show a secret: the redactor cannot reach into images."""
        self.attachments[name] = png

    def fail(self, message: str, reason: str | None = None) -> None:
        """Fail the check now, with a reason when it is not a plain failure (see severity)."""
        raise CheckFailed(message, reason)

    def report(self, outcome: Outcome) -> None:
        """Record a journey step: measurements, message, evidence, screenshot; fail if it did."""
        self.measure(**outcome.measurements)
        self.note(outcome.message, **outcome.evidence)
        screenshot = getattr(outcome, "screenshot", None)
        if screenshot:
            self.attach("screenshot", screenshot)
        if not outcome.ok:
            self.fail(outcome.message, outcome.reason)
