"""History benchmark: the time to record a run, and to build a report over 10,000 recorded runs.

    python bench/history.py [--runs 10000] [--postgres] [--results PATH]

Each run is a copy of one results.json (by default a synthetic Mamapace run: 35 checks, 20 of
them v2 RPCs) re-timed every 5 minutes, so 10,000 runs span about 35 days. It prints the time
of `Store.record` per run (mean, p95, max) on SQLite (and on an embedded PostgreSQL with
`--postgres`), then the time `synthetics report` takes over all of them (read, judge, render,
write), and over its default 7 days.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from synthetics.config import MAMAPACE_RPCS
from synthetics.dashboard.report import build
from synthetics.history.store import SqlStore, open_store
from synthetics.results import CheckResult, RunResult
from synthetics.rules.policy import Policy
from synthetics.status import Status

EVERY = timedelta(minutes=5)
T = TypeVar("T")


def template() -> RunResult:
    """A run shaped like a real sandbox run (every check id, measurements on each)."""
    ids = [
        "auth.health", "auth.settings", "auth.signup", "email.delivery", "deeplink.redirect",
        "deeplink.browser", "deeplink.single_use", "deeplink.app_links", "auth.session",
        "auth.signin", *(f"rpc.{f}" for f in MAMAPACE_RPCS), "security.anon_rpc",
        "security.direct_table", "security.cross_user", "security.error_leak", "cleanup",
    ]  # fmt: skip
    checks = [
        CheckResult(
            id=i,
            group=i.split(".", 1)[0],
            status=Status.SKIPPED if i == "deeplink.app_links" else Status.OK,
            duration_ms=12.5,
            measurements={"delivery_s": 0.4} if i == "email.delivery" else {"latency_ms": 42.0},
            message="ok: what the check saw, in a sentence of typical length for a report",
        )
        for i in ids
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return RunResult("template", "production", start, start + timedelta(seconds=8), checks)


def timed(action: Callable[[], T]) -> tuple[float, T]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def fill(store: SqlStore, base: RunResult, count: int, start: datetime) -> list[float]:
    """Record `count` copies; the time of each record."""
    times = []
    for n in range(count):
        at = start + n * EVERY
        run = dataclasses.replace(
            base, run_id=f"bench-{n:06d}", started_at=at, finished_at=at + timedelta(seconds=8),
            trigger="schedule", target="production",
        )  # fmt: skip
        times.append(timed(lambda run=run: store.record(run))[0])
    return times


def describe(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(
        f"{name}: record a run  mean {statistics.fmean(times) * 1000:.2f} ms, "
        f"p95 {p95 * 1000:.2f} ms, max {ordered[-1] * 1000:.1f} ms  ({len(times)} runs)"
    )


def report(store: SqlStore, now: datetime, days: float, out: Path) -> None:
    policy = Policy(window=timedelta(hours=2), min_runs=3, expected_interval=EVERY)
    since = now - timedelta(days=days)
    read_s, runs = timed(
        lambda: store.runs(target="production", since=since - timedelta(days=7) - policy.window)
    )
    build_s, built = timed(lambda: build(runs, now=now, since=since, policy=policy,
                                         target="production"))  # fmt: skip
    write_s, _ = timed(lambda: built.write(out))
    size = (out / "index.html").stat().st_size / 1024
    print(
        f"  report over {days:.1f} days ({len(runs)} runs read): read {read_s:.2f} s, "
        f"judge+render {build_s:.2f} s, write {write_s * 1000:.0f} ms, total "
        f"{read_s + build_s + write_s:.2f} s; index.html {size:.0f} KiB"
    )


def bench(name: str, url: str, base: RunResult, count: int, out: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store = open_store(url)
    try:
        describe(name, fill(store, base, count, start))
        now = start + count * EVERY
        report(store, now, (count * EVERY).total_seconds() / 86400 + 0.01, out / name / "all")
        report(store, now, 7, out / name / "week")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true", help="also on an embedded Postgres")
    parser.add_argument("--results", type=Path, help="a results.json to copy (default: built-in)")
    args = parser.parse_args()
    base = RunResult.read(args.results) if args.results else template()
    print(f"{len(base.checks)} checks a run; a run every {EVERY}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench("sqlite", f"sqlite:///{folder}/history.sqlite", base, args.runs, folder)
        if args.postgres:
            from synthetics.sandbox.database import Database

            database = Database()
            database.start()
            try:
                bench("postgres", database.url, base, args.runs, folder)
            finally:
                database.stop()


if __name__ == "__main__":
    main()
