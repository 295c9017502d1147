"""`synthetics` command line: a thin layer over the library; library errors become exit codes here.

Exit codes: 0 ok, 1 warning (or a runtime failure), 2 critical, 3 configuration or usage error,
4 the run did not finish (interrupted; results.json says `"interrupted": true`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn, TextIO

from synthetics import __version__
from synthetics.catalog import parse_groups
from synthetics.commands import alert as alert_command
from synthetics.commands import doctor as doctor_command
from synthetics.commands import history as history_command
from synthetics.commands import janitor as janitor_command
from synthetics.commands import rehearse as rehearse_command
from synthetics.commands import report as report_command
from synthetics.commands import rules as rules_command
from synthetics.commands import watch as watch_command
from synthetics.commands._common import check_report_dir
from synthetics.errors import ConfigError, HistoryError, SandboxError
from synthetics.heap import StartupHeap

if TYPE_CHECKING:
    from synthetics.config import Settings
    from synthetics.sandbox.migrations import Migrations
    from synthetics.sandbox.reports import LoadReport
    from synthetics.targets import Launcher, Plan

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNFINISHED = 0, 1, 3, 4


#: `synthetics run --help`'s examples; tests/test_examples.py runs each one against the sandbox.
RUN_EXAMPLES = """examples:
  synthetics run
      every check against the bundled sandbox
  synthetics run --only rpc,security
      the v2 RPCs and the security probes (their prerequisites run as needed)
  synthetics run --fault email.drop --set thresholds.email_timeout_s=5 \\
                 --set thresholds.email_sla_s=2
      rehearse a lost confirmation email without waiting the default 120 s
  synthetics run --fault security.anon_grant
      rehearse the runbook's security incident (exit 2)
  synthetics run --target staging
      a real project: its URL and keys come from the environment (see synthetics.toml)
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits 3 (usage error), as the contract says, instead of 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar."""
    parser = _Parser(prog="synthetics", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"synthetics {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run the synthetic checks (default target: the bundled sandbox)",
        description="Run the checks. Exit codes: 0 ok or info, 1 warning, 2 critical, "
        "3 configuration or usage error (nothing was sent), 4 the run did not finish.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--target", default=None, help="target name (default: default_target)")
    run.add_argument("--config", type=Path, default=None, help="config file (synthetics.toml)")
    run.add_argument("--only", default=None, help="groups to run: auth,email,deeplink,rpc,security")
    run.add_argument(
        "--fault", action="append", default=[], metavar="SPEC", help="sandbox fault (repeatable)"
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="sets",
        help="override a config key, e.g. thresholds.email_timeout_s=5 (repeatable)",
    )
    run.add_argument("--report-dir", type=Path, default=Path("reports"), help="output directory")
    run.add_argument(
        "--no-history",
        action="store_true",
        help="do not record the run in the history ([history] url)",
    )
    run.add_argument(
        "--trigger",
        choices=("schedule", "release", "manual", "ci"),
        default=None,
        help="what started the run (default: from GITHUB_EVENT_NAME, else manual)",
    )
    _database_options(run)
    run.add_argument("pytest_args", nargs="*", help="after `--`: extra pytest arguments")

    sandbox = commands.add_parser(
        "sandbox",
        help="run the local Supabase (Auth, REST, Postgres, SMTP, Mailpit API) in the foreground",
    )
    sandbox.add_argument(
        "--port",
        type=int,
        default=54321,
        help="API port; the others follow the Supabase CLI layout (DB +1, inbox +3, SMTP +4); "
        "0 picks free ports (default: 54321)",
    )
    sandbox.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, NAME[=VALUE]; repeatable (see the README's fault table)",
    )
    sandbox.add_argument(
        "--json", action="store_true", help="print one JSON line with URLs and keys once ready"
    )
    sandbox.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the database in DIR between starts (default: a temporary directory)",
    )
    _database_options(sandbox)
    history_command.add_parser(commands)
    report_command.add_parser(commands)
    alert_command.add_parser(commands)
    watch_command.add_parser(commands)
    rules_command.add_parser(commands)
    janitor_command.add_parser(commands)
    doctor_command.add_parser(commands)
    rehearse_command.add_parser(commands)
    return parser


def _database_options(parser: argparse.ArgumentParser) -> None:
    """The sandbox database's options, shared by `run` and `sandbox`."""
    group = parser.add_argument_group("the sandbox's database")
    group.add_argument(
        "--migrations",
        nargs="+",
        default=None,
        metavar="PATH",
        help="load the app's own SQL instead of the bundled schema: a Supabase CLI folder "
        "(migrations/ then seed.sql; its config.toml sets Auth), a folder of .sql files (name "
        "order), or files and globs (in the order given)",
    )
    group.add_argument(
        "--next",
        nargs="+",
        default=None,
        metavar="FILE",
        dest="next_files",
        help="then apply these migration files on top of the schema (the bundled one or "
        "--migrations), in the order given (globs allowed), each in its own transaction, "
        "stopping at the first failure: what `synthetics rehearse` tries",
    )
    group.add_argument(
        "--continue-on-error",
        action="store_true",
        help="with --migrations: report each failing statement and go on (default: stop at the "
        "first, leaving nothing of its file applied)",
    )
    group.add_argument(
        "--postgres-bin",
        type=Path,
        default=None,
        metavar="DIR",
        help="run on the PostgreSQL in DIR (default: the embedded build; with --migrations the "
        "newest /usr/lib/postgresql/*/bin that has the extensions the SQL needs)",
    )


