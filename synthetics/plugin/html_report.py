"""report.html: pytest-html, made to read like the run.

The top of the page is the run: its status (WARNING, not "34 Passed"), target, run id, start,
duration, trigger, injected faults, the count of checks per status, and every alert with its
runbook section and first step, each linking to its check's row. The rows are checks: id,
status, message and duration (one unit, ms, everywhere); a skipped check's reason is plain text.
The interpreter and plugin table pytest-metadata adds is left out unless
`--synthetics-environment` asks for it.

pytest-html files each row under one of its own outcomes (passed, failed, skipped, …), which
drive its colours, filters and first sort, and counts pytest's outcomes in its filter bar. Rows
are filed by status instead (critical under failed, warning under rerun, …, ok under passed),
so the first sort puts the worst first, in catalogue order within a status; the filter bar and
its pytest counts are hidden (the header counts statuses) and our own status column is shown.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any

import pytest

from synthetics.plugin.terminal import counts, milliseconds, verdict
from synthetics.results import CheckResult, RunResult
from synthetics.status import Status
from synthetics.text import one_line

#: Status → the pytest-html outcome a row is filed under (its sort order is the one listed in
#: pytest-html's app.js: Error, Failed, Rerun, XFailed, XPassed, Skipped, Passed).
FILED_AS = {
    Status.CRITICAL: "Failed",
    Status.WARNING: "Rerun",
    Status.INFO: "XFailed",
    Status.BLOCKED: "XPassed",
    Status.SKIPPED: "Skipped",
    Status.OK: "Passed",
}
COLOURS = {
    Status.OK: "#1a7f37",
    Status.INFO: "#0969da",
    Status.WARNING: "#9a6700",
    Status.CRITICAL: "#cf222e",
    Status.BLOCKED: "#8250df",
    Status.SKIPPED: "#6e7781",
}

_STYLE = """
<style>
  .col-result, th[data-column-type="result"], .controls .filters, p.filter, p.run-count {
    display: none; }
  body { color: #24292f; }
  #results-table { color: #24292f; }
  .col-message { white-space: normal; max-width: 60em; }
  .logwrapper:not(:has(.log)) { display: none; }
  .col-status { font-weight: bold; }
  #synthetics-run { border: 1px solid #d0d7de; border-left: 8px solid var(--run); padding: 8px 16px;
    margin: 8px 0 16px; font-size: 14px; }
  #synthetics-run .verdict { font-size: 28px; font-weight: bold; color: var(--run); }
  #synthetics-run dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
  #synthetics-run dt { color: #57606a; } #synthetics-run dd { margin: 0; }
  #synthetics-run ol { padding-left: 20px; } #synthetics-run li { margin-bottom: 8px; }
  #synthetics-run .runbook { color: #57606a; }
  %(hide_environment)s
  %(status_colours)s
</style>
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _status_css() -> str:
    rules = []
    for status, colour in COLOURS.items():
        rules.append(f".s-{status.value} {{ color: {colour}; }}")
        rules.append(f"#synthetics-run.run-{status.value} {{ --run: {colour}; }}")
    return "\n  ".join(rules)


def header_html(run: RunResult) -> str:
    """The run at the top of the page: status, facts, then the alerts with their runbook."""
    status = Status.CRITICAL if run.interrupted else run.status
    started = run.started_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    facts = [
        ("target", run.target),
        ("run", run.run_id),
        ("started", started),
        ("duration", milliseconds(run.duration_ms)),
        ("trigger", run.trigger),
        ("checks", f"{len(run.checks)}: {counts(run.checks)}"),
    ]
    if run.location:
        facts.insert(1, ("location", run.location))
    if run.faults:
        facts.append(("faults", f"{', '.join(run.faults)} (a rehearsal: faults injected)"))
    facts_html = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts)
    alerts = []
    for alert in run.alerts:
        parts = [
            f"<b class='s-{alert.severity.value}'>{_esc(alert.severity.value.upper())}</b> "
            f"<a href='#{_esc(alert.check)}'>{_esc(alert.check)}</a>: "
            f"{_esc(one_line(alert.message, limit=None))}"
        ]
        if alert.blocked:
            parts.append(f"<div class='runbook'>blocked: {_esc(', '.join(alert.blocked))}</div>")
        parts.append(f"<div class='runbook'>Runbook: {_esc(alert.runbook)}</div>")
        if alert.first_step:
            parts.append(f"<div class='runbook'>First step: {_esc(alert.first_step)}</div>")
        alerts.append(f"<li>{''.join(parts)}</li>")
    alerts_html = f"<ol id='alerts'>{''.join(alerts)}</ol>" if alerts else "<p>No alerts.</p>"
    extra = []
    rollback = (run.rules or {}).get("rollback")
    if isinstance(rollback, dict) and rollback.get("plan"):
        extra.append(
            f"<p><b>Rollback:</b> {_esc(rollback['plan'])}: "
            f"{_esc(rollback.get('first_steps', ''))}</p>"
        )
    if run.notices:
        items = "".join(f"<li>{_esc(n)}</li>" for n in run.notices)
        extra.append(f"<h3>Notices</h3><ul id='notices'>{items}</ul>")
    return (
        f"<section id='synthetics-run' class='run-{status.value}'>"
        f"<div class='verdict' id='run-status'>{_esc(verdict(run))}</div>"
        f"<dl>{facts_html}</dl><h3>Alerts</h3>{alerts_html}{''.join(extra)}</section>"
    )


