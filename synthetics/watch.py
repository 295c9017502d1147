"""`synthetics watch`: the checks as a service, for teams that outgrow GitHub's cron.

Every `--every`, each target's checks run in this process — the browser and (for the sandbox
target) the sandbox stay warm between runs — and each run goes through the same finishing
pipeline as `synthetics run`: history, the runbook's rules, alerts, exporters, files. Runs never
overlap: they run one at a time, in the main thread (signals and pytest-timeout need it); a run
that takes longer than the interval is recorded as an overrun and the next one starts at once.
Scheduling is the `schedule` library's; the wait between runs is an event, so a stop needs no
polling.

Over HTTP (loopback by default) it serves:
- `/` the status page: the `synthetics report` dashboard of the first target, rebuilt after each
  run (in the background, so runs are not slowed down);
- `/metrics` Prometheus' exposition of every target's latest run (the official client);
- `/healthz` 200 while the newest run is no older than two intervals plus a run's deadline.

SIGTERM or SIGINT ends the current run as `synthetics run` would (its results say `interrupted`)
and stops. Several instances in different places share one Postgres history, each with its
`location`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import schedule

from synthetics.config import Settings
from synthetics.heap import StartupHeap

Clock = Callable[[], datetime]


@dataclass
class Cycle:
    """One run of one target as watch mode saw it."""

    target: str
    started: datetime
    seconds: float
    exit_code: int
    overran: bool = False


@dataclass
class Target:
    """What watch keeps warm for one target between its runs."""

    name: str
    settings: Settings
    report_dir: Path
    launcher: Any = None  # a runtime.SandboxLauncher for the sandbox target
    browser: Any = None  # a deeplink.browser.BrowserThread, kept between runs
    cycles: list[Cycle] = field(default_factory=list)


class Watch:
    """The service: a schedule of runs, the HTTP endpoints, and a clean stop."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        every: timedelta,
        pytest_args: Callable[[Target], list[str]],
        clock: Clock = lambda: datetime.now(UTC),
        cycles: int | None = None,
        plugins: Sequence[Any] = (),
        heap: StartupHeap | None = None,
    ) -> None:
        from synthetics.exporters.prometheus import Exporter

        self.targets = list(targets)
        self.every = every
        self.pytest_args = pytest_args
        self.clock = clock
        self.limit = cycles
        #: The process's paused collector (a pytest plugin of every run too), when it has one.
        self.heap = heap
        #: More pytest plugin objects for every run.
        self.plugins = [*plugins, *([heap] if heap is not None else [])]
        self.exporter = Exporter()
        self.stopping = threading.Event()
        self.running: Any = None  # the RunControl of the run in progress
        self.page = b"<html><body><p>No run yet.</p></body></html>"
        self._scheduler = schedule.Scheduler()
        self._lock = threading.Lock()
        self._page_thread: threading.Thread | None = None

    # -- runs ---------------------------------------------------------------------------------

    def run_once(self, target: Target) -> Cycle:
        """One run of `target`'s checks, in this process, with its warm browser and sandbox."""
        import pytest

        from synthetics.control import RunControl

        if self.heap is not None and any(t.cycles for t in self.targets):
            self.heap.settle()  # what the first cycle left alive: frozen, once
        control = RunControl()
        control.exporter = self.exporter
        plugins = [p for p in (target.launcher, target.browser, control) if p is not None]
        plugins += self.plugins
        started, began = self.clock(), time.monotonic()
        control.start_deadline(target.settings.config.run_timeout)
        self.running = control
        try:
            pytest.main(self.pytest_args(target), plugins=plugins)
        finally:
            self.running = None
            control.cancel_deadline()
        seconds = time.monotonic() - began
        code = control.verdict if control.verdict is not None else 4
        cycle = Cycle(target.name, started, seconds, code, seconds > self.every.total_seconds())
        target.cycles.append(cycle)
        self._rebuild_page()
        return cycle

    def _job(self, target: Target) -> Any:
        if self.stopping.is_set():
            return schedule.CancelJob
        self.run_once(target)
        if self.limit is not None and sum(len(t.cycles) for t in self.targets) >= self.limit:
            self.stopping.set()
        return None

    def serve_forever(self) -> None:
        """Run every target now, then every `every`, until stopped (or `cycles` runs)."""
        # `schedule` counts in whole seconds; watch intervals are at least that.
        seconds = max(1, round(self.every.total_seconds()))
        for target in self.targets:
            self._scheduler.every(seconds).seconds.do(self._job, target)
        self._scheduler.run_all()  # the first runs start at once
        while not self.stopping.is_set():
            idle = self._scheduler.idle_seconds
            if idle is None:
                break
            if idle > 0 and self.stopping.wait(idle):
                break
            self._scheduler.run_pending()

    def stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: interrupt the run in progress (it finishes as interrupted) and stop.

        A run's own deadline arrives as a SIGTERM too: it ends that run, not the service."""
        control = self.running
        if control is None:
            self.stopping.set()
            return
        if control.stop(signal.Signals(signum).name):
            if control.signal != "deadline":
                self.stopping.set()
            raise KeyboardInterrupt
        self.stopping.set()

    # -- what the endpoints show ---------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        """Whether runs keep happening: the newest no older than 2 intervals + a run deadline."""
        newest = max(
            (c for t in self.targets for c in t.cycles), key=lambda c: c.started, default=None
        )
        if newest is None:
            return True, "starting"
        deadline = max(t.settings.config.run_timeout for t in self.targets)
        allowed = 2 * self.every + timedelta(seconds=deadline)
        age = self.clock() - newest.started
        if age > allowed:
            return (
                False,
                f"no run for {age.total_seconds():.0f} s (allowed {allowed.total_seconds():.0f} s)",
            )
        return True, f"last run {age.total_seconds():.0f} s ago, exit {newest.exit_code}"

    def _rebuild_page(self) -> None:
        """Rebuild the status page from the history, in the background (never twice at once)."""
        with self._lock:
            if self._page_thread is not None and self._page_thread.is_alive():
                return
            self._page_thread = threading.Thread(target=self._build_page, daemon=True)
            self._page_thread.start()

    def _build_page(self) -> None:
        from synthetics.dashboard.report import build
        from synthetics.errors import SyntheticsError
        from synthetics.history.store import open_store

        target = self.targets[0]
        history = target.settings.config.history
        now = self.clock()
        try:
            store = open_store(history.resolved_url(target.settings.folder))
            try:
                runs = store.runs(target=target.name, since=now - timedelta(days=8))
            finally:
                store.close()
            report = build(
                runs,
                now=now,
                since=now - timedelta(days=1),
                policy=history.policy(),
                target=target.name,
                thresholds=target.settings.config.thresholds.model_dump(),
            )
            self.page = report.html.encode("utf-8")
        except SyntheticsError as exc:
            why = type(exc).__name__
            self.page = f"<html><body><p>No history to show: {why}</p></body></html>".encode()

    def app(self) -> Any:
        """The ASGI app: `/`, `/metrics`, `/healthz`."""
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, Response
        from starlette.routing import Route

        async def page(request: Request) -> Response:
            return Response(self.page, media_type="text/html; charset=utf-8")

        async def metrics(request: Request) -> Response:
            body, content_type = self.exporter.exposition(request.headers.get("accept"))
            return Response(body, media_type=content_type)

        async def health(request: Request) -> Response:
            ok, why = self.healthy()
            return PlainTextResponse(why, status_code=200 if ok else 503)

        return Starlette(
            routes=[
                Route("/", page),
                Route("/healthz", health),
                Route("/metrics", metrics),
            ]
        )
