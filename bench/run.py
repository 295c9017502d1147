"""Full-run benchmark against the floor: wall time of `synthetics run` (sandbox and browser
included) next to its critical path, the emails each run sends, and watch-mode cycles with the
browser kept warm.

    python bench/run.py [--runs 5] [--no-browser] [--cycles 6]

The critical path is what the run must wait for, one thing after another: the sandbox's start,
the time a request of ours was in flight (concurrent probes count once), the confirmation email's arrival, the browser's click
(click → hand-off) and the sandbox's stop. Everything else — interpreter start, imports, pytest,
the checks' own code, reports — is overhead. Targets (issue #13): one email per run; wall time at
most 1.5 x the critical path and under 3 s with the browser; watch cycles under 1.5 s.
"""

from __future__ import annotations

import argparse
import re
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
ROOT = Path(__file__).parents[1]
#: The `synthetics` console script of this interpreter's environment, what a user runs.
CONSOLE = str(Path(sys.executable).parent / "synthetics")


class Capture:
    """A pytest plugin object that keeps the run's Runtime and counts the sandbox's emails."""

    runtime: Any = None
    emails = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        runtime = item.config.stash.get(RUNTIME, None)
        if nextitem is None and runtime is not None and runtime.sandbox is not None:
            self.emails = runtime.sandbox.mail.stats().accepted  # before the sandbox stops

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.runtime = session.config.stash.get(RUNTIME, None)


def wall_time(report_dir: Path, extra: list[str]) -> float:
    """Seconds for `synthetics run` as a user runs it (a fresh process)."""
    started = time.perf_counter()
    result = subprocess.run(
        [CONSOLE, "run", "--no-history", "--report-dir", str(report_dir), *extra],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"the run failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed


def critical_path(report_dir: Path, extra: list[str]) -> dict[str, float]:
    """Seconds the run spends waiting, from an instrumented in-process run."""
    capture = Capture()
    code = pytest.main(
        [
            str(CHECKS), "-c", str(CHECKS / "pytest.ini"), "--rootdir", str(CHECKS), "-q",
            "--tb=no", "--synthetics-no-history", "--synthetics-report-dir", str(report_dir),
            *[a for s in extra if s != "--set" for a in ("--synthetics-set", s)],
        ],
        plugins=[capture],
    )  # fmt: skip
    runtime = capture.runtime
    if code != 0 or runtime is None:
        raise SystemExit(f"the instrumented run failed ({code})")
    requests = busy_s(runtime.traffic.attempts)
    measured = {r.id: r.measurements for r in runtime.results}
    delivery = measured.get("email.delivery", {}).get("delivery_s", 0.0)
    click = measured.get("deeplink.browser", {}).get("latency_ms", 0.0) / 1000
    stop = runtime.launcher.stop_s if runtime.launcher is not None else 0.0
    return {
        "sandbox start": runtime.sandbox_start_s,
        "sandbox stop": stop,
        "requests": requests,
        "request count": float(len(runtime.traffic.attempts)),
        "email wait": delivery,
        "browser click": click,
        "emails": float(capture.emails),
        "critical path": runtime.sandbox_start_s + requests + delivery + click + stop,
    }


def busy_s(attempts: list[Any]) -> float:
    """Seconds during which at least one request was in flight (concurrent probes count once)."""
    spans = sorted((a.started, a.started + a.elapsed_ms / 1000) for a in attempts)
    total, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def watch_cycles(cycles: int, extra: list[str]) -> list[float]:
    """Seconds of each `synthetics watch` cycle (the first starts the sandbox and browser)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "synthetics.cli", "watch", "--every", "1s", "--cycles",
             str(cycles), "--port", "0", "--report-dir", tmp, "--set",
             f"history.url=sqlite:///{tmp}/history.sqlite", *extra],
            capture_output=True, text=True, check=False, cwd=ROOT, timeout=600,
        )  # fmt: skip
    return [float(m) for m in re.findall(r"exit \d in ([\d.]+) s", result.stderr)]


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
    with tempfile.TemporaryDirectory() as tmp:
        # Taken in turns, so that the machine's pace drifting during the bench (other work on a
        # shared host) weighs on both figures alike.
        for i in range(args.runs):
            walls.append(wall_time(Path(tmp) / f"wall{i}", extra))
            paths.append(critical_path(Path(tmp) / f"cp{i}", extra))
    wall = statistics.median(walls)
    parts = {k: statistics.median(p[k] for p in paths) for k in paths[0]}
    critical = parts["critical path"]
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
    print(f"  wall / critical path:              {wall / critical:6.2f}     target <= 1.5")
    print(f"  emails sent per run:               {parts['emails']:6.0f}     target 1")
    seconds = watch_cycles(args.cycles, extra)
    if len(seconds) >= 2:
        warm = seconds[1:]
        print(
            f"watch mode, {len(seconds)} cycles: first {seconds[0]:.2f} s (starts the sandbox "
            f"and browser), then median {statistics.median(warm):.2f} s, max {max(warm):.2f} s"
            "   target < 1.5 s"
        )
    else:
        print(f"watch mode: could not read its cycles ({seconds})")


if __name__ == "__main__":
    main()
