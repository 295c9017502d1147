"""What pytest's own reports carry about a check: redacted text, HTML extras and columns, the
terminal table. Everything shown passes through the run's redactor and `safe_text`."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pytest

from synthetics.plugin.api import CheckRecord
from synthetics.redact import Redactor
from synthetics.results import CheckResult, RunResult
from synthetics.text import one_line, safe_text


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


def html_extras(
    report: pytest.TestReport, result: CheckResult, attachments: dict[str, bytes]
) -> None:
    """The check's status, message, measurements and evidence as a table in report.html."""
    try:
        from pytest_html import extras
    except ImportError:
        return
    rows = [("status", result.status.value), ("message", result.message)]
    if result.reason:
        rows.append(("reason", result.reason))
    rows += [(k, f"{v:g}") for k, v in result.measurements.items()]
    rows += list(result.evidence.items())
    if result.blocked_by:
        rows.append(("blocked by", result.blocked_by))
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    found = list(getattr(report, "extras", []))
    found.append(extras.html(f"<table class='synthetics'>{cells}</table>"))
    found += [
        extras.png(base64.b64encode(png).decode("ascii"), name) for name, png in attachments.items()
    ]
    report.extras = found  # type: ignore[attr-defined]


class HtmlColumns:
    """pytest-html title and columns: run, check id, status (registered only with pytest-html)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def pytest_html_report_title(self, report: Any) -> None:
        # pytest-html asks at session start, before any check: the target is known, the outcome not.
        report.title = f"synthetic checks of {self.target}"

    @staticmethod
    def pytest_html_results_table_header(cells: list[str]) -> None:
        cells.insert(1, "<th>Check</th>")
        cells.insert(2, "<th>Status</th>")

    @staticmethod
    def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
        props = dict(report.user_properties)
        cells.insert(1, f"<td>{html.escape(str(props.get('check', '')))}</td>")
        cells.insert(2, f"<td>{html.escape(str(props.get('status', '')))}</td>")


def headline(run: RunResult) -> str:
    """`synthetics <run> on <target>: CRITICAL` (INTERRUPTED when the run did not finish)."""
    status = "INTERRUPTED" if run.interrupted else run.status.value.upper()
    return f"synthetics {run.run_id} on {run.target}: {status}"


def terminal_table(run: RunResult) -> list[str]:
    """Every check with its status, timing and message, then the alerts."""
    lines: list[str] = []
    width = max((len(c.id) for c in run.checks), default=0)
    for check in run.checks:
        took = check.measurements.get("latency_ms")
        timing = f"{took:7.0f} ms" if took is not None else " " * 10
        if "delivery_s" in check.measurements:
            timing = f"{check.measurements['delivery_s']:8.2f} s"
        tries = f" x{check.attempts}" if check.attempts > 1 else ""
        why = f" [blocked by {check.blocked_by}]" if check.blocked_by else ""
        message = one_line(check.message, limit=300)
        lines.append(
            f"{check.id:<{width}}  {check.status.value:<8} {timing}{tries:<4} {message}{why}"
        )
    if run.alerts:
        lines.append("")
        for alert in run.alerts:
            message = one_line(alert.message, limit=400)
            lines.append(f"{alert.severity.value.upper():<8} {alert.check}: {message}")
            lines.append(f"         runbook: {alert.runbook}")
    return lines
