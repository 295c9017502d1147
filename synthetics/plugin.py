"""The pytest plugin: options, the run's fixtures, and check outcome → status → outputs.

Checks are ordinary pytest tests marked `@pytest.mark.check("<id>")`. They assert and measure
through the `check` fixture; this plugin turns each outcome into a status with `severity`, keeps
secrets out of every report, writes results.json and prints the summary table. Plugin state lives
in `config.stash`.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from synthetics import config as config_module
from synthetics.catalog import CATALOG, browser_checks, order_key, parse_groups, spec_for
from synthetics.clients.http import BadResponse, Recorder, TransportFailure
from synthetics.deeplink.browser import BrowserThread
from synthetics.errors import ConfigError, SyntheticsError
from synthetics.journey import Blocked, Journey, NotApplicable, Outcome
from synthetics.results import CheckResult, RunResult
from synthetics.runtime import Plan, Runtime, SandboxLauncher, plan
from synthetics.severity import evaluate, exit_code
from synthetics.status import Status

PLAN = pytest.StashKey[Plan]()
RUNTIME = pytest.StashKey[Runtime]()
OUTCOME = pytest.StashKey["CheckRecord"]()
#: The checks that need Chromium.
BROWSER_CHECKS = browser_checks()


class CheckFailed(AssertionError):
    """A check failure with a reason (severity.py maps it to a status)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class CheckRecord:
    """What a running check reports: measurements, evidence, a message, a declared status."""

    id: str
    recorder: Recorder = field(default_factory=Recorder)
    measurements: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    message: str = ""
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


# -- options and configuration ---------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """The synthetics option group."""
    group = parser.getgroup("synthetics", "synthetic checks of a Supabase project")
    group.addoption("--synthetics-target", default=None, help="target name from the config")
    group.addoption("--synthetics-config", default=None, help="path of synthetics.toml")
    group.addoption(
        "--synthetics-set", action="append", default=[], help="override a config key: KEY=VALUE"
    )
    group.addoption(
        "--synthetics-fault", action="append", default=[], help="sandbox fault NAME[=VALUE]"
    )
    group.addoption("--synthetics-only", default=None, help="groups to run, comma-separated")
    group.addoption("--synthetics-report-dir", default="reports", help="where results.json goes")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and validate the run plan (config errors stop before any request)."""
    config.addinivalue_line("markers", "check(id): the contract id of a synthetic check")
    path = config.getoption("--synthetics-config")
    try:
        settings = config_module.load(
            path=Path(path) if path else None,
            sets=config.getoption("--synthetics-set"),
            target=config.getoption("--synthetics-target"),
        )
        config.stash[PLAN] = plan(
            settings,
            faults=config.getoption("--synthetics-fault"),
            report_dir=Path(config.getoption("--synthetics-report-dir")),
        )
    except ConfigError as exc:
        raise pytest.UsageError(f"synthetics configuration error: {exc}") from None
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(_HtmlColumns(config), "synthetics-html")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One `rpc.<function>` check per configured v2 RPC."""
    if "rpc_function" in metafunc.fixturenames:
        functions = metafunc.config.stash[PLAN].settings.config.rpc.functions
        metafunc.parametrize("rpc_function", functions, ids=functions)


def check_id(item: pytest.Item) -> str | None:
    """The contract id of a collected check (rpc ids carry the function)."""
    marker = item.get_closest_marker("check")
    if marker is None:
        return None
    base = str(marker.args[0])
    callspec = getattr(item, "callspec", None)
    if base == "rpc" and callspec is not None:
        return f"rpc.{callspec.params['rpc_function']}"
    return base


