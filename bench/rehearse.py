"""Rehearsal benchmark: wall time of `synthetics rehearse` with a harmless migration, by phase.

    python bench/rehearse.py [--runs N] [--only GROUPS]

Each round writes a migration nobody has rehearsed yet (a comment with a fresh token), so the
first rehearsal of it builds the after schema's template ("cold"), then rehearses the same file
again ("warm": both templates cached, each run's sandbox a copy). It prints each phase from
rehearse.json (loading both schemas, the before run, the after run) and the whole wall time, next
to one plain `synthetics run` for scale. A rehearsal is two runs: it costs about twice one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


def rehearse(folder: Path, migration: Path, extra: list[str]) -> dict[str, float]:
    """One `synthetics rehearse` in a fresh process: its phases and its wall time."""
    out = folder / f"out-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "rehearse", "--next", str(migration),
         "--report-dir", str(out), *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"rehearse exited {done.returncode}:\n{done.stdout}{done.stderr}")
    timings: dict[str, float] = json.loads((out / "rehearse.json").read_text())["timings"]
    return {**timings, "wall": wall}


def one_run(folder: Path, extra: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", "--no-history", "--trigger", "ci",
         "--report-dir", str(folder / "run"), *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"run exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="rounds (each: cold then warm)")
    parser.add_argument("--only", default=None, help="groups, as `synthetics run --only`")
    args = parser.parse_args()
    extra = ["--only", args.only] if args.only else []
    phases: dict[str, dict[str, list[float]]] = {"cold": {}, "warm": {}}
    with tempfile.TemporaryDirectory(prefix="bench-rehearse-") as tmp:
        folder = Path(tmp)
        single = [one_run(folder, extra) for _ in range(args.runs)]
        for _ in range(args.runs):
            migration = folder / f"20250301000000_comment_{uuid.uuid4().hex[:8]}.sql"
            migration.write_text(f"comment on table public.posts is 'feed {uuid.uuid4()}';\n")
            for kind in ("cold", "warm"):
                for name, seconds in rehearse(folder, migration, extra).items():
                    phases[kind].setdefault(name, []).append(seconds)
    print(f"one synthetics run          median {statistics.median(single):6.2f} s")
    for kind, found in phases.items():
        print(f"rehearse, after template {kind}:")
        for name, values in found.items():
            print(
                f"  {name:<26} median {statistics.median(values):6.2f} s  max {max(values):6.2f} s"
            )


if __name__ == "__main__":
    main()
