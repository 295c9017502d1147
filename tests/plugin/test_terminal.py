"""The terminal table: one line per check within the width, a root cause said once, alerts
with their runbook, and a progress line that redraws in place on a terminal."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from _pytest._io import TerminalWriter

from synthetics.plugin.terminal import Live, cells, fit, footer, rows, wrap
from synthetics.results import CheckResult, RunResult
from synthetics.status import Status

RUNS = Path(__file__).parents[1] / "alerting" / "runs"  # real sandbox runs' results.json
WIDTHS = [40, 60, 80, 120, 200]


def real(name: str) -> RunResult:
    return RunResult.read(RUNS / f"{name}.json")


def hostile(run: RunResult) -> RunResult:
    """A run whose texts are as long and as wide as a target can make them."""
    check = run.checks[2]
    check.message = "確認メールが届きませんでした " * 30 + "x" * 500
    run.checks.append(
        CheckResult(id="rpc." + "a_very_long_function_name" * 3, group="rpc", status=Status.OK)
    )
    return run


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["clean", "email.drop", "security.anon_grant"])
def test_no_line_is_wider_than_the_terminal(name: str, width: int) -> None:
    run = hostile(real(name))
    for line in rows(run, width) + footer(run, width, files=["reports/results.json"]):
        assert cells(line) <= width, line
    assert len(rows(run, width)) == len(run.checks)  # one line per check


def test_a_root_cause_is_said_once_and_blocked_checks_name_it() -> None:
    run = real("email.drop")
    lines = rows(run, 200)
    root = run.check("email.delivery")
    assert root is not None and root.status is Status.CRITICAL
    said = root.message[:40]
    assert sum(said in line for line in lines) == 1
    for check in run.checks:
        if check.blocked_by == "email.delivery":
            line = next(li for li in lines if li.startswith(check.id + " "))
            assert line.endswith("blocked by email.delivery")


def test_the_footer_gives_the_verdict_and_each_alert_with_its_runbook() -> None:
    run = real("security.anon_grant")
    text = "\n".join(footer(run, 100))
    assert text.splitlines()[0].startswith(f"CRITICAL · sandbox · {len(run.checks)} checks:")
    assert "runbook: Emergency Procedures: Security Incident Response" in text
    assert "first step: REVOKE ALL ON ALL TABLES/FUNCTIONS" in text


def test_a_run_that_stopped_says_why_once() -> None:
    run = real("clean")
    for check in run.checks[5:]:
        check.status, check.blocked_by = Status.BLOCKED, "interrupted"
        check.message = "not run: the run was stopped by SIGTERM before this check ran"
    run.interrupted = True
    lines = rows(run, 120) + footer(run, 120)
    assert sum("stopped by SIGTERM" in line for line in lines) == 1
    assert rows(run, 120)[6].endswith("not run (interrupted)")
    assert footer(run, 120)[0].startswith("INTERRUPTED · sandbox")


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("eleven char", 10, "eleven ch…"),
        ("確認メール", 6, "確認…"),  # wide characters take two columns each
        ("e\u0301e\u0301", 2, "e\u0301e\u0301"),  # combining marks take none
    ],
)
def test_fit_cuts_by_display_columns(text: str, width: int, expected: str) -> None:
    assert fit(text, width) == expected
    assert cells(fit(text, width)) <= width


def test_wrap_keeps_its_prefix_and_indents_what_follows() -> None:
    lines = wrap("one two three four five six", 20, "runbook: ")
    assert lines[0].startswith("runbook: one")
    assert all(li.startswith(" " * 9) for li in lines[1:])
    assert all(cells(li) <= 20 for li in lines)


def test_colours_follow_the_terminal_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    run = real("email.drop")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("PY_COLORS", raising=False)
    coloured = TerminalWriter(io.StringIO())
    assert any("\x1b[31m" in line for line in rows(run, 120, coloured.markup))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR")
    plain = TerminalWriter(io.StringIO())
    assert not any("\x1b[" in line for line in rows(run, 120, plain.markup))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0  # every look at the clock: one more second waited
        return self.now


def live(out: io.StringIO, *, tty: bool) -> Live:
    writer = TerminalWriter(out)
    writer.fullwidth = 80
    return Live(writer, tty=tty, clock=Clock(), ticks=(0.01, 0.01))


@pytest.mark.parametrize("tty", [True, False])
def test_a_long_wait_shows_its_progress_and_leaves_no_trace(tty: bool) -> None:
    out = io.StringIO()
    terminal = live(out, tty=tty)
    seen = threading.Event()
    with terminal.waiting("waiting for the confirmation email", 120):
        while "3 s / 120 s" not in out.getvalue():
            seen.wait(0.01)  # the ticker draws meanwhile
    text = out.getvalue()
    assert "waiting for the confirmation email… 1 s / 120 s" in text
    if tty:  # redrawn in place, then erased so the next line starts clean
        assert "\n" not in text and text.endswith("\r")
    else:  # a log gets lines
        assert text.count("\n") >= 3 and "\r" not in text
    check = CheckResult(id="email.delivery", group="email", status=Status.OK, message="arrived")
    terminal.show(check)
    last = out.getvalue().rsplit("\r", 1)[-1].strip().splitlines()[-1]
    assert last.startswith("email.delivery") and "arrived" in last