def _rank(item: pytest.Item) -> tuple[int, int]:
    cid = check_id(item)
    if cid is None:
        return (len(CATALOG), 0)
    try:
        return order_key(cid)
    except KeyError:
        return (len(CATALOG), 0)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Run checks in journey order; `--synthetics-only` keeps the chosen groups (and cleanup)."""
    checks = [i for i in items if check_id(i)]
    if not checks:
        return
    items.sort(key=_rank)  # stable: rpc checks keep the configured order
    try:
        groups = parse_groups(config.getoption("--synthetics-only"))
    except ValueError as exc:
        raise pytest.UsageError(f"--synthetics-only: {exc}") from None
    if groups is not None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            cid = check_id(item)
            (keep if not cid or spec_for(cid).group in groups else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synthetics(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """The run: target resolved (sandbox started), clients, inbox and journey ready."""
    config = request.config
    plugins = config.pluginmanager.get_plugins()
    launchers = [p for p in plugins if isinstance(p, SandboxLauncher)]
    browsers = [p for p in plugins if isinstance(p, BrowserThread)]  # started by `synthetics run`
    runtime = Runtime(
        config.stash[PLAN],
        launcher=launchers[0] if launchers else None,
        browser=browsers[0] if browsers else None,
        want_browser=any(check_id(i) in BROWSER_CHECKS for i in request.session.items),
    )
    config.stash[RUNTIME] = runtime
    try:
        runtime.open()
        yield runtime
    finally:
        runtime.close()


@pytest.fixture(scope="session")
def journey(synthetics: Runtime) -> Journey:
    """The throwaway user's journey (sign-up → email → deep link → session)."""
    assert synthetics.journey is not None
    return synthetics.journey


@pytest.fixture
def check(request: pytest.FixtureRequest, synthetics: Runtime) -> Iterator[CheckRecord]:
    """The running check's record; every HTTP attempt during the test is counted."""
    cid = check_id(request.node)
    if cid is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses `check` without @pytest.mark.check")
    record = CheckRecord(cid)
    request.node.stash[OUTCOME] = record
    assert synthetics.http is not None
    synthetics.http.recorders.append(record.recorder)
    try:
        yield record
    finally:
        synthetics.http.recorders.remove(record.recorder)


