"""A pytest plugin that bench/run.py loads into the `synthetics run` it times (`-- -p
run_timings`), so that each run's critical path is measured in that very run: what it waited
for, one thing after another. It writes them as JSON to $BENCH_TIMINGS as the process exits,
once the sandbox's stop (which ends after the outputs are written) is over.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

import pytest

from synthetics.plugin import RUNTIME

_seen: dict[str, Any] = {"runtime": None, "launcher": None, "emails": 0}


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
        _seen["runtime"], _seen["launcher"] = runtime, runtime.launcher
        if runtime.sandbox is not None:  # counted before the sandbox stops
            _seen["emails"] = runtime.sandbox.mail.stats().accepted


def _write() -> None:
    runtime, launcher = _seen["runtime"], _seen["launcher"]
    if runtime is None:
        return
    measured = {r.id: r.measurements for r in runtime.results}
    parts = {
        "sandbox start": runtime.sandbox_start_s,
        "requests": busy_s(runtime.traffic.attempts),
        "request count": float(len(runtime.traffic.attempts)),
        "email wait": measured.get("email.delivery", {}).get("delivery_s", 0.0),
        "browser click": measured.get("deeplink.browser", {}).get("latency_ms", 0.0) / 1000,
        "sandbox stop": launcher.stop_s if launcher is not None else 0.0,
        "emails": float(_seen["emails"]),
    }
    parts["critical path"] = sum(
        parts[k]
        for k in ("sandbox start", "requests", "email wait", "browser click", "sandbox stop")
    )
    Path(os.environ["BENCH_TIMINGS"]).write_text(json.dumps(parts))


atexit.register(_write)
