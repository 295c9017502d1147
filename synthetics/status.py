"""Check and run statuses, in severity order."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    """A check's or a run's outcome. Severity order: ok < info < warning < critical."""

    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    BLOCKED = "blocked"  # a prerequisite failed (or the run stopped): not run, adds no severity
    SKIPPED = "skipped"  # not applicable here, with a reason

    @property
    def rank(self) -> int:
        """Severity rank; blocked and skipped rank with ok (they add nothing)."""
        return _RANK.get(self, 0)


_RANK = {Status.OK: 0, Status.INFO: 1, Status.WARNING: 2, Status.CRITICAL: 3}


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of `statuses` (ok when there is nothing severe)."""
    result = Status.OK
    for status in statuses:
        if status.rank > result.rank:
            result = status
    return result
