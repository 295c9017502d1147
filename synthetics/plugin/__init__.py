"""The pytest plugin: options, the run's fixtures, and check outcome → status → outputs.

Checks are ordinary pytest tests marked `@pytest.mark.check("<id>")`. They assert and measure
through the `check` fixture (`synthetics.plugin.api`); `outcome` turns each test's outcome into a
status with `severity`; `reporting` keeps secrets and junk out of pytest's own reports;
`terminal` and `html_report` show the run; the end of the session hands the run to
`synthetics.finish`. Plugin state lives in `config.stash`.

Installed, the plugin loads in every pytest session (the `pytest11` entry point; from a checkout
the top-level conftest.py loads it), and stays inert unless the session runs checks: a
`--synthetics-*` option was given, or the paths given are the bundled checks. Then
`pytest --synthetics-target staging` with no paths runs the bundled checks instead of the
project's `testpaths`; otherwise the checks are never collected by accident (`pytest .`).
Check ids are keywords (`-k email.delivery`, `-k "rpc and feed"`) and groups are markers
(`-m security`).

A run that does not finish (SIGINT/SIGTERM, `-x`, a deadline) still reports every check: what did
not run is `blocked` by `interrupted`, cleanup is reported from what the teardown did, and the
exit code is 4.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from synthetics import config as config_module
from synthetics.catalog import (
    CATALOG,
    GROUPS,
    browser_checks,
    execution_key,
    parse_groups,
    spec_for,
)
from synthetics.control import RunControl
from synthetics.deeplink.browser import BrowserThread
from synthetics.errors import ConfigError, SyntheticsError
from synthetics.finish import Finish, finish
from synthetics.journey import Blocked, Journey, NotApplicable
from synthetics.plugin.api import CheckFailed, CheckRecord
from synthetics.plugin.html_report import HtmlReport, html_extras
from synthetics.plugin.outcome import check_id, not_run, result_for
from synthetics.plugin.reporting import redact_report, save_attachments
from synthetics.plugin.terminal import (
    Live,
    footer,
    output_files,
    rows,
    terminal_stream,
    width_of,
)
from synthetics.results import RunResult
from synthetics.runtime import Runtime
from synthetics.severity import exit_code
from synthetics.targets import LAUNCHERS, plan

__all__ = ["RUNTIME", "CheckFailed", "CheckRecord", "check_id"]

RUNTIME = pytest.StashKey[Runtime]()
OUTCOME = pytest.StashKey[CheckRecord]()
RUN = pytest.StashKey[RunResult]()
LOGS = pytest.StashKey[AbstractContextManager[None]]()
#: Our exit code for the session (`verdict`), for `synthetics run` to return.
EXIT = pytest.StashKey[int]()
#: The live terminal, when `synthetics run` draws its own (`--synthetics-live`).
LIVE = pytest.StashKey[Live]()
#: The checks that need Chromium.
BROWSER_CHECKS = browser_checks()
#: The bundled checks.
CHECKS_DIR = Path(__file__).resolve().parents[1] / "checks"
#: The files of a run, in the report directory (contract).
OUTPUTS = ("results.json", "report.html", "junit.xml")


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
    group.addoption(
        "--synthetics-no-history",
        action="store_true",
        default=False,
        help="do not record the run in the history ([history] url)",
    )
    group.addoption(
        "--synthetics-trigger",
        default=None,
        help="what started the run: schedule, release, manual or ci (default: from "
        "GITHUB_EVENT_NAME, else manual)",
    )
    group.addoption(
        "--synthetics-live",
        action="store_true",
        default=False,
        help="a line per check as it finishes and a progress line during long waits, instead "
        "of pytest's dots (what `synthetics run` shows)",
    )
    group.addoption(
        "--synthetics-environment",
        action="store_true",
        default=False,
        help="keep the Python, platform and plugin versions in report.html",
    )


#: The options that ask for a synthetics run, with the value each has when not given.
_ASKING: dict[str, object] = {
    "--synthetics-target": None,
    "--synthetics-config": None,
    "--synthetics-set": [],
    "--synthetics-fault": [],
    "--synthetics-only": None,
    "--synthetics-report-dir": "reports",
    "--synthetics-no-history": False,
    "--synthetics-trigger": None,
    "--synthetics-live": False,
}


def _paths(config: pytest.Config) -> list[Path]:
    """The paths pytest was given (node ids without their `::test` part)."""
    here = config.invocation_params.dir
    return [(here / arg.split("::", 1)[0]).resolve() for arg in config.args]


def _inside_checks(path: Path) -> bool:
    return path == CHECKS_DIR or CHECKS_DIR in path.parents


def wanted(config: pytest.Config) -> bool:
    """Whether this session runs synthetic checks (otherwise the plugin stays out of the way)."""
    asked = any(config.getoption(name) != unset for name, unset in _ASKING.items())
    return asked or any(_inside_checks(p) for p in _paths(config))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the markers; in a session that runs checks, validate the run plan (config
    errors stop before any request) and set up its outputs.

    First of the configure hooks: pytest-html and pytest-metadata read what this sets.
    """
    config.addinivalue_line("markers", "check(id): the contract id of a synthetic check")
    for group in GROUPS:
        config.addinivalue_line("markers", f"{group}: the {group} checks")
    if not wanted(config):
        return
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(CHECKS_DIR)]  # `pytest --synthetics-target x`: the checks
    path = config.getoption("--synthetics-config")
    try:
        settings = config_module.load(
            path=Path(path) if path else None,
            sets=config.getoption("--synthetics-set"),
            target=config.getoption("--synthetics-target"),
        )
        run_plan = plan(
            settings,
            faults=config.getoption("--synthetics-fault"),
            report_dir=Path(config.getoption("--synthetics-report-dir")),
            trigger=config.getoption("--synthetics-trigger"),
            history=not config.getoption("--synthetics-no-history"),
        )
        parse_groups(config.getoption("--synthetics-only"))
    except (ConfigError, ValueError) as exc:
        raise pytest.UsageError(f"synthetics configuration error: {exc}") from None
    plugins = config.pluginmanager.get_plugins()
    launchers = [p for p in plugins if isinstance(p, LAUNCHERS)]
    browsers = [p for p in plugins if isinstance(p, BrowserThread)]  # started by `synthetics run`
    controls = [p for p in plugins if isinstance(p, RunControl)]
    notice = config_module.defaults_notice(settings)
    if notice and not controls:  # `synthetics run` said so already
        print(f"synthetics: {notice}", file=sys.stderr)
    config.stash[RUNTIME] = Runtime(
        run_plan,
        launcher=launchers[0] if launchers else None,
        browser=browsers[0] if browsers else None,
        control=controls[0] if controls else None,
    )
    # Every log record (pytest's live logs at any level, httpx's request lines) is redacted.
    redacting = config.stash[RUNTIME].redactor.logging()
    redacting.__enter__()
    config.stash[LOGS] = redacting
    _outputs(config, run_plan.report_dir, settings.target_name)


