"""`synthetics rehearse [--migrations PATH...] --next FILE...`: a migration tried before it ships.

1. The schema as it is (the `--migrations` SQL, or the bundled Mamapace schema) and the same
   schema with the next files applied are each loaded once, in this process: a next file that
   fails is exit 3 with its file, line, first words and PostgreSQL's error, before any check
   runs. Both loads are cached as cluster templates, so each run below starts from a copy.
2. `synthetics run` on the sandbox twice, as subprocesses: before (the schema as it is) and
   after (plus `--next`), each with `--no-history --trigger ci` into `<report-dir>/before` and
   `<report-dir>/after`. Both run on the same PostgreSQL build. No fault is injected.
3. The two results.json are diffed check by check (`synthetics.rehearsal.diff`) and the diff
   printed, written to `rehearse.json` and `rehearse.html`, and appended to the GitHub job
   summary when `$GITHUB_STEP_SUMMARY` is set.

Exit status: 0 nothing got worse, 1 something did, 3 a usage error or a file that does not
load, 4 a run did not finish.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from synthetics.commands._common import add_config_options, check_report_dir, load
from synthetics.errors import ConfigError, DatabaseError, MigrationError, SandboxError

if TYPE_CHECKING:
    from synthetics.rehearsal.diff import Diff
    from synthetics.rehearsal.render import Side
    from synthetics.results import RunResult
    from synthetics.sandbox.migrations import Migrations
    from synthetics.sandbox.postgres import PostgresInstall

EXIT_OK, EXIT_WORSE, EXIT_USAGE, EXIT_UNFINISHED = 0, 1, 3, 4
#: Time a run gets beyond its own `run_timeout_s` to start and stop the sandbox.
_RUN_MARGIN_S = 120.0
#: How every check of a run whose sandbox or clients could not start begins its message
#: (synthetics.plugin.outcome).
_NOT_STARTED = "the run could not start: "
#: How many worse changes become workflow annotations (GitHub shows 10 per kind and step).
_ANNOTATIONS = 10

EXAMPLES = """examples:
  synthetics rehearse --next supabase/migrations/20250301000000_feed_cursor.sql
      the new migration on top of the bundled Mamapace schema
  synthetics rehearse --migrations supabase --next supabase/migrations/20250301*.sql
      the app's own SQL as it is, then the new files (they are left out of the base)
  synthetics rehearse --migrations base/supabase --next 'new/*.sql' --only security
      only the security checks (and their prerequisites), before and after