def check_table(result: CheckResult) -> str:
    """The check's status, message, measurements and evidence, shown under its row."""
    rows = [("status", result.status.value)]
    if result.status is Status.BLOCKED and result.blocked_by:
        rows.append(("blocked by", result.blocked_by))  # the root's own row says why, once
    else:
        rows.append(("message", result.message))
    if result.reason:
        rows.append(("reason", result.reason))
    rows += [(k, f"{v:g}") for k, v in result.measurements.items()]
    rows += list(result.evidence.items())
    cells = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<table class='synthetics'>{cells}</table>"


def html_extras(
    report: pytest.TestReport, result: CheckResult, attachments: dict[str, bytes]
) -> None:
    """The check's table (and screenshots) as extras of its row in report.html."""
    try:
        from pytest_html import extras
    except ImportError:
        return
    found = list(getattr(report, "extras", []))
    found.append(extras.html(check_table(result)))
    found += [
        extras.png(base64.b64encode(png).decode("ascii"), name) for name, png in attachments.items()
    ]
    report.extras = found  # type: ignore[attr-defined]


class HtmlReport:
    """The pytest-html hooks (registered only when pytest-html writes a report)."""

    def __init__(
        self, target: str, run: Callable[[], RunResult | None], *, environment: bool
    ) -> None:
        self.target = target
        self._run = run
        self.environment = environment
        self._report: Any = None

    def pytest_html_report_title(self, report: Any) -> None:
        # Asked at session start, before any check; the verdict joins it at the end.
        self._report = report
        report.title = f"synthetics: {self.target}"

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: Any
    ) -> None:
        hide = "" if self.environment else "#environment-header, #environment { display: none; }"
        prefix.append(_STYLE % {"hide_environment": hide, "status_colours": _status_css()})
        run = self._run()
        if run is None:
            return
        prefix.append(header_html(run))
        if self._report is not None:
            self._report.title = f"{verdict(run)}: synthetics on {run.target}"

    @staticmethod
    def pytest_html_results_table_header(cells: list[str]) -> None:
        cells[1] = '<th class="sortable" data-column-type="testId">Check</th>'
        cells.insert(2, "<th>Status</th>")
        cells.insert(3, "<th>Message</th>")

    @staticmethod
    def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
        props = dict(getattr(report, "user_properties", ()))  # a CollectReport has none
        check = props.get("check")
        if check is None:  # not a check's final report (a teardown error): keep pytest's words
            cells.insert(2, '<td class="col-status"></td>')
            cells.insert(3, '<td class="col-message"></td>')
            return
        status = Status(str(props["status"]))
        cells[0] = f'<td class="col-result">{FILED_AS[status]}</td>'
        cells[1] = f'<td class="col-testId">{_esc(check)}</td>'
        cells.insert(2, f'<td class="col-status s-{status.value}">{_esc(status.value)}</td>')
        message = one_line(str(props.get("message", "")), limit=600)
        if status is Status.BLOCKED and props.get("blocked_by"):
            message = f"blocked by {props['blocked_by']}"  # the root's row says why, once
        cells.insert(3, f'<td class="col-message">{_esc(message)}</td>')
        if "duration_ms" in props:
            took = milliseconds(float(str(props["duration_ms"])))
            cells[4] = f'<td class="col-duration">{took}</td>'

    @staticmethod
    def pytest_html_results_table_html(report: pytest.TestReport, data: list[str]) -> None:
        props = dict(getattr(report, "user_properties", ()))
        if "check" not in props:
            return
        if report.skipped or (report.passed and data == ["No log output captured."]):
            # pytest keeps a skip as (path, line, "Skipped: why"); the row says why already.
            data[:] = []

    @staticmethod
    def pytest_html_duration_format(duration: float) -> str:
        return milliseconds(duration * 1000)
