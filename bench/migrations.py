"""Loading the app's own SQL: how long the sandbox's database takes to start with it.

    python bench/migrations.py [--rounds N] [PATH...]

Without PATH it loads Mamapace's SQL from the mirror of its repository (the order of
tests/sandbox/test_mamapace_sql.py), with --continue-on-error semantics. Prints, per case, the
median start time of the database: the bundled schema from a template (embedded build), the app's
SQL from scratch (initdb + platform + load, no template), and the app's SQL from its template.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from synthetics.sandbox.database import Database
from synthetics.sandbox.migrations import resolve
from synthetics.sandbox.postgres import choose
from tests.sandbox.test_mamapace_sql import MAMAPACE_ORDER, MIRROR


def timed(start: Callable[[], Database]) -> tuple[float, Database]:
    started = time.perf_counter()
    database = start()
    return time.perf_counter() - started, database


def median_start(make: Callable[[], Database], rounds: int) -> tuple[float, Database]:
    times, last = [], None
    for _ in range(rounds):
        elapsed, database = timed(lambda: _started(make()))
        times.append(elapsed)
        database.stop()
        last = database
    assert last is not None
    return statistics.median(times), last


def _started(database: Database) -> Database:
    database.start()
    return database


def mamapace(root: Path) -> list[str]:
    archive = subprocess.run(
        ["git", "--git-dir", str(MIRROR), "archive", "--format=tar", "HEAD", "supabase"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return [str(root / p) for p in MAMAPACE_ORDER]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        paths = args.paths or mamapace(root / "app")
        migrations = resolve(paths, continue_on_error=True)
        install = choose(["pgcrypto", "uuid-ossp", *migrations.extensions()])
        cache = root / "templates"

        bundled, _ = median_start(lambda: Database(template_cache=cache), args.rounds)
        print(f"bundled schema, template start (embedded):      {bundled:6.2f} s")
        fresh, database = median_start(
            lambda: Database(install=install, migrations=migrations), args.rounds
        )
        report = database.load_report
        assert report is not None
        print(f"app's SQL, no template ({install.label}):")
        print(f"  start (initdb + platform + load):            {fresh:6.2f} s")
        print(f"  of which the load: {report.summary()}")
        cached, _ = median_start(
            lambda: Database(install=install, migrations=migrations, template_cache=cache),
            args.rounds + 1,  # the first builds the template
        )
        print(f"app's SQL, template start:                      {cached:6.2f} s")


if __name__ == "__main__":
    main()
