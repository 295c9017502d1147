"""`synthetics run`'s (and `synthetics watch`'s) handle on a session: how it was stopped, its
deadline, the grace period after a stop, and the verdict it gave."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from pluggy import HookimplMarker

hookimpl = HookimplMarker("pytest")


class RunControl:
    """`synthetics run`'s handle on the session: how it was stopped and the verdict it gave.

    A pytest plugin object. A stop (SIGINT, SIGTERM, or the run's deadline) interrupts the checks
    once; later signals must not cut the cleanup short. From the first stop on, every request
    must end within `GRACE_S`, so the teardown ends too. The checks' plugin reads how the run was
    stopped; `synthetics run` reads back the exit code.

    The checks are interrupted (KeyboardInterrupt) only once pytest's session is running them:
    a stop that arrives while pytest still starts and collects is recorded, and the session is
    interrupted as its checks are about to begin, so the run still ends with its outputs (every
    check `blocked` by `interrupted`) rather than a traceback from pytest's start-up.
    """

    #: After a stop, every request must end within this many seconds: cleanup cannot hang.
    GRACE_S = 6.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.signal: str | None = None
        self.verdict: int | None = None
        #: The monotonic time by which every request must end, once the run is stopping.
        self.cutoff: float | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._pending = False
        #: Whether a stop may interrupt the checks now (from the start of pytest's test loop).
        self._armed = False
        self._timer: threading.Timer | None = None
        #: A Prometheus exporter the run feeds (watch mode's /metrics), if any.
        self.exporter: Any = None

    def stop(self, signal_name: str) -> bool:
        """Record a stop; True when the checks must be interrupted now (the first stop, or the
        deadline's own signal, while the checks run)."""
        with self._lock:
            if self._pending:
                self._pending = False
                return self._armed
            first = self.signal is None
            if first:
                self.signal = signal_name
                self.cutoff = self._clock() + self.GRACE_S
            return first and self._armed

    @hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: Any) -> Generator[None, object, object]:
        """While the checks run a stop interrupts them; one that came during start-up does it as
        they begin. Once they are over (outputs being written), a stop is only recorded."""
        with self._lock:
            self._armed = True
            stopped = self.signal is not None
            self._pending = False
        try:
            if stopped:
                raise KeyboardInterrupt
            return (yield)
        finally:
            with self._lock:
                self._armed = False

    def start_deadline(self, seconds: float) -> None:
        """Stop the run `seconds` from now unless it is over by then."""
        self._timer = threading.Timer(seconds, self._deadline)
        self._timer.daemon = True
        self._timer.start()

    def _deadline(self) -> None:
        with self._lock:
            if self.signal is not None:
                return
            self.signal = "deadline"
            self.cutoff = self._clock() + self.GRACE_S
            self._pending = True
        # A real signal, so a blocking call in the main thread is interrupted at once.
        os.kill(os.getpid(), signal.SIGTERM)

    def cancel_deadline(self) -> None:
        """The checks are over: the deadline no longer applies (cleanup has its grace)."""
        if self._timer is not None:
            self._timer.cancel()

    def pytest_unconfigure(self, config: Any) -> None:
        """Read the plugin's verdict once the session is over."""
        from synthetics.plugin import verdict

        self.verdict = verdict(config)
