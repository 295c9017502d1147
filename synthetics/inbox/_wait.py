"""Deadline-driven polling: probe at once, then again after growing pauses, until found or too late.

The pauses only space out the probes; the deadline (time.monotonic) decides when waiting ends, and
the last probe happens at the deadline itself. `Backoff.cap` bounds how late an arrival is noticed,
which is what lets the checks measure delivery time to well under a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Pauses between probes: `first`, multiplied by `factor` each time, never above `cap` (s)."""

    first: float = 0.025
    factor: float = 2.0
    cap: float = 0.2

    def __post_init__(self) -> None:
        if self.first <= 0 or self.cap < self.first or self.factor < 1:
            raise ValueError("backoff needs 0 < first <= cap and factor >= 1")

    def delays(self) -> Iterator[float]:
        """The pauses, forever."""
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.cap)


def deadline_after(timeout: float, clock: Callable[[], float] = time.monotonic) -> float:
    """The monotonic time `timeout` seconds from now (negative timeouts count as zero)."""
    return clock() + max(timeout, 0.0)


def poll(
    probe: Callable[[], T | None],
    *,
    deadline: float,
    backoff: Backoff,
    pace: Callable[[], float] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Call `probe` until it returns something or `deadline` passes; then return that or None.

    `pace` lets a provider ask for longer pauses (e.g. Mailosaur's `x-ms-delay`); it is honoured
    up to `backoff.cap`, so a server hint can slow polling but never blunt the measurement.
    """
    delays = backoff.delays()
    while True:
        found = probe()
        if found is not None:
            return found
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        delay = next(delays)
        if pace is not None:
            delay = max(delay, min(pace(), backoff.cap))
        sleep(min(delay, remaining))
