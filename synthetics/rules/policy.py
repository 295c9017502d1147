"""How the rules look at a series: the window, the runs a rule needs, the expected cadence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Policy:
    """The `[history]` knobs the rules use (pure data; see history.config for the keys)."""

    #: The rate rules' (and the rollback triggers' inner) window.
    window: timedelta = timedelta(hours=2)
    #: Runs a rule needs in its window; with fewer it says "insufficient data".
    min_runs: int = 3
    #: How often scheduled runs come; with `coverage`, what a stability verdict needs.
    expected_interval: timedelta = timedelta(minutes=30)
    coverage: float = 0.8


def duration_text(span: timedelta) -> str:
    """`45 s`, `15 min`, `2 h`, `2 h 30 min`, `1 d 6 h`: a span as people say it."""
    seconds = round(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    if hours == 0:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(rate: float) -> str:
    """`33 %` (one decimal below 10 %)."""
    value = rate * 100
    return f"{value:.1f} %" if 0 < value < 10 else f"{value:.0f} %"


def plural(count: int, word: str) -> str:
    """`1 run`, `3 runs`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