def _outputs(config: pytest.Config, report_dir: Path, target: str) -> None:
    """report.html in the report directory, however the checks are run (`synthetics run` names
    it itself), and the live terminal when asked for."""
    if config.pluginmanager.hasplugin("html") and not config.option.collectonly:
        if not config.getoption("htmlpath", None):
            config.option.htmlpath = str(report_dir / "report.html")
            config.option.self_contained_html = True
        report = HtmlReport(
            target,
            lambda: config.stash.get(RUN, None),
            environment=config.getoption("--synthetics-environment"),
        )
        config.pluginmanager.register(report, "synthetics-html")


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """report.html shows the run, not the interpreter and plugin versions (unless asked)."""
    if RUNTIME in config.stash and not config.getoption("--synthetics-environment"):
        metadata.clear()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A session that does not run checks never collects them (`pytest .` at the root)."""
    if RUNTIME not in config.stash and collection_path.resolve() == CHECKS_DIR:
        return True
    return None


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """With the live terminal, pytest's dots are off: each check has its own line."""
    if LIVE in config.stash and config.get_verbosity() <= 0:
        category = report.outcome if report.when == "call" or not report.passed else ""
        return category, "", ""
    return None


def _live(config: pytest.Config, runtime: Runtime) -> None:
    """The live terminal (`--synthetics-live`), drawn on pytest's own terminal writer."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not config.getoption("--synthetics-live") or reporter is None:
        return
    # The progress line comes from whichever thread waits, while pytest captures a check's
    # output: it gets a descriptor of its own on the same terminal.
    progress = terminal_stream(sys.stdout)
    live = Live(config.get_terminal_writer(), tty=bool(reporter.isatty), progress=progress)
    config.stash[LIVE] = live
    if progress is not None:
        config.add_cleanup(progress.close)
    runtime.waiting = live.waiting
    config.pluginmanager.register(live, "synthetics-live")


def pytest_sessionstart(session: pytest.Session) -> None:
    """The live terminal, once pytest's own is there; the dead-man switch hears that a run
    started (`[heartbeat] url`; a failed ping is only a notice at the end)."""
    runtime = session.config.stash.get(RUNTIME, None)
    if runtime is None:
        return
    _live(session.config, runtime)
    if runtime.settings.config.heartbeat.url is None:
        return
    from synthetics.alerting.heartbeat import Heartbeat
    from synthetics.alerting.sender import Sender

    runtime.redactor.add(runtime.settings.config.heartbeat.url)
    sender = Sender(redactor=runtime.redactor)
    try:
        Heartbeat(runtime.settings.config.heartbeat, sender).start(runtime.run_id)
    except SyntheticsError:
        pass  # the end-of-run ping reports what the dead-man switch missed
    finally:
        sender.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop redacting log records once the session is over."""
    redacting = config.stash.get(LOGS, None)
    if redacting is not None:
        redacting.__exit__(None, None, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One `rpc.<function>` check per configured v2 RPC."""
    if "rpc_function" in metafunc.fixturenames and RUNTIME in metafunc.config.stash:
        functions = metafunc.config.stash[RUNTIME].settings.config.rpc.functions
        metafunc.parametrize("rpc_function", functions, ids=functions)


def _rank(item: pytest.Item) -> tuple[int, int, int]:
    cid = check_id(item)
    try:
        return execution_key(cid) if cid else (len(CATALOG), 0, 0)
    except KeyError:
        return (len(CATALOG), 0, 0)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Checks in catalogue order, marked with their group and known by their id (before `-k`
    and `-m` select); `--synthetics-only` keeps the chosen groups (and cleanup)."""
    if RUNTIME not in config.stash or not any(check_id(i) for i in items):
        return
    items.sort(key=_rank)  # stable: rpc checks keep the configured order
    budget = config.stash[RUNTIME].check_timeout()
    for item in items:
        cid = check_id(item)
        if cid is not None:
            item.add_marker(spec_for(cid).group)
            item.extra_keyword_matches.add(cid)  # `-k email.delivery`
            # pytest-timeout's signal method fails the check and lets its cleanup run.
            item.add_marker(pytest.mark.timeout(budget, method="signal"))
    groups = parse_groups(config.getoption("--synthetics-only"))
    if groups is not None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            cid = check_id(item)
            (keep if not cid or spec_for(cid).group in groups else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    runtime = config.stash[RUNTIME]
    runtime.want_browser = any(check_id(i) in BROWSER_CHECKS for i in items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The run's first line, once the checks it runs are known (after `-k`, `-m`, `--only`)."""
    config = session.config
    runtime = config.stash.get(RUNTIME, None)
    if runtime is None:
        return
    found = {i.nodeid: cid for i in session.items if (cid := check_id(i))}
    live = config.stash.get(LIVE, None)
    if live is not None and found:
        faults = [str(f) for f in runtime.plan.faults]
        live.begin(runtime.run_id, runtime.settings.target_name, list(found.values()), faults)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synthetics(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """The run: target resolved (sandbox started), clients, inbox and journey ready."""
    runtime = request.config.stash[RUNTIME]
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
    with synthetics.recording(record.recorder):
        yield record


# -- outcomes --------------------------------------------------------------------------------


def _skip_for(item: pytest.Item, exc: Blocked | NotApplicable) -> None:
    """A blocked or not-applicable check becomes a skip that remembers why."""
    record = item.stash.get(OUTCOME, None)
    cid = check_id(item)
    if record is None and cid is not None:
        record = item.stash[OUTCOME] = CheckRecord(cid)
    if isinstance(exc, Blocked):
        if record is not None:
            record.blocked_by = exc.root
        pytest.skip(exc.reason)
    if record is not None:
        record.skip_reason = str(exc)
    pytest.skip(str(exc))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A fixture that finds the check blocked (the target is down) skips it with the reason."""
    try:
        return (yield)
    except (Blocked, NotApplicable) as exc:
        _skip_for(item, exc)
        raise  # not reached: _skip_for raises pytest's skip


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Blocked and not-applicable checks become skips that remember why."""
    try:
        return (yield)
    except (Blocked, NotApplicable) as exc:
        _skip_for(item, exc)
        raise  # not reached: _skip_for raises pytest's skip


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
        save_attachments(record, runtime.plan.report_dir)
        result = result_for(
            record,
            report,
            call,
            thresholds=runtime.settings.config.thresholds,
            redactor=runtime.redactor,
        )
        runtime.results.append(result)
        report.user_properties.extend(
            [("check", result.id), ("status", result.status.value), ("message", result.message)]
            + [
                ("blocked_by", result.blocked_by or ""),
                ("duration_ms", f"{result.duration_ms:.1f}"),
            ]
            + [(k, f"{v:.3f}") for k, v in result.measurements.items()]
        )
        html_extras(report, result, record.attachments)
        live = item.config.stash.get(LIVE, None)
        if live is not None:
            live.show(result)
    redact_report(report, runtime.redactor)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Once the checks are over, the run's deadline no longer applies: the teardown that follows
    (cleanup) has the grace period of every request instead."""
    try:
        return (yield)
    finally:
        runtime = session.config.stash.get(RUNTIME, None)
        if runtime is not None and runtime.control is not None:
            runtime.control.cancel_deadline()


# -- the end of the run ------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Complete the run (what did not run, cleanup), finish it, and set our exit code.

    This runs after pytest tore the session fixtures down, so the run's cleanup has happened.
    """
    config = session.config
    runtime = config.stash.get(RUNTIME, None)
    if runtime is None:
        return
    if exitstatus == pytest.ExitCode.USAGE_ERROR or config.option.collectonly:
        return  # nothing ran: no run to finish (`--collect-only` lists the checks)
    # SIGINT, or SIGTERM turned into KeyboardInterrupt by `synthetics run`, stops the session.
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    control = runtime.control
    if control is not None and control.signal and not runtime.stop_message:
        if control.signal == "deadline":
            runtime.stop_reason = "deadline"
            runtime.stop_message = (
                f"the run passed its deadline (run_timeout_s = "
                f"{runtime.settings.config.run_timeout:g} s) before this check ran"
            )
        else:
            runtime.stop_message = f"the run was stopped by {control.signal} before this check ran"
    wanted = [cid for cid in (check_id(i) for i in session.items) if cid]
    if not wanted and not runtime.results:
        return
    done = {r.id for r in runtime.results}
    missing = [cid for cid in wanted if cid not in done]
    root = runtime.stop_reason or "interrupted"
    if runtime.api is None:  # stopped before the run opened (a stop during start-up)
        runtime.created_nothing()
    if missing or interrupted:
        interrupted = True
        for cid in missing:
            if cid == "cleanup" and runtime.cleanup_report is not None:
                runtime.results.append(runtime.cleanup_result())
            else:
                why = runtime.stop_message or "the run was interrupted before this check ran"
                runtime.results.append(not_run(cid, root, f"not run: {why}"))
    report = runtime.cleanup_report
    if "cleanup" not in wanted and report is not None and (report.attempted or report.left):
        # `-k`/`-m` left the cleanup check out; the teardown still deleted what the run made.
        runtime.results.append(runtime.cleanup_result())
    run = runtime.run_result(interrupted=interrupted)
    context = Finish(
        report_dir=runtime.plan.report_dir,
        redactor=runtime.redactor,
        settings=runtime.settings,
        history=runtime.plan.history,
        exporter=runtime.control.exporter if runtime.control is not None else None,
    )
    # What the stages print starts on a line of its own, not after pytest's progress dots: GitHub
    # reads a workflow command (an annotation) only at the start of a line. (pytest ends the
    # progress line the same way, after this hook.)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.line("")
    finish(run, context)
    config.stash[RUN] = run
    code = exit_code(run.status, interrupted=run.interrupted)
    config.stash[EXIT] = code
    session.exitstatus = code


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The checks not shown yet, then the verdict and its alerts; without the live terminal
    (pytest's own output, `-- -v`), first a line per check."""
    run = config.stash.get(RUN, None)
    runtime = config.stash.get(RUNTIME, None)
    if run is None or runtime is None:
        return
    files = output_files(runtime.plan.report_dir, OUTPUTS)
    live = config.stash.get(LIVE, None)
    if live is not None:
        live.finish(run, files)
        return
    writer = config.get_terminal_writer()
    width = width_of(writer, tty=bool(terminalreporter.isatty))
    terminalreporter.ensure_newline()
    for line in rows(run, width, writer.markup) + footer(run, width, writer.markup, files):
        writer.line(line)


def verdict(config: pytest.Config) -> int | None:
    """Our exit code for a finished session (None when the run produced no results)."""
    return config.stash.get(EXIT, None)
