"""report.html's parts: the run's header, rows filed by status, blocked rows that name their root
once, skip reasons as plain text, one duration unit."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetics.plugin.html_report import FILED_AS, HtmlReport, check_table, header_html
from synthetics.results import RunResult
from synthetics.status import Status

RUNS = Path(__file__).parents[1] / "alerting" / "runs"  # real sandbox runs' results.json


def real(name: str) -> RunResult:
    return RunResult.read(RUNS / f"{name}.json")


def report(
    status: str, message: str, *, outcome: str = "passed", blocked_by: str = ""
) -> pytest.TestReport:
    props = [("check", "deeplink.redirect"), ("status", status), ("message", message)]
    props += [("blocked_by", blocked_by), ("duration_ms", "2013.4")]
    longrepr = (
        ("/x/checks/test_deeplink.py", 12, f"Skipped: {message}") if outcome == "skipped" else None
    )
    return pytest.TestReport(
        "checks/test_deeplink.py::test_redirect",
        ("checks/test_deeplink.py", 12, "test_redirect"),
        {},
        outcome,  # type: ignore[arg-type]
        longrepr,
        "call",
        user_properties=props,
    )


def cells() -> list[str]:
    return [
        '<td class="col-result">Passed</td>',
        '<td class="col-testId">checks/test_deeplink.py::test_redirect</td>',
        '<td class="col-duration">00:00:02</td>',
        '<td class="col-links"></td>',
    ]


def test_the_header_carries_status_facts_and_alerts_with_their_runbook() -> None:
    page = header_html(real("email.drop"))
    assert "id='run-status'>CRITICAL<" in page
    assert "email.drop (a rehearsal: faults injected)" in page
    assert "<a href='#email.delivery'>email.delivery</a>" in page
    assert "Runbook: Rollback Plan A: Auth Configuration Rollback" in page
    assert "First step: Revert the Auth settings" in page
    assert "blocked: deeplink.redirect" in page


def test_hostile_text_in_the_header_is_escaped() -> None:
    run = real("clean")
    run.target = "<script>alert(1)</script>"
    assert "<script>" not in header_html(run)


@pytest.mark.parametrize("status", list(Status))
def test_rows_are_filed_by_status_and_show_it(status: Status) -> None:
    row = cells()
    HtmlReport.pytest_html_results_table_row(report(status.value, "m"), row)
    assert row[0] == f'<td class="col-result">{FILED_AS[status]}</td>'
    assert row[1] == '<td class="col-testId">deeplink.redirect</td>'
    assert f'class="col-status s-{status.value}">{status.value}<' in row[2]
    assert row[4] == '<td class="col-duration">2013 ms</td>'


def test_a_warning_is_not_filed_as_a_pass() -> None:
    assert FILED_AS[Status.WARNING] != "Passed" and FILED_AS[Status.CRITICAL] == "Failed"


def test_a_blocked_row_names_its_root_and_not_the_roots_message() -> None:
    row = cells()
    message = "blocked: email.delivery failed (no confirmation email within 3 s)"
    HtmlReport.pytest_html_results_table_row(
        report("blocked", message, outcome="skipped", blocked_by="email.delivery"), row
    )
    assert row[3] == '<td class="col-message">blocked by email.delivery</td>'
    run = real("email.drop")
    blocked = run.check("auth.session")
    assert blocked is not None
    table = check_table(blocked)
    assert "email.delivery" in table and "no confirmation email" not in table


def test_a_skip_shows_its_reason_not_pytests_tuple() -> None:
    data = ["('/x/checks/test_deeplink.py', 12, 'Skipped: does not apply')"]
    HtmlReport.pytest_html_results_table_html(
        report("skipped", "does not apply", outcome="skipped"), data
    )
    assert data == []  # the row's message column says why


def test_durations_are_one_unit() -> None:
    assert HtmlReport.pytest_html_duration_format(2.0134) == "2013 ms"
    assert HtmlReport.pytest_html_duration_format(0.004) == "4 ms"
