"""A separate process that writes runs into a history at the same moment as another."""

from __future__ import annotations

from typing import Any

from synthetics.history.store import open_store
from tests.rules.runs import run


def write(url: str, name: str, count: int, barrier: Any, results: Any) -> None:
    """Open the store (migrating a new one), wait for the other writer, then record `count` runs
    and one run both writers share; report how many records were new."""
    barrier.wait(timeout=60)
    store = open_store(url)
    try:
        barrier.wait(timeout=60)
        added = 0
        for n in range(count):
            added += store.record(run(n, run_id=f"{name}-{n}"))
            if n == count // 2:
                added += store.record(run(0, run_id="shared"))
        results.put((name, added))
    finally:
        store.close()
