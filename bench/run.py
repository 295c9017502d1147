"""Full-run benchmark: wall time of `synthetics run` against the sandbox vs its critical path.

    python bench/run.py [--runs N]

The critical path is the time the run must spend waiting on the target: starting the sandbox, every
request's round trip, and the wait for the confirmation email. Everything else is the suite's own
overhead (interpreter and pytest start-up, the checks' code, reports). Targets (issue #3): the full
run under 8 s, the overhead under 30 % of the critical path.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

import synthetics.checks
from synthetics.plugin import RUNTIME

CHECKS = Path(synthetics.checks.__file__).parent


class Capture:
    """A pytest plugin object that keeps the run's Runtime for inspection."""

    runtime: Any = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.runtime = session.config.stash.get(RUNTIME, None)


def wall_time(report_dir: Path, extra: list[str]) -> float:
    """Seconds for `synthetics run` as a user runs it (a fresh process)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", "--report-dir", str(report_dir), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"the run failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed


def critical_path(report_dir: Path, extra: list[str]) -> dict[str, float]:
    """Seconds the run spends waiting on the target, from an instrumented in-process run."""
    capture = Capture()
    started = time.perf_counter()
    code = pytest.main(
        [
            str(CHECKS),
            "-c",
            str(CHECKS / "pytest.ini"),
            "--rootdir",
            str(CHECKS),
            "-q",
            "--tb=no",
            "--synthetics-report-dir",
            str(report_dir),
            *[a for s in extra if s != "--set" for a in ("--synthetics-set", s)],
        ],
        plugins=[capture],
    )
    in_process = time.perf_counter() - started
    runtime = capture.runtime
    if code != 0 or runtime is None:
        raise SystemExit(f"the instrumented run failed ({code})")
    requests = sum(a.elapsed_ms for a in runtime.traffic.attempts) / 1000
    delivery = next(
        (
            r.measurements.get("delivery_s", 0.0)
            for r in runtime.results
            if r.id == "email.delivery"
        ),
        0.0,
    )
    stop = runtime.launcher.stop_s if runtime.launcher is not None else 0.0
    return {
        "sandbox start": runtime.sandbox_start_s,
        "sandbox stop": stop,
        "requests": requests,
        "request count": float(len(runtime.traffic.attempts)),
        "email wait": delivery,
        "critical path": runtime.sandbox_start_s + requests + delivery + stop,
        "in-process run": in_process,
    }


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--browser", action="store_true", help="include the Chromium checks (default: off)"
    )
    args = parser.parse_args()
    # The browser checks' requests are made by Chromium, outside the measured client: the
    # critical-path figure is about the HTTP checks unless --browser is given.
    extra = [] if args.browser else ["--set", "deeplink.browser=off"]
    with tempfile.TemporaryDirectory() as tmp:
        walls = [wall_time(Path(tmp) / f"wall{i}", extra) for i in range(args.runs)]
        paths = [critical_path(Path(tmp) / f"cp{i}", extra) for i in range(args.runs)]
    wall = statistics.median(walls)
    parts = {k: statistics.median(p[k] for p in paths) for k in paths[0]}
    critical = parts["critical path"]
    overhead = wall - critical
    print(f"full run, wall time (median of {args.runs}):   {wall:6.2f} s   target < 8 s")
    print(f"  critical path:                     {critical:6.2f} s")
    print(f"    sandbox start                    {parts['sandbox start']:6.2f} s")
    print(
        f"    {parts['request count']:.0f} requests (round trips)       {parts['requests']:6.2f} s"
    )
    print(f"    wait for the confirmation email  {parts['email wait']:6.2f} s")
    print(f"    sandbox stop                     {parts['sandbox stop']:6.2f} s")
    print(
        f"  suite overhead (wall - critical):  {overhead:6.2f} s = {overhead / critical:.0%} of the critical path   target < 30 %"
    )
    in_process = parts["in-process run"] - critical
    print(
        f"  overhead inside the run (in-process run - critical path): {in_process:6.2f} s = "
        f"{in_process / critical:.0%}   (the rest is interpreter start and imports)"
    )


if __name__ == "__main__":
    main()
