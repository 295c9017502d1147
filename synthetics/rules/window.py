"""Sums of samples over any time window of a series of points, in constant time (prefix sums).

Every rule asks the same question, "what did the runs in (start, end] say about metric m": the
rate rules at each point and at `now`, the rollback triggers at each point, the verdict over a day.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from synthetics.rules.metrics import METRICS, Point


@dataclass(frozen=True)
class Totals:
    """What the runs in a window said about one metric."""

    runs: int  # points that had a sample for the metric
    good: int
    bad: int
    value_sum: float
    value_count: int

    @property
    def total(self) -> int:
        """Results counted (RPC calls, or runs for per-run metrics)."""
        return self.good + self.bad

    @property
    def success_rate(self) -> float | None:
        """good / total."""
        return self.good / self.total if self.total else None

    @property
    def failure_rate(self) -> float | None:
        """bad / total."""
        return self.bad / self.total if self.total else None

    @property
    def mean(self) -> float | None:
        """Mean of the values (RPC time in ms)."""
        return self.value_sum / self.value_count if self.value_count else None


class Series:
    """A sorted list of points with prefix sums per metric."""

    def __init__(self, points: Sequence[Point]) -> None:
        self.points = sorted(points, key=lambda p: p.at)
        self.times = [p.at for p in self.points]
        self._prefix: dict[str, list[tuple[int, int, int, float, int]]] = {}
        self._last_good: dict[str, list[int]] = {}
        self._first: dict[str, int | None] = {}
        for metric in METRICS:
            last, lasts, first = -1, [-1], None
            for n, p in enumerate(self.points):
                s = p.sample(metric)
                if s.total and first is None:
                    first = n
                if s.good and not s.bad:
                    last = n
                lasts.append(last)
            self._last_good[metric], self._first[metric] = lasts, first
            acc = [(0, 0, 0, 0.0, 0)]
            runs = good = bad = count = 0
            total = 0.0
            for p in self.points:
                s = p.sample(metric)
                if s.total:
                    runs += 1
                    good += s.good
                    bad += s.bad
                    total += math.fsum(s.values)
                    count += len(s.values)
                acc.append((runs, good, bad, total, count))
            self._prefix[metric] = acc

    def last_good(self, metric: str, j: int) -> int:
        """Index of the last point before index j whose sample was all good (-1: none)."""
        return self._last_good[metric][j]

    def first_sample(self, metric: str, j: int) -> int | None:
        """Index of the first point with a sample for the metric, if it is before index j."""
        first = self._first[metric]
        return first if first is not None and first < j else None

    def index_after(self, moment: datetime) -> int:
        """Index of the first point later than `moment`."""
        return bisect.bisect_right(self.times, moment)

    def span(self, start: datetime, end: datetime) -> tuple[int, int]:
        """Indices [i, j) of the points in (start, end]."""
        return self.index_after(start), self.index_after(end)

    def totals(self, metric: str, start: datetime, end: datetime) -> Totals:
        """The metric over the points in (start, end]."""
        i, j = self.span(start, end)
        return self.totals_between(metric, i, j)

    def totals_between(self, metric: str, i: int, j: int) -> Totals:
        """The metric over points[i:j]."""
        prefix = self._prefix[metric]
        a, b = prefix[i], prefix[j]
        return Totals(b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3], b[4] - a[4])

    def values(self, metric: str, start: datetime, end: datetime) -> list[float]:
        """Every value of the metric in (start, end] (for percentiles)."""
        i, j = self.span(start, end)
        return [v for p in self.points[i:j] for v in p.sample(metric).values]

    def run_ids(self, metric: str, start: datetime, end: datetime, *, bad: bool) -> list[str]:
        """The runs in (start, end] whose sample for the metric was bad (or good)."""
        i, j = self.span(start, end)
        found = []
        for p in self.points[i:j]:
            s = p.sample(metric)
            if s.total and (s.bad > 0) == bad:
                found.append(p.run_id)
        return found


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` 0.95 → p95); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