def _migrations(args: argparse.Namespace) -> Migrations | None:
    """`--migrations PATH...` resolved into files (ConfigError for a bad PATH)."""
    if args.migrations is None:
        if args.continue_on_error:
            raise ConfigError("only applies with --migrations", key="--continue-on-error")
        return None
    from synthetics.sandbox.migrations import resolve

    return resolve(args.migrations, continue_on_error=args.continue_on_error)


def _next_migrations(args: argparse.Namespace) -> Migrations | None:
    """`--next FILE...` resolved into files (ConfigError for a bad FILE)."""
    if args.next_files is None:
        return None
    from synthetics.sandbox.migrations import resolve

    return resolve(args.next_files, key="--next")


def _print_load(
    report: LoadReport | None,
    migrations: Migrations | None,
    *,
    stream: TextIO,
    label: str = "migrations",
) -> None:
    """What loading the app's SQL did: a summary, skipped files, each failing statement."""
    if report is None or migrations is None:
        return
    print(f"{label}: {report.summary()}", file=stream)
    for name in migrations.skipped:
        print(f"  skipped {name} (not named <version>_<name>.sql)", file=stream)
    for failure in report.failures:
        print(f"  FAILED {failure}", file=stream)


def run_sandbox(args: argparse.Namespace) -> int:
    """`synthetics sandbox`: start, announce, wait for SIGINT/SIGTERM, stop cleanly."""
    from synthetics.reaper import claim, sweep
    from synthetics.sandbox.faults import parse_faults
    from synthetics.sandbox.server import Sandbox, settings_for_port
    from synthetics.sandbox.settings import SandboxSettings

    claim()
    threading.Thread(target=sweep, name="synthetics-sweep", daemon=True).start()
    if not 0 <= args.port <= 65535 - 4:
        raise ConfigError(f"{args.port} is not a usable port", key="--port")
    faults = parse_faults(args.fault)
    migrations = _migrations(args)
    next_migrations = _next_migrations(args)
    settings = replace(
        SandboxSettings(),
        migrations=migrations,
        postgres_bin=args.postgres_bin,
        next_migrations=next_migrations,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(settings_for_port(settings, args.port), faults=faults, data_dir=args.data_dir)
    try:
        info = sandbox.start()
        if args.json:
            print(json.dumps(info.contract()), flush=True)
        stream = sys.stderr if args.json else sys.stdout
        _print_load(sandbox.load_report, migrations, stream=stream)
        _print_load(sandbox.next_report, next_migrations, stream=stream, label="next")
        if not args.json:
            active = ", ".join(str(f) for f in faults) or "none"
            print(
                f"sandbox ready\n  API    {info.api_url}  (auth: /auth/v1, rest: /rest/v1)\n"
                f"  inbox  {info.inbox_url}  (Mailpit API)\n"
                f"  site   {info.site_url}  (the app's site: /.well-known association files)\n"
                f"  SMTP   {info.smtp_host}:"
                f"{info.smtp_port}\n  DB     {info.db_url}\n  faults {active}\n"
                "  keys   the Supabase CLI demo keys (`--json` prints them)\n"
                "Ctrl-C stops it.",
                flush=True,
            )
        while not stop.wait(3600):
            pass
    finally:
        sandbox.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return EXIT_OK


def run_checks(args: argparse.Namespace, heap: StartupHeap | None = None) -> int:
    """`synthetics run`: validate everything, then hand the checks to pytest.

    pytest's own exit codes never come out as ours: the plugin's verdict is the exit code; when
    there is none, a usage problem is 3 and anything else means the run did not finish (4).
    """
    from synthetics import config as config_module
    from synthetics.reaper import claim
    from synthetics.targets import forked_launcher, plan

    settings = config_module.load(path=args.config, sets=args.sets, target=args.target)
    notice = config_module.defaults_notice(settings)
    if notice:
        print(f"synthetics: {notice}", file=sys.stderr)
    migrations = _migrations(args)
    next_migrations = _next_migrations(args)
    run_plan = plan(
        settings,
        faults=args.fault,
        report_dir=args.report_dir,
        migrations=migrations,
        postgres_bin=args.postgres_bin,
        trigger=args.trigger,
        next_migrations=next_migrations,
    )
    try:
        groups = parse_groups(args.only)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--only") from None
    check_report_dir(args.report_dir)
    # What this run starts carries its mark; what killed runs left behind goes, in the background.
    claim()
    # The sandbox first, before this process has any other thread: where it can, it is forked
    # into a process of its own (synthetics.sandbox_child), which loads and serves on the other
    # core while pytest is imported, starts and collects here; the run picks it up.
    launcher: Launcher | None = forked_launcher(run_plan) if settings.target.sandbox else None
    try:
        return _run_pytest(args, settings, run_plan, groups, launcher, heap)
    except BaseException:
        if launcher is not None:  # what failed before pytest's end stopped it (safe twice)
            launcher.stop()
        raise


def _run_pytest(
    args: argparse.Namespace,
    settings: Settings,
    run_plan: Plan,
    groups: frozenset[str] | None,
    launcher: Launcher | None,
    heap: StartupHeap | None,
) -> int:
    """The rest of `synthetics run`, its sandbox starting: the sweep, the deadline, signals,
    Chromium, pytest, and the stop of what the run started."""
    from synthetics.control import RunControl
    from synthetics.reaper import sweep
    from synthetics.targets import SandboxLauncher, browser_for

    threading.Thread(target=sweep, name="synthetics-sweep", daemon=True).start()
    control = RunControl()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        # The first signal stops the checks; pytest's teardown then cleans up (users deleted,
        # browser and sandbox stopped). Later signals must not cut that cleanup short.
        if control.stop(signal.Signals(signum).name):
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    control.start_deadline(settings.config.run_timeout)
    # Chromium, when the browser checks are in the run, comes up likewise, in its own processes;
    # then a sandbox that could not be forked, in this process: Chromium first, its start is the
    # longer wait (~0.6 s), and the sandbox's begin() loads its code here.
    browser = browser_for(run_plan, once=True) if groups is None or "deeplink" in groups else None
    if launcher is None and settings.target.sandbox:
        launcher = SandboxLauncher(run_plan, once=True).begin()
    try:
        import pytest

        plugins = [p for p in (launcher, browser, control, heap) if p is not None]
        code = int(pytest.main(_pytest_args(args, settings), plugins=plugins))
    finally:
        control.cancel_deadline()
        try:
            try:
                if browser is not None:
                    browser.close()
            finally:
                if launcher is not None:
                    launcher.stop()
            if launcher is not None:
                started = launcher.sandbox  # None when the sandbox could not even be made
                if started is not None:
                    _print_load(started.load_report, run_plan.migrations, stream=sys.stderr)
                    _print_load(
                        started.next_report,
                        run_plan.next_migrations,
                        stream=sys.stderr,
                        label="next",
                    )
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    if control.verdict is not None:
        result = control.verdict
    elif code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        result = EXIT_USAGE
    else:
        result = EXIT_UNFINISHED
    if browser is not None and browser.stuck:
        _leave_now(result)
    return result


def _leave_now(code: int) -> None:
    """End the process without the interpreter's finalization: a browser thread is stuck in
    Playwright on a driver the process group's signal killed, and finalizing its greenlets
    crashes (SIGSEGV) instead of exiting with the run's code. The outputs are written and the
    browser's processes killed; exit handlers still run."""
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


#: pytest options after `--` that bring pytest's own reporting back (`synthetics run -- -v`).
PYTEST_REPORTING = ("-v", "-q", "-r", "--verbose", "--quiet", "--tb", "--no-summary")


def _pytest_args(args: argparse.Namespace, settings: Settings) -> list[str]:
    """pytest's command line for the checks, with the run's options and outputs.

    pytest's dots, FAILED lines and tracebacks give way to the run's own table (a line per
    check as it finishes, a progress line during long waits, the verdict and its alerts),
    unless the arguments after `--` ask pytest for its own reporting (`-v`, `-rA`, `--tb=…`):
    then pytest reports as usual and the table follows. junit.xml is the run's own
    (one testcase per check id), written with results.json; `-- --junitxml=PATH` still asks
    pytest for its own.
    """
    checks = Path(__file__).parent / "checks"
    report_dir = args.report_dir
    extra: list[str] = list(args.pytest_args)
    pytest_args = [str(checks), "-c", str(checks / "pytest.ini"), "--rootdir", str(checks)]
    if not any(a.startswith(PYTEST_REPORTING) for a in extra):
        pytest_args += ["-qq", "--no-summary", "--tb=no", "--synthetics-live"]
    pytest_args += [
        "--synthetics-target",
        settings.target_name,
        "--synthetics-report-dir",
        str(report_dir),
        f"--html={report_dir / 'report.html'}",
        "--self-contained-html",
    ]
    if settings.path is not None:
        pytest_args += ["--synthetics-config", str(settings.path)]
    for item in args.sets:
        pytest_args += ["--synthetics-set", item]
    for item in args.fault:
        pytest_args += ["--synthetics-fault", item]
    if args.only:
        pytest_args += ["--synthetics-only", args.only]
    if args.trigger:
        pytest_args += ["--synthetics-trigger", args.trigger]
    if args.no_history:
        pytest_args.append("--synthetics-no-history")
    return pytest_args + extra


def main(argv: Sequence[str] | None = None, *, heap: StartupHeap | None = None) -> int:
    """Run one command; `heap` is the console process's paused collector, if any
    (synthetics.__main__)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if heap is not None and args.command not in ("run", "watch"):
        heap.release()  # no checks to wait for: collect as usual
    try:
        if args.command == "run":
            return run_checks(args, heap)
        if args.command == "watch":
            return watch_command.run_watch(args, heap)
        if args.command == "sandbox":
            return run_sandbox(args)
        commands = ("history", "report", "alert", "rules", "janitor", "doctor", "rehearse")
        if args.command in commands:
            return int(args.handler(args))
    except ConfigError as exc:
        print(f"synthetics: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (SandboxError, HistoryError) as exc:
        print(f"synthetics: {exc}", file=sys.stderr)
        return EXIT_FAILED
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    # `python -m synthetics.cli`: as the console script (synthetics.__main__), the collector
    # paused from here on.
    raise SystemExit(main(heap=StartupHeap().pause()))
