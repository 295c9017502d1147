"""`synthetics` command line: a thin layer over the library; library errors become exit codes here.

Exit codes: 0 ok, 1 warning (or a runtime failure), 2 critical, 3 configuration or usage error.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from synthetics import __version__
from synthetics.errors import ConfigError, SandboxError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 3


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
    return parser


def run_sandbox(args: argparse.Namespace) -> int:
    """`synthetics sandbox`: start, announce, wait for SIGINT/SIGTERM, stop cleanly."""
    from synthetics.sandbox.faults import parse_faults
    from synthetics.sandbox.server import Sandbox, settings_for_port
    from synthetics.sandbox.settings import SandboxSettings

    if not 0 <= args.port <= 65535 - 4:
        raise ConfigError(f"{args.port} is not a usable port", key="--port")
    faults = parse_faults(args.fault)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(settings_for_port(SandboxSettings(), args.port), faults=faults)
    try:
        info = sandbox.start()
        if args.json:
            print(json.dumps(info.contract()), flush=True)
        else:
            active = ", ".join(str(f) for f in faults) or "none"
            print(
                f"sandbox ready\n  API    {info.api_url}  (auth: /auth/v1, rest: /rest/v1)\n"
                f"  inbox  {info.inbox_url}  (Mailpit API)\n  SMTP   {info.smtp_host}:"
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `synthetics` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "sandbox":
            return run_sandbox(args)
    except ConfigError as exc:
        print(f"synthetics: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SandboxError as exc:
        print(f"synthetics: {exc}", file=sys.stderr)
        return EXIT_FAILED
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    raise SystemExit(main())