# -- outcomes --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Blocked and not-applicable checks become skips that remember why."""
    try:
        return (yield)
    except Blocked as blocked:
        record = item.stash.get(OUTCOME, None)
        if record is not None:
            record.blocked_by = blocked.root
        pytest.skip(blocked.reason)
    except NotApplicable as na:
        record = item.stash.get(OUTCOME, None)
        if record is not None:
            record.skip_reason = str(na)
        pytest.skip(str(na))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn the test's outcome into the check's status; redact everything the report carries."""
    report = yield
    runtime = item.config.stash.get(RUNTIME, None)
    record = item.stash.get(OUTCOME, None)
    cid = check_id(item)
    if record is None and cid and report.when == "setup" and report.failed:
        record = CheckRecord(cid)  # the run itself could not start: every check says why
    if runtime is None or record is None:
        return report
    final = report.when == "call" or (report.when == "setup" and not report.passed)
    if final:
        _save_attachments(record, runtime.plan.report_dir)
        result = _result(item, record, call, report, runtime)
        runtime.results.append(result)
        report.user_properties.extend(
            [("check", result.id), ("status", result.status.value), ("message", result.message)]
            + [(k, f"{v:.3f}") for k, v in result.measurements.items()]
        )
        _html_extras(report, result, record.attachments)
    _redact_report(report, runtime)
    return report


def _result(
    item: pytest.Item,
    record: CheckRecord,
    call: pytest.CallInfo[None],
    report: pytest.TestReport,
    runtime: Runtime,
) -> CheckResult:
    spec = spec_for(record.id)
    attempts = _tries(record)
    result = CheckResult(
        id=record.id,
        group=spec.group,
        status=Status.OK,
        duration_ms=(time.perf_counter() - record.started) * 1000,
        attempts=attempts,
        measurements=dict(record.measurements),
        message=record.message,
        evidence=dict(record.evidence),
    )
    if attempts > 1:
        result.evidence["attempts"] = ", ".join(
            a.error or str(a.status) for a in record.recorder.attempts
        )
    thresholds = runtime.settings.config.thresholds
    if report.skipped:
        skipped_because = _skip_reason(report)
        if record.blocked_by:
            result.status, result.blocked_by = Status.BLOCKED, record.blocked_by
        else:
            result.status = Status.SKIPPED
        result.message = skipped_because
    elif report.passed:
        graded = evaluate(
            record.id,
            passed=True,
            measurements=record.measurements,
            thresholds=thresholds,
            attempts=_tries(record),
        )
        result.status, result.reason = graded.status, graded.reason
        if graded.why:
            result.message = f"{result.message}; {graded.why}" if result.message else graded.why
    else:
        error = call.excinfo.value if call.excinfo else None
        reason = error.reason if isinstance(error, CheckFailed) else None
        if isinstance(error, AssertionError):
            message = str(error).split("\nassert ")[0].strip() or "assertion failed"
        elif isinstance(error, TransportFailure | BadResponse):
            message = str(error)
        elif isinstance(error, SyntheticsError) and report.when == "setup":
            message = f"the run could not start: {error}"
        else:
            message = f"the check itself crashed: {type(error).__name__}: {error}"
        graded = evaluate(
            record.id,
            passed=False,
            measurements=record.measurements,
            thresholds=thresholds,
            reason=reason,
        )
        result.status, result.reason = graded.status, graded.reason
        result.message = message
    result.message = runtime.redactor.redact(result.message)
    result.evidence = runtime.redactor.redact_any(result.evidence)
    return result


def _tries(record: CheckRecord) -> int:
    """1 + the retries it took (an answered request after failed tries counts as a retry)."""
    failed = sum(
        1 for a in record.recorder.attempts if a.error is not None or a.status in (502, 503, 504)
    )
    return 1 + failed


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "skipped")


def _redact_report(report: pytest.TestReport, runtime: Runtime) -> None:
    """Nothing secret reaches JUnit, HTML or the terminal: failures become a redacted summary."""
    redact = runtime.redactor.redact
    if report.failed and report.longrepr is not None:
        message = next((str(v) for k, v in report.user_properties if k == "message"), "")
        text = message or str(report.longrepr)
        if message.startswith("the check itself crashed"):
            text = f"{message}\n{report.longrepr}"  # our bug: keep the traceback, redacted
        report.longrepr = redact(text)
    elif isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line, reason = report.longrepr
        report.longrepr = (path, line, redact(str(reason)))
    report.sections = [(title, redact(content)) for title, content in report.sections]


def _save_attachments(record: CheckRecord, report_dir: Path) -> None:
    """Leave each attachment in the report directory and name the file in the evidence."""
    for name, png in record.attachments.items():
        report_dir.mkdir(parents=True, exist_ok=True)
        filename = f"{record.id}.{name}.png"
        (report_dir / filename).write_bytes(png)
        record.evidence[name] = filename


def _html_extras(
    report: pytest.TestReport, result: CheckResult, attachments: dict[str, bytes]
) -> None:
    try:
        from pytest_html import extras
    except ImportError:
        return
    rows = [("status", result.status.value), ("message", result.message)]
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


class _HtmlColumns:
    """pytest-html title and columns: run, check id, status (registered only with pytest-html)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_html_report_title(self, report: Any) -> None:
        # pytest-html asks at session start, before any check: the target is known, the outcome not.
        plan_ = self.config.stash.get(PLAN, None)
        if plan_ is not None:
            report.title = f"synthetic checks of {plan_.settings.target_name}"

    @staticmethod
    def pytest_html_results_table_header(cells: list[str]) -> None:
        cells.insert(1, "<th>Check</th>")
        cells.insert(2, "<th>Status</th>")

    @staticmethod
    def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
        props = dict(report.user_properties)
        cells.insert(1, f"<td>{html.escape(str(props.get('check', '')))}</td>")
        cells.insert(2, f"<td>{html.escape(str(props.get('status', '')))}</td>")


# -- the end of the run ------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write results.json and set the exit code from the run's status."""
    runtime = session.config.stash.get(RUNTIME, None)
    if runtime is None or not runtime.results:
        return
    run = runtime.run_result()
    run.write(runtime.plan.report_dir / "results.json")
    session.config.stash[_RUN] = run
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = exit_code(run.status)


_RUN = pytest.StashKey[RunResult]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """A table of every check with its status, timing and message, then the alerts."""
    run = config.stash.get(_RUN, None)
    if run is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"synthetics {run.run_id} on {run.target}: {run.status.value.upper()}")
    width = max(len(c.id) for c in run.checks)
    for check in run.checks:
        took = check.measurements.get("latency_ms")
        timing = f"{took:7.0f} ms" if took is not None else " " * 10
        if "delivery_s" in check.measurements:
            timing = f"{check.measurements['delivery_s']:8.2f} s"
        tries = f" x{check.attempts}" if check.attempts > 1 else ""
        why = f" [blocked by {check.blocked_by}]" if check.blocked_by else ""
        write(
            f"{check.id:<{width}}  {check.status.value:<8} {timing}{tries:<4} {check.message}{why}"
        )
    if run.alerts:
        write("")
        for alert in run.alerts:
            write(f"{alert.severity.value.upper():<8} {alert.check}: {alert.message}")
            write(f"         runbook: {alert.runbook}")
