"""`synthetics watch [--every DURATION] [--target T]...`: the checks as a service."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthetics.commands._common import add_config_options, load
from synthetics.errors import ConfigError

if TYPE_CHECKING:
    from synthetics.heap import StartupHeap

EXIT_OK = 0


def add_parser(commands: Any) -> None:
    """`watch` and its options."""
    watch = commands.add_parser(
        "watch",
        help="run the checks every --every: history, alerts, /metrics and a status page",
    )
    watch.add_argument("--every", default="5m", help="how often each target runs (90s, 5m, 1h)")
    watch.add_argument(
        "--target", action="append", default=[], help="a target to watch (repeatable)"
    )
    watch.add_argument(
        "--report-dir", type=Path, default=Path("reports/watch"), help="each target's latest files"
    )
    watch.add_argument("--host", default="127.0.0.1", help="where to serve (default: loopback)")
    watch.add_argument("--port", type=int, default=9464, help="0 picks a free port")
    watch.add_argument(
        "--cycles", type=int, default=None, help="stop after this many runs (for rehearsals)"
    )
    watch.add_argument(
        "--fault", action="append", default=[], metavar="SPEC", help="sandbox fault (repeatable)"
    )
    watch.add_argument(
        "--only", default=None, help="groups to run: auth,email,deeplink,rpc,security,cleanup"
    )
    add_config_options(watch)
    watch.set_defaults(handler=run_watch)


def run_watch(args: argparse.Namespace, heap: StartupHeap | None = None) -> int:
    """Start the service; return once stopped by a signal (or after --cycles runs). `heap`, the
    console process's paused collector, is released as the first cycle's checks begin."""
    import uvicorn

    from synthetics.durations import parse_duration
    from synthetics.reaper import claim, sweep
    from synthetics.targets import SandboxLauncher, browser_for, plan
    from synthetics.watch import Target, Watch

    try:
        every = parse_duration(args.every)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--every") from None
    if args.cycles is not None and args.cycles < 1:
        raise ConfigError("must be at least 1", key="--cycles")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"{args.port} is not a port", key="--port")
    names = args.target or [None]
    targets = []
    for name in names:
        settings = load(args.config, args.sets, name)
        run_plan = plan(settings, faults=args.fault, trigger="schedule")
        report_dir = args.report_dir / settings.target_name
        report_dir.mkdir(parents=True, exist_ok=True)
        targets.append(
            Target(
                settings.target_name,
                settings,
                report_dir,
                launcher=SandboxLauncher(run_plan).begin() if settings.target.sandbox else None,
                browser=browser_for(run_plan),
            )
        )
    claim()
    threading.Thread(target=sweep, name="synthetics-sweep", daemon=True).start()

    def pytest_args(target: Target) -> list[str]:
        from synthetics.cli import _pytest_args

        options = argparse.Namespace(
            report_dir=target.report_dir,
            config=args.config,
            sets=args.sets,
            fault=args.fault,
            only=args.only,
            trigger="schedule",
            no_history=False,
            pytest_args=[],
        )
        return _pytest_args(options, target.settings)

    watch = Watch(
        targets,
        every=every,
        pytest_args=pytest_args,
        cycles=args.cycles,
        heap=heap,
    )
    server = uvicorn.Server(
        uvicorn.Config(watch.app(), host=args.host, port=args.port, log_level="warning")
    )
    serving = threading.Thread(target=server.run, name="synthetics-watch-http", daemon=True)
    serving.start()
    previous = {s: signal.signal(s, watch.stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not server.started and serving.is_alive():
            serving.join(0.05)  # uvicorn says when it listens; until then, wait on its thread
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            print(
                f"synthetics watch: {', '.join(t.name for t in targets)} every {args.every}; "
                f"http://{args.host}:{port}/ (/metrics, /healthz)",
                flush=True,
            )
        watch.serve_forever()
    except KeyboardInterrupt:
        pass  # the run in progress was interrupted and finished as such
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.should_exit = True
        serving.join(5)
        for target in targets:
            if target.browser is not None:
                target.browser.close()
            if target.launcher is not None:
                target.launcher.stop()
    for target in targets:
        for cycle in target.cycles:
            flag = " (overran the interval)" if cycle.overran else ""
            print(
                f"{cycle.started:%H:%M:%S} {cycle.target}: exit {cycle.exit_code} in "
                f"{cycle.seconds:.2f} s{flag}",
                file=sys.stderr,
            )
    return EXIT_OK
