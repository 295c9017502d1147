"""The suite's memory: every run kept, with its target, trigger, location, version and checks.

open_store(url) -> Store   record(run) / runs(...) / prune(older_than) / close()
HistoryConfig              the `[history]` section (url, retention, coverage, window…)
trigger_from(env, flag)    schedule | release | manual | ci
import_paths(store, paths) load results.json files or folders of them (idempotent)
"""

from synthetics.history.config import DEFAULT_URL, HistoryConfig, parse_duration, resolve_url
from synthetics.history.importer import import_paths
from synthetics.history.store import SqlStore, Store, open_store
from synthetics.history.trigger import TRIGGERS, trigger_from

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
