"""`synthetics history import PATH...`: results.json files, or folders that hold them, into a store.

Idempotent: a run already in the history (same run_id) is counted as `already` and left alone.
A file that is not a results.json is reported by path and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from synthetics.history.store import Store
from synthetics.results import ResultsError, RunResult

RESULTS_FILE = "results.json"


@dataclass
class ImportSummary:
    """What an import did."""

    added: int = 0
    already: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def seen(self) -> int:
        """Files read as runs."""
        return self.added + self.already


def result_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every results.json named, or found below a named folder (sorted, each once)."""
    seen: set[Path] = set()
    for path in paths:
        found = sorted(path.rglob(RESULTS_FILE)) if path.is_dir() else [path]
        for item in found:
            key = item.resolve()
            if key not in seen:
                seen.add(key)
                yield item


def import_paths(store: Store, paths: Iterable[Path]) -> ImportSummary:
    """Record every run the paths hold; bad files are listed in `errors`, not raised."""
    summary = ImportSummary()
    for item in result_files(paths):
        if not item.exists():
            summary.errors.append(f"{item}: no such file or folder")
            continue
        try:
            run = RunResult.read(item)
        except ResultsError as exc:
            summary.errors.append(str(exc))
            continue
        if store.record(run):
            summary.added += 1
        else:
            summary.already += 1
    return summary
