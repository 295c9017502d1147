"""`synthetics history import PATH...`: results.json files or folders of them into the history."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from synthetics.commands._common import add_config_options, load, store_for

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(commands: Any) -> None:
    """`history` and its subcommands."""
    history = commands.add_parser("history", help="the run history: import results.json files")
    actions = history.add_subparsers(dest="history_command", required=True)
    imports = actions.add_parser(
        "import",
        help="load results.json files, or folders that hold them, into the history (idempotent)",
    )
    imports.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add_config_options(imports)
    imports.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Import; 1 when a named file was not a results.json (the others are still kept)."""
    from synthetics.history.importer import import_paths

    settings = load(args.config, args.sets)
    store = store_for(settings, args.config)
    try:
        summary = import_paths(store, args.paths)
    finally:
        store.close()
    for error in summary.errors:
        print(f"synthetics: not imported: {error}", file=sys.stderr)
    print(
        f"imported {summary.added} run(s) into the {store.backend} history; "
        f"{summary.already} already there"
        + (f"; {len(summary.errors)} file(s) not imported" if summary.errors else "")
    )
    return EXIT_FAILED if summary.errors else EXIT_OK
