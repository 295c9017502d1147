"""What a diagnosis found (`synthetics doctor`): one finding an item, its level, and the fix.

    Level     ok < unknown < warn < fail, and skip (does not apply here)
    Finding   id, level, message, fix

`unknown` is for what could not be decided (a check that needs a side effect to answer, an
answer that proves neither way): it is said, with the reason, never guessed into ok or fail.
Only `fail` makes the doctor exit non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """How a finding stands."""

    OK = "ok"
    SKIP = "skip"
    UNKNOWN = "unknown"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One item of a diagnosis."""

    id: str
    level: Level
    message: str
    fix: str = ""

    def line(self, width: int = 26) -> str:
        """`fail    keys.anon_key              … — fix: …` (one line)."""
        fix = f" — fix: {self.fix}" if self.fix and self.level is not Level.OK else ""
        return f"{self.level.value:<8}{self.id:<{width}} {self.message}{fix}"


def ok(id: str, message: str) -> Finding:
    """A finding that is fine."""
    return Finding(id, Level.OK, message)


def warn(id: str, message: str, fix: str = "") -> Finding:
    """A finding that will not stop a run but will hurt it."""
    return Finding(id, Level.WARN, message, fix)


def fail(id: str, message: str, fix: str = "") -> Finding:
    """A finding that will make runs go wrong."""
    return Finding(id, Level.FAIL, message, fix)


def unknown(id: str, message: str, fix: str = "") -> Finding:
    """A finding that could not be decided, and why."""
    return Finding(id, Level.UNKNOWN, message, fix)


def skip(id: str, message: str) -> Finding:
    """An item that does not apply here."""
    return Finding(id, Level.SKIP, message)
