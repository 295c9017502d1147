"""The suite's memory: every run kept, with its target, trigger, location, version and checks.

    open_store(url) -> Store   record(run) / runs(...) / prune(older_than) / close()
    HistoryConfig              the `[history]` section (url, retention, coverage, window…)
    trigger_from(env, flag)    schedule | release | manual | ci
    import_paths(store, paths) load results.json files or folders of them (idempotent)

The store (SQLAlchemy) is imported on first use, so reading the config stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synthetics.durations import parse_duration
from synthetics.history.config import DEFAULT_URL, HistoryConfig, resolve_url
from synthetics.history.trigger import TRIGGERS, trigger_from

if TYPE_CHECKING:
    from synthetics.history.importer import import_paths
    from synthetics.history.store import SqlStore, Store, open_store

__all__ = [
    "DEFAULT_URL",
    "TRIGGERS",
    "HistoryConfig",
    "SqlStore",
    "Store",
    "import_paths",
    "open_store",
    "parse_duration",
    "resolve_url",
    "trigger_from",
]
_LAZY = {
    "SqlStore": "synthetics.history.store",
    "Store": "synthetics.history.store",
    "open_store": "synthetics.history.store",
    "import_paths": "synthetics.history.importer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
