"""Stops that end: SIGTERM to the run's process group (a CI cancel, `docker stop`) ends it within
seconds with nothing left behind; after a SIGKILL the next run removes what the killed one left.

`bench/stops.py` repeats these many times and prints the counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from synthetics.reaper import OWNER_ENV
from tests.chromium import FOUND

ROOT = Path(__file__).parents[2]


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """A run in its own process group, as a CI runner starts a job step."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "synthetics.cli", "run", "--report-dir",
            str(tmp_path / "reports"), *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip


def tag_of(pid: int) -> str:
    return f"{pid}-{int(psutil.Process(pid).create_time())}"


def owned(tag: str) -> list[str]:
    """Processes that carry the run's mark."""
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.environ().get(OWNER_ENV) == tag:
                found.append(f"{process.info['name']} {process.pid}")
        except (psutil.Error, OSError):
            continue
    return found


def folders(tag: str) -> list[str]:
    bases = (Path(tempfile.gettempdir()), Path("/dev/shm"))  # clusters live in memory when they can
    return [p.name for base in bases for p in base.glob(f"synthetics-*-{tag}-*")]


def wait_for(condition: object, timeout: float, what: str) -> None:
    """Poll `condition()` with growing pauses until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def started_everything(tag: str) -> bool:
    names = " ".join(owned(tag))
    return "postgres" in names and (not FOUND or "node" in names)


@pytest.mark.parametrize("after_s", [0.0, 1.0])
def test_sigterm_to_the_process_group_ends_the_run_and_leaves_nothing(
    tmp_path: Path, after_s: float
) -> None:
    run = start(tmp_path, "--fault", "email.delay=30")
    tag = tag_of(run.pid)
    wait_for(lambda: started_everything(tag) or run.poll() is not None, 60, "the run to start")
    time.sleep(after_s)  # a later moment: the run is waiting for the email
    sent = time.monotonic()
    os.killpg(run.pid, signal.SIGTERM)
    output, _ = run.communicate(timeout=30)
    took = time.monotonic() - sent
    assert took < 10, f"the run took {took:.1f} s to stop\n{output}"
    assert run.returncode == 4, output
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["interrupted"] is True
    cleanup = next(c for c in results["checks"] if c["id"] == "cleanup")
    assert cleanup["status"] in ("ok", "warning"), cleanup
    wait_for(lambda: not owned(tag), 10, "the run's processes to exit")
    assert folders(tag) == []


def segments() -> set[str]:
    """PostgreSQL's dynamic shared memory segments in /dev/shm (none should be a run's)."""
    return {p.name for p in Path("/dev/shm").glob("PostgreSQL.*")}


def test_after_sigkill_the_next_run_removes_what_the_killed_one_left(tmp_path: Path) -> None:
    before = segments()
    run = start(tmp_path / "killed", "--fault", "email.delay=30")
    tag = tag_of(run.pid)
    wait_for(lambda: started_everything(tag), 60, "the run to start its database")
    run.kill()
    run.communicate(timeout=30)
    # The database was started in a session of its own: SIGKILL of the run cannot take it along.
    assert any("postgres" in p for p in owned(tag))
    assert folders(tag)
    after = subprocess.run(
        [
            sys.executable, "-m", "synthetics.cli", "run", "--only", "auth",
            "--set", "deeplink.browser=off", "--report-dir", str(tmp_path / "next"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert after.returncode == 0, after.stdout + after.stderr
    wait_for(lambda: not owned(tag), 15, "the killed run's processes to be reaped")
    assert folders(tag) == []
    assert segments() - before == set()
