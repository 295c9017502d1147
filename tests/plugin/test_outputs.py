"""A warning run as a person meets it: `synthetics run` on a terminal (a pty), its report.html
in Chromium, its junit.xml against the JUnit schema. The screenshots in docs/ are these."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from synthetics.plugin.terminal import cells
from tests.chromium import FOUND, needs_chromium
from tests.plugin.ansi import screen, to_html

ROOT = Path(__file__).parents[2]
COLUMNS, ROWS = 110, 60
#: A late email: a warning (exit 1), and a wait long enough to show its progress line.
WARNING_RUN = [
    "--fault",
    "email.delay=3",
    "--set",
    "thresholds.email_sla_s=1",
    "--set",
    "thresholds.email_timeout_s=20",
    "--no-history",
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def on_a_terminal(command: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run `command` with a pty as its terminal (COLUMNS x ROWS); its exit code and output."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=ROOT, env=env
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end closed, the run is over
                break
            if not data:
                break
            chunks.append(data)
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def warning_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `synthetics run` on a terminal, whose email arrives after the SLA."""
    reports = tmp_path_factory.mktemp("warning-run")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "PY_COLORS", "COLUMNS")}
    env |= {"TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "synthetics.cli", "run", "--report-dir", str(reports)]
    code, output = on_a_terminal(command + WARNING_RUN, env, timeout=240)
    return {"code": code, "output": output, "reports": reports}


def test_the_terminal_shows_a_line_per_check_and_the_wait(warning_run: dict[str, Any]) -> None:
    output = warning_run["output"]
    assert warning_run["code"] == 1, output
    assert "\x1b[" in output  # a terminal gets colours
    visible = [ANSI.sub("", line) for line in screen(output)]
    assert all(cells(line) <= COLUMNS for line in visible), max(visible, key=cells)
    # The wait said how long it had waited, redrawn in place, then gave way to the row.
    assert re.search(r"\rwaiting for the confirmation email… [12] s / 20 s", output)
    row = next(line for line in visible if line.startswith("email.delivery "))
    assert "warning" in row and "arrived after" in row
    assert not any(re.fullmatch(r"[.sF]+\s*(\[\s*\d+%\])?", line) for line in visible if line)
    assert "FAILED" not in output and "passed" not in output  # pytest's own lines are off
    text = "\n".join(visible)
    assert "WARNING · sandbox · 37 checks: 1 warning" in text
    assert "runbook: Rollback Plan A: Auth Configuration Rollback" in text
    assert "no synthetics.toml found" not in text  # the checkout's profile was found


def test_the_report_header_says_warning_with_its_alert(warning_run: dict[str, Any]) -> None:
    page = (warning_run["reports"] / "report.html").read_text()
    assert "WARNING: synthetics on sandbox" in page
    assert "Rollback Plan A: Auth Configuration Rollback" in page
    assert "Revert the Auth settings" in page
    assert "Python" not in page.split('id="data-container"')[0]  # no interpreter table
    assert "Skipped: does not apply" not in page and "checks/test_" not in page
    assert not re.search(r"\d\d:\d\d:\d\d</td>", page)  # one duration unit: ms


def test_junit_xml_is_valid_and_shows_the_warning(warning_run: dict[str, Any]) -> None:
    schema = xmlschema.XMLSchema(ROOT / "tests" / "exporters" / "junit-jenkins.xsd")
    document = (warning_run["reports"] / "junit.xml").read_text()
    schema.validate(document)
    assert '<testcase classname="email" name="email.delivery"' in document
    assert '<failure type="warning"' in document


@needs_chromium
def test_the_report_and_the_terminal_in_chromium(
    warning_run: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from synthetics.deeplink.browser import launch_args

    output = warning_run["output"]
    terminal = tmp_path / "terminal.html"
    terminal.write_text(to_html(output, "synthetics run"))
    # The same terminal while the email was awaited: the output up to a progress line.
    waited = re.search(r"waiting for the confirmation email… 2 s / 20 s *", output)
    assert waited is not None
    waiting = tmp_path / "waiting.html"
    waiting.write_text(to_html(output[: waited.end()], "synthetics run, waiting"))
    outside: list[str] = []
    assert FOUND is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=FOUND.path, args=launch_args())
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})

            def only_files(route: Any) -> None:  # the report needs nothing from elsewhere
                if route.request.url.startswith(("file://", "data:")):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_files)
            page.goto((warning_run["reports"] / "report.html").as_uri())
            assert page.inner_text("#run-status") == "WARNING"
            assert "email.delivery" in page.inner_text("#alerts")
            assert not page.locator("#environment").is_visible()
            status = page.locator("tbody[id='email.delivery'] .col-status")
            assert status.inner_text() == "warning"
            colour = status.evaluate("e => getComputedStyle(e).color")
            assert colour == "rgb(154, 103, 0)"  # warning's colour, not pytest-html's green
            first = page.locator("#results-table tbody .col-testId").first.inner_text()
            assert first == "email.delivery"  # the worst first
            page.locator("#synthetics-run").screenshot(path=str(tmp_path / "report-header.png"))
            page.set_viewport_size({"width": 1000, "height": 900})
            page.goto(terminal.as_uri())
            page.locator("pre").screenshot(path=str(tmp_path / "terminal.png"))
            page.goto(waiting.as_uri())
            assert "waiting for the confirmation email… 2 s / 20 s" in page.inner_text("pre")
            page.locator("pre").screenshot(path=str(tmp_path / "terminal-waiting.png"))
        finally:
            browser.close()
    assert outside == []
    shots = ("report-header.png", "terminal.png", "terminal-waiting.png")
    for name in shots:  # docs/ holds one of each
        assert (tmp_path / name).stat().st_size > 5_000
    if os.environ.get("SYNTHETICS_SCREENSHOTS"):  # where to leave them (docs/)
        target = Path(os.environ["SYNTHETICS_SCREENSHOTS"])
        for name in shots:
            (target / name).write_bytes((tmp_path / name).read_bytes())
