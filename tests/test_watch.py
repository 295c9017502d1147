"""`synthetics watch` against the sandbox: cycles that never overlap, /metrics that promtool
accepts, /healthz, the status page, and a clean stop on SIGTERM (the run in progress finishes as
interrupted)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[1]


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    config = tmp_path / "synthetics.toml"
    config.write_text((ROOT / "synthetics.toml").read_text())
    watch = subprocess.Popen(
        [
            sys.executable, "-m", "synthetics.cli", "watch", "--port", "0", "--config",
            str(config), "--report-dir", str(tmp_path / "reports"), "--set",
            "deeplink.browser=off", *args,
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert watch.stdout is not None
    deadline = time.monotonic() + 60
    for line in watch.stdout:  # the service announces where it serves once it listens
        found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if found:
            return watch, found.group(1)
        assert time.monotonic() < deadline
    raise AssertionError(watch.stderr.read() if watch.stderr else "watch never started")


def cycles(stderr: str) -> list[tuple[str, float]]:
    """(start time, seconds) of each run, from the summary watch prints when it stops."""
    return [
        (m.group(1), float(m.group(3)))
        for m in re.finditer(r"(\d\d:\d\d:\d\d) sandbox: exit (\d) in ([\d.]+) s", stderr)
    ]


def test_ten_cycles_never_overlap_and_metrics_pass_promtool(tmp_path: Path) -> None:
    watch, url = start(tmp_path, "--every", "1s", "--cycles", "10")
    first = tmp_path / "reports" / "sandbox" / "results.json"
    deadline, pause = time.monotonic() + 120, 0.05
    while not first.exists():  # the first run has finished: its metrics are there
        assert time.monotonic() < deadline, "no run finished"
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    scraped = httpx.get(f"{url}/metrics", timeout=10)
    health = httpx.get(f"{url}/healthz", timeout=10)
    _, stderr = watch.communicate(timeout=300)
    assert watch.returncode == 0, stderr
    runs = cycles(stderr)
    assert len(runs) == 10, stderr
    results = json.loads((tmp_path / "reports" / "sandbox" / "results.json").read_text())
    assert results["trigger"] == "schedule"
    # Never overlapping: each run starts after the one before it ended.
    starts = [datetime.strptime(s, "%H:%M:%S") for s, _ in runs]
    for (before, took), after in zip(runs, starts[1:], strict=False):
        assert (after - datetime.strptime(before, "%H:%M:%S")).total_seconds() >= int(took)
    assert scraped.status_code == 200
    assert health.status_code == 200
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=scraped.text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "synthetics_last_run_timestamp_seconds" in scraped.text


def test_sigterm_ends_the_run_in_progress_and_stops(tmp_path: Path) -> None:
    watch, url = start(tmp_path, "--every", "1s", "--fault", "email.delay=30")
    time.sleep(2)  # the first run is waiting for its email
    page = httpx.get(f"{url}/", timeout=10)
    assert page.status_code == 200
    sent = time.monotonic()
    watch.send_signal(signal.SIGTERM)
    _, stderr = watch.communicate(timeout=60)
    assert time.monotonic() - sent < 15
    assert watch.returncode == 0, stderr
    results = json.loads((tmp_path / "reports" / "sandbox" / "results.json").read_text())
    assert results["interrupted"] is True
    assert cycles(stderr)[-1] is not None
