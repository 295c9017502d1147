"""What pytest's own reports carry about a check: redacted text and its attachments, left in the
report directory. Everything shown passes through the run's redactor and `safe_text`; the
terminal (`terminal`) and report.html (`html_report`) draw from the check results."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetics.plugin.api import CheckRecord
from synthetics.redact import Redactor
from synthetics.text import safe_text


def redact_report(report: pytest.TestReport, redactor: Redactor) -> None:
    """Nothing secret reaches JUnit, HTML or the terminal: failures become a redacted summary."""

    def clean(text: str, limit: int | None = 2000) -> str:
        return safe_text(redactor.redact(text), limit=limit)

    if report.failed and report.longrepr is not None:
        message = next((str(v) for k, v in report.user_properties if k == "message"), "")
        text = message or str(report.longrepr)
        if message.startswith("the check itself crashed"):
            text = f"{message}\n{report.longrepr}"  # our bug: keep the traceback, redacted
        report.longrepr = clean(text, 8000)
    elif isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line, reason = report.longrepr
        report.longrepr = (path, line, clean(str(reason)))
    report.sections = [(title, clean(content, 20000)) for title, content in report.sections]


def save_attachments(record: CheckRecord, report_dir: Path) -> None:
    """Leave each attachment in the report directory and name the file in the evidence."""
    for name, png in record.attachments.items():
        report_dir.mkdir(parents=True, exist_ok=True)
        filename = f"{record.id}.{name}.png"
        (report_dir / filename).write_bytes(png)
        record.evidence[name] = filename
