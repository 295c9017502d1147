"""Full-run benchmark against the floor: wall time of `synthetics run` (sandbox and browser
included) next to its critical path, the emails each run sends, and watch-mode cycles with the
browser kept warm.

    python bench/run.py [--runs 5] [--no-browser] [--cycles 6]

The figures are for runs with `--no-history`; the same number of runs recorded in a SQLite
history, as a default `synthetics run` records them, are timed in turns with them and reported
on one line (their end adds SQLAlchemy's import, the rules and the alert lifecycle).

Each run is the `synthetics` console script in a fresh process, as a user runs it, and its
critical path is measured in that same run (bench/run_timings.py, loaded as a pytest plugin
through PYTEST_PLUGINS; each watch cycle likewise): what the run must wait for, one thing after
another — the sandbox's start (its database's start until its services answer, in the run's
process or the one forked for it alike), the time a request of ours was in flight (concurrent probes
count once), the confirmation email's arrival, the browser's click (click → hand-off) and the
sandbox's stop. Everything else (interpreter start, imports, pytest,
the checks' own code, reports, and any wait for Chromium to be up) is counted as overhead.
Targets (issue #13): one email per run; wall time at most 1.5 x the critical path and under 3 s
with the browser; watch cycles under 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).parent
ROOT = BENCH.parent
#: The `synthetics` console script of this interpreter's environment, what a user runs.
CONSOLE = str(Path(sys.executable).parent / "synthetics")


def bench_env(timings: Path) -> dict[str, str]:
    """The environment of a timed process: run_timings loaded into its pytest sessions."""
    env = dict(os.environ, BENCH_TIMINGS=str(timings), PYTEST_PLUGINS="run_timings")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH), env.get("PYTHONPATH")) if p)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are cached
    return env


def read_timings(timings: Path) -> list[dict[str, float]]:
    """What run_timings wrote: one record per pytest session."""
    if not timings.exists():
        return []
    return [json.loads(line) for line in timings.read_text().splitlines() if line.strip()]


def timed_run(
    report_dir: Path, extra: list[str], history: Path | None = None
) -> tuple[float, dict[str, float]]:
    """Seconds for one `synthetics run` in a fresh process, and that run's critical path;
    recorded in the SQLite `history` (as a default run records it) or with `--no-history`."""
    timings = report_dir.with_suffix(".timings.jsonl")
    keep = ["--set", f"history.url=sqlite:///{history}"] if history else ["--no-history"]
    started = time.perf_counter()
    result = subprocess.run(
        [CONSOLE, "run", *keep, "--report-dir", str(report_dir), *extra],
        capture_output=True, text=True, check=False, cwd=ROOT, env=bench_env(timings),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    records = read_timings(timings)
    if result.returncode != 0 or len(records) != 1:
        raise SystemExit(f"the run failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed, records[0]


def watch_cycles(cycles: int, extra: list[str]) -> list[tuple[float, dict[str, float]]]:
    """Seconds of each `synthetics watch` cycle (the first starts the sandbox and browser), and
    each cycle's critical path."""
    with tempfile.TemporaryDirectory() as tmp:
        timings = Path(tmp) / "timings.jsonl"
        result = subprocess.run(
            [CONSOLE, "watch", "--every", "1s", "--cycles", str(cycles), "--port", "0",
             "--report-dir", tmp, "--set", f"history.url=sqlite:///{tmp}/history.sqlite",
             *extra],
            capture_output=True, text=True, check=False, cwd=ROOT, timeout=600,
            env=bench_env(timings),
        )  # fmt: skip
        records = read_timings(timings)
    seconds = [float(m) for m in re.findall(r"exit \d in ([\d.]+) s", result.stderr)]
    return list(zip(seconds, records, strict=False))


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--no-browser", action="store_true", help="deeplink.browser = off")
    args = parser.parse_args()
    extra = ["--set", "deeplink.browser=off"] if args.no_browser else []
    walls: list[float] = []
    paths: list[dict[str, float]] = []
    kept: list[tuple[float, dict[str, float]]] = []  # recorded in a history, as by default
    with tempfile.TemporaryDirectory() as tmp:
        history = Path(tmp) / "history.sqlite"
        for i in range(args.runs):  # in turns, so that both see the same pace of the machine
            wall, parts = timed_run(Path(tmp) / f"run{i}", extra)
            walls.append(wall)
            paths.append(parts)
            kept.append(timed_run(Path(tmp) / f"kept{i}", extra, history))
    wall = statistics.median(walls)
    parts = {k: statistics.median(p[k] for p in paths) for k in paths[0]}
    critical = parts["critical path"]
    ratio = statistics.median(w / p["critical path"] for w, p in zip(walls, paths, strict=True))
    browser = "off" if args.no_browser else "on"
    print(f"full run, browser {browser}, median of {args.runs}")
    print(f"  wall time:                         {wall:6.2f} s   target < 3 s")
    print(f"  critical path:                     {critical:6.2f} s")
    print(f"    sandbox start                    {parts['sandbox start']:6.2f} s")
    print(
        f"    {parts['request count']:.0f} requests (time in flight)    {parts['requests']:6.2f} s"
    )
    print(f"    wait for the confirmation email  {parts['email wait']:6.2f} s")
    print(f"    browser click → hand-off         {parts['browser click']:6.2f} s")
    print(f"    sandbox stop                     {parts['sandbox stop']:6.2f} s")
    print(f"  wall / critical path (per run):    {ratio:6.2f}     target <= 1.5")
    each = ", ".join(f"{w / p['critical path']:.2f}" for w, p in zip(walls, paths, strict=True))
    print(f"    each run: {each}")
    print(f"  emails sent per run:               {parts['emails']:6.0f}     target 1")
    kept_wall = statistics.median(w for w, _ in kept)
    kept_ratio = statistics.median(w / p["critical path"] for w, p in kept)
    print(
        f"  the same recorded in a history (a default run): wall {kept_wall:.2f} s, "
        f"wall / critical path {kept_ratio:.2f}"
    )
    cycles = watch_cycles(args.cycles, extra)
    if len(cycles) >= 2:
        warm = cycles[1:]
        seconds = [w for w, _ in warm]
        paths_w = [p["critical path"] for _, p in warm]
        ratios = [w / p["critical path"] for w, p in warm]
        emails = [p["emails"] for _, p in warm]
        print(
            f"watch mode, {len(cycles)} cycles: first {cycles[0][0]:.2f} s (starts the sandbox "
            f"and browser); the warm ones:"
        )
        print(
            f"  wall per cycle:                    {statistics.median(seconds):6.2f} s   "
            f"(max {max(seconds):.2f} s)   target < 1.5 s"
        )
        print(f"  critical path per cycle:           {statistics.median(paths_w):6.2f} s")
        print(f"  wall / critical path:              {statistics.median(ratios):6.2f}")
        print(f"  emails sent per cycle:             {statistics.median(emails):6.0f}")
    else:
        print(f"watch mode: could not read its cycles ({cycles})")


if __name__ == "__main__":
    main()