"""


def add_parser(commands: Any) -> None:
    """`rehearse` and its options."""
    rehearse = commands.add_parser(
        "rehearse",
        help="run the suite before and after the next migration and diff the checks",
        description="Run the checks on the sandbox with the schema as it is, apply the next "
        "migration files, run them again and print what changed, check by check. Exit codes: "
        "0 nothing got worse, 1 something did, 3 usage error or a file that does not load, "
        "4 a run did not finish.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rehearse.add_argument(
        "--next",
        nargs="+",
        required=True,
        metavar="FILE",
        dest="next_files",
        help="the migration files to rehearse, in the order given (globs allowed), each in its "
        "own transaction",
    )
    rehearse.add_argument(
        "--migrations",
        nargs="+",
        default=None,
        metavar="PATH",
        help="the schema as it is: the app's SQL, as `synthetics run --migrations` takes it "
        "(default: the bundled Mamapace schema); next files among them are left out",
    )
    rehearse.add_argument(
        "--continue-on-error",
        action="store_true",
        help="with --migrations: load the base past failing statements (the next files "
        "always stop at the first)",
    )
    rehearse.add_argument(
        "--postgres-bin",
        type=Path,
        default=None,
        metavar="DIR",
        help="run both on the PostgreSQL in DIR (default: chosen once for both runs)",
    )
    rehearse.add_argument(
        "--only", default=None, help="groups to run: auth,email,deeplink,rpc,security"
    )
    rehearse.add_argument(
        "--target", default="sandbox", help="the sandbox target's name (default: sandbox)"
    )
    rehearse.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/rehearse"),
        help="output directory: before/, after/, rehearse.json, rehearse.html",
    )
    add_config_options(rehearse)
    rehearse.set_defaults(handler=run_rehearse)


@dataclass(frozen=True)
class Plan:
    """A validated rehearsal: the two schemas, the build they run on, where files go."""

    base: Migrations | None
    next: Migrations
    install: PostgresInstall
    report_dir: Path
    #: How long one run may take (`run_timeout_s`), before the margin to start and stop.
    run_timeout: float
    #: Base files left out because they are next files too.
    dropped: tuple[str, ...] = ()

    @property
    def postgres_bin(self) -> Path | None:
        """What both runs get as `--postgres-bin` (None: the embedded build, their default)."""
        return None if self.install.embedded else self.install.bin_dir


def _without_next(base: Migrations, following: Migrations) -> tuple[Migrations, tuple[str, ...]]:
    """`base` without the files that are next files too (a checkout's folder holds both)."""
    next_paths = {item.path.resolve() for item in following.files}
    kept = tuple(item for item in base.files if item.path.resolve() not in next_paths)
    dropped = tuple(item.name for item in base.files if item.path.resolve() in next_paths)
    if not kept:
        raise ConfigError(
            "every file is a --next file: nothing is left of the schema as it is",
            key="--migrations",
        )
    return replace(base, files=kept), dropped


def plan(args: argparse.Namespace) -> Plan:
    """Everything checked before anything starts (ConfigError: exit 3)."""
    from synthetics.catalog import parse_groups
    from synthetics.sandbox.database import install_for
    from synthetics.sandbox.migrations import resolve

    settings = load(args.config, args.sets, args.target)
    if not settings.target.sandbox:
        raise ConfigError(
            f"rehearse runs on the sandbox; {settings.target_name!r} is a real project",
            key="--target",
        )
    try:
        parse_groups(args.only)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--only") from None
    following = resolve(args.next_files, key="--next")
    base: Migrations | None = None
    dropped: tuple[str, ...] = ()
    if args.migrations is not None:
        base = resolve(args.migrations, continue_on_error=args.continue_on_error)
        base, dropped = _without_next(base, following)
    elif args.continue_on_error:
        raise ConfigError("only applies with --migrations", key="--continue-on-error")
    install = install_for(base, args.postgres_bin, following)
    check_report_dir(args.report_dir)
    for name in ("rehearse.json", "rehearse.html"):  # never a stale verdict beside a failed one
        (args.report_dir / name).unlink(missing_ok=True)
    return Plan(base, following, install, args.report_dir, settings.config.run_timeout, dropped)


def _sandbox(rehearsal: Plan, following: Migrations | None) -> Any:
    """A sandbox (not started) on the rehearsal's build, with or without the next files."""
    from synthetics.sandbox.server import Sandbox, settings_for_port
    from synthetics.sandbox.settings import SandboxSettings

    settings = SandboxSettings(
        migrations=rehearsal.base,
        next_migrations=following,
        postgres_bin=rehearsal.postgres_bin,
    )
    return Sandbox(settings_for_port(settings, 0))


def _prepare(rehearsal: Plan, stream: TextIO) -> int | None:
    """Load both schemas once (building their templates); exit 3 when one does not load, 4 when
    the database could not run at all."""
    sides = (("the schema as it is", None), ("the next files", rehearsal.next))
    for label, following in sides:
        database = _sandbox(rehearsal, following).database
        try:
            database.prepare()
        except MigrationError as exc:
            what = (
                "a next file does not apply" if following else "the schema as it is does not load"
            )
            print(f"synthetics: rehearse: {what}: {exc}", file=sys.stderr)
            _report_load_failure(what, exc, stream)
            return EXIT_USAGE
        except SandboxError as exc:
            print(f"synthetics: rehearse: the database did not start: {exc}", file=sys.stderr)
            return EXIT_UNFINISHED
        report = database.next_report if following else database.load_report
        if report is not None:
            print(f"rehearse: {label}: {report.summary()}", file=stream)
            for failure in report.failures:
                print(f"  FAILED {failure}", file=stream)
    return None


def _report_load_failure(what: str, error: MigrationError, stream: TextIO) -> None:
    """In Actions: the failing statement as an annotation on its file and line, and the job
    summary says why nothing ran."""
    from synthetics.alerting.github import command as workflow_command
    from synthetics.alerting.github import md

    failures = list(error.failures)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for failure in failures[:_ANNOTATIONS]:
            print(
                workflow_command(
                    "error",
                    str(failure),
                    title=f"rehearse: {what}",
                    file=failure.file,
                    line=str(failure.line),
                ),
                file=stream,
            )
    summary = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        lines = [f"## synthetics rehearse: {md(what)} (exit {EXIT_USAGE})", ""]
        lines += [f"- {md(str(failure))}" for failure in failures] or [f"- {md(str(error))}"]
        lines += ["", "Nothing ran: the checks start once both schemas load.", ""]
        _append_summary(Path(summary), "\n".join(lines))


def _append_summary(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        print(f"rehearse: cannot append to the job summary: {exc.strerror}", file=sys.stderr)


def _run_command(args: argparse.Namespace, rehearsal: Plan, folder: Path, after: bool) -> list[str]:
    """`synthetics run` for one side, with the rehearsal's options."""
    command = [sys.executable, "-m", "synthetics.cli", "run", "--target", args.target]
    command += ["--no-history", "--trigger", "ci", "--report-dir", str(folder)]
    if args.config is not None:
        command += ["--config", str(args.config)]
    for item in args.sets:
        command += ["--set", item]
    if args.only:
        command += ["--only", args.only]
    if rehearsal.postgres_bin is not None:
        command += ["--postgres-bin", str(rehearsal.postgres_bin)]
    if rehearsal.base is not None:
        # The files themselves: the folder would bring the next files back into the base.
        command += ["--migrations", *(str(item.path.resolve()) for item in rehearsal.base.files)]
        if rehearsal.base.continue_on_error:
            command.append("--continue-on-error")
    if after:
        command += ["--next", *(str(item.path.resolve()) for item in rehearsal.next.files)]
    return command


class _Child:
    """One `synthetics run` subprocess; a SIGINT/SIGTERM to us is passed on, and the run's own
    cleanup is waited for."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped: str | None = None

    def forward(self, signum: int, frame: FrameType | None) -> None:
        self.stopped = signal.Signals(signum).name
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def run(self, command: Sequence[str], log: Path, env: Mapping[str, str], timeout: float) -> int:
        with log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, an argument list
                list(command), stdout=output, stderr=subprocess.STDOUT, env=dict(env)
            )
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.stopped = "timeout"
                self.process.terminate()
                try:
                    return self.process.wait(30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    return self.process.wait()


def _log_tail(log: Path, lines: int = 15) -> str:
    """The end of a run's output, without workflow commands (`::error …` is for our own)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    kept = [line for line in text if not line.startswith("::")][-lines:]
    return "\n".join(f"  | {line}" for line in kept)


def _child_env() -> dict[str, str]:
    """The runs' environment: ours, without the job summary (the rehearsal writes its own)."""
    env = dict(os.environ)
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


def _explained(before: RunResult, after: RunResult, rehearsal: Plan) -> dict[str, str]:
    """For each check that newly answers PGRST202: "PGRST202 (`p_before` no longer exists: …;
    the app sends it)", from the after schema's catalog."""
    from synthetics.rehearsal.schema import explain, pgrst202_function, read_signatures

    wanted: dict[str, str] = {}
    for check in after.checks:
        if check.status.rank == 0 or pgrst202_function(check.message) is None:
            continue
        old = before.check(check.id)
        if old is None or pgrst202_function(old.message) is None:
            wanted[check.id] = check.message
    if not wanted:
        return {}
    names = sorted({call[0] for m in wanted.values() if (call := pgrst202_function(m))})
    database = _sandbox(rehearsal, rehearsal.next).database
    try:
        database.start()
        with database.connect() as conn:
            signatures = read_signatures(conn, names)
    except (DatabaseError, OSError) as exc:
        print(f"rehearse: the after schema's catalog could not be read: {exc}", file=sys.stderr)
        return {}
    finally:
        database.stop()
    reasons = {check_id: explain(message, signatures) for check_id, message in wanted.items()}
    return {check_id: f"PGRST202 ({why})" for check_id, why in reasons.items() if why}


def run_rehearse(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Rehearse; the exit status says whether the migration made anything worse.

    A crash of the rehearsal itself is exit 4 (it did not finish), never 1: 1 means worse.
    """
    try:
        return _rehearse(args, out=out)
    except ConfigError:
        raise  # the CLI says it: exit 3
    except SandboxError as exc:
        print(f"synthetics: rehearse did not finish: {exc}", file=sys.stderr)
        return EXIT_UNFINISHED
    except Exception:
        traceback.print_exc()
        print("synthetics: rehearse did not finish (the error above)", file=sys.stderr)
        return EXIT_UNFINISHED


def _run_side(
    args: argparse.Namespace,
    rehearsal: Plan,
    child: _Child,
    side: str,
    timings: dict[str, float],
) -> Side | int:
    """One side's `synthetics run`: its Side, or the rehearsal's exit code when it has none."""
    from synthetics.rehearsal import render
    from synthetics.results import ResultsError, RunResult

    if child.stopped is not None:
        print(f"synthetics: rehearse: stopped ({child.stopped})", file=sys.stderr)
        return EXIT_UNFINISHED
    folder = rehearsal.report_dir / side
    check_report_dir(folder)
    (folder / "results.json").unlink(missing_ok=True)
    log = folder / "run.log"
    command = _run_command(args, rehearsal, folder, after=side == "after")
    began = time.perf_counter()
    code = child.run(command, log, _child_env(), rehearsal.run_timeout + _RUN_MARGIN_S)
    seconds = timings[f"{side} run"] = time.perf_counter() - began
    if child.stopped is not None or code == EXIT_UNFINISHED:
        why = "timed out" if child.stopped == "timeout" else "did not finish"
        print(f"synthetics: rehearse: the {side} run {why} ({log}):", file=sys.stderr)
        print(_log_tail(log), file=sys.stderr)
        return EXIT_UNFINISHED
    if code == EXIT_USAGE:
        print(f"synthetics: rehearse: the {side} run refused to start:", file=sys.stderr)
        print(_log_tail(log), file=sys.stderr)
        return EXIT_USAGE
    try:
        result = RunResult.read(folder / "results.json")
    except ResultsError as exc:
        print(
            f"synthetics: rehearse: the {side} run left no results (exit {code}): {exc}",
            file=sys.stderr,
        )
        print(_log_tail(log), file=sys.stderr)
        return EXIT_UNFINISHED
    if result.interrupted:
        print(f"synthetics: rehearse: the {side} run was interrupted", file=sys.stderr)
        return EXIT_UNFINISHED
    if (
        side == "before"
        and result.checks
        and all(c.message.startswith(_NOT_STARTED) for c in result.checks)
    ):
        # Nothing was checked on the schema as it is: no diff can say what the migration did.
        # (An after run that cannot start is the migration's doing: that diff is shown.)
        print(f"synthetics: rehearse: {result.checks[0].message}", file=sys.stderr)
        return EXIT_UNFINISHED
    return render.Side(result, side, seconds, code)


def _rehearse(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    from synthetics.alerting.github import command as workflow_command
    from synthetics.rehearsal import render
    from synthetics.rehearsal.diff import compare

    stream = out or sys.stdout
    started = time.perf_counter()
    rehearsal = plan(args)
    timings: dict[str, float] = {}
    failed = _prepare(rehearsal, stream)
    timings["load both schemas"] = time.perf_counter() - started
    if failed is not None:
        return failed
    child = _Child()
    previous = {s: signal.signal(s, child.forward) for s in (signal.SIGINT, signal.SIGTERM)}
    runs: dict[str, render.Side] = {}
    try:
        for side in ("before", "after"):
            ran = _run_side(args, rehearsal, child, side, timings)
            if isinstance(ran, int):
                return ran
            runs[side] = ran
            print(
                f"rehearse: {side}: {ran.run.status.value.upper()} in {ran.seconds:.1f} s "
                f"(exit {ran.exit_code}, {rehearsal.report_dir / side})",
                file=stream,
                flush=True,
            )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    before, after = runs["before"].run, runs["after"].run
    began = time.perf_counter()
    explained = _explained(before, after, rehearsal)
    if explained:
        timings["after schema's catalog"] = time.perf_counter() - began
    diff: Diff = compare(before, after, explained)
    code = EXIT_WORSE if diff.worse else EXIT_OK
    timings["total"] = time.perf_counter() - started
    context = render.Context(
        base=[item.name for item in rehearsal.base.files] if rehearsal.base else [],
        next=[item.name for item in rehearsal.next.files],
        before=runs["before"],
        after=runs["after"],
        postgres=rehearsal.install.label,
        timings=timings,
        dropped=rehearsal.dropped,
    )
    doc = render.document(diff, context, code)
    _write(rehearsal.report_dir, doc, render)
    print("", file=stream)
    for line in render.text_lines(doc):
        print(line, file=stream)
    print(
        f"rehearse: {rehearsal.report_dir / 'rehearse.html'} and rehearse.json "
        f"({timings['total']:.1f} s)",
        file=stream,
    )
    summary = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        _append_summary(Path(summary), render.markdown(doc))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for change in diff.worse[:_ANNOTATIONS]:
            title = f"rehearse: {change.check} {change.before_status} → {change.after_status}"
            print(workflow_command("error", change.summary, title=title), file=stream)
    return code


def _write(report_dir: Path, doc: Mapping[str, Any], render: Any) -> None:
    """rehearse.json and rehearse.html, each replaced whole (a failure is said, the diff on the
    terminal stands)."""
    import json

    for name, text in (
        ("rehearse.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n"),
        ("rehearse.html", render.html(doc)),
    ):
        path = report_dir / name
        temporary = path.with_name(f".{name}.tmp")
        try:
            temporary.write_text(text, encoding="utf-8", errors="replace")
            temporary.replace(path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            print(f"synthetics: rehearse: cannot write {path}: {exc.strerror}", file=sys.stderr)
