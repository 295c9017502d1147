"""A pytest plugin that bench/run.py loads into the runs it times (PYTEST_PLUGINS=run_timings),
so that each run's critical path is measured in that very run: what it waited for, one thing
after another. Each pytest session (a `synthetics run`, or one `watch` cycle) appends a JSON line
to $BENCH_TIMINGS; a one-run sandbox's stop, which ends after the outputs are written, is added
to its line as the process exits.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

import pytest

from synthetics.plugin import RUNTIME

PARTS = ("sandbox start", "requests", "email wait", "browser click", "sandbox stop")

_records: list[dict[str, float]] = []
_state: dict[str, Any] = {"runtime": None, "accepted": 0, "counted": 0, "launchers": set()}


def busy_s(attempts: list[Any]) -> float:
    """Seconds during which at least one request was in flight (concurrent probes count once)."""
    spans = sorted((a.started, a.started + a.elapsed_ms / 1000) for a in attempts)
    total, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    runtime = item.config.stash.get(RUNTIME, None)
    if nextitem is None and runtime is not None:
        _state["runtime"] = runtime
        if runtime.sandbox is not None:  # counted before a one-run sandbox stops
            _state["accepted"] = runtime.sandbox.mail.stats().accepted


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    runtime = _state["runtime"]
    if runtime is None:
        return
    _state["runtime"] = None
    launcher = runtime.launcher
    # A watch cycle after the first found its sandbox up: it waited for no start.
    warm = launcher is not None and id(launcher) in _state["launchers"]
    if launcher is not None:
        _state["launchers"].add(id(launcher))
    measured = {r.id: r.measurements for r in runtime.results}
    parts = {
        "sandbox start": 0.0 if warm else runtime.sandbox_start_s,
        "requests": busy_s(runtime.traffic.attempts),
        "request count": float(len(runtime.traffic.attempts)),
        "email wait": measured.get("email.delivery", {}).get("delivery_s", 0.0),
        "browser click": measured.get("deeplink.browser", {}).get("latency_ms", 0.0) / 1000,
        "sandbox stop": 0.0,
        "emails": float(_state["accepted"] - _state["counted"]),
    }
    _state["counted"] = _state["accepted"]
    _records.append(parts)
    _state["once"] = launcher if launcher is not None and launcher.once else None
    _write()


def _write() -> None:
    for parts in _records:
        parts["critical path"] = sum(parts[k] for k in PARTS)
    lines = "".join(json.dumps(parts) + "\n" for parts in _records)
    Path(os.environ["BENCH_TIMINGS"]).write_text(lines)


def _at_exit() -> None:
    once = _state.get("once")
    if once is not None and _records:
        _records[-1]["sandbox stop"] = once.stop_s  # `synthetics run` stopped it by now
        _write()


atexit.register(_at_exit)
