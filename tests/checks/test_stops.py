"""Stops that end: SIGTERM to the run's process group (a CI cancel, `docker stop`) ends it within
seconds with nothing left behind; after a SIGKILL of the run its sandbox's process removes what
it started, and after a SIGKILL of the whole group the next run removes what was left.

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

from synthetics.reaper import OWNER_ENV, sweep
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


@pytest.mark.parametrize(
    ("signum", "after_s"),
    [(signal.SIGTERM, 0.0), (signal.SIGTERM, 1.0), (signal.SIGINT, 1.0)],
    ids=["sigterm-at-start", "sigterm-waiting", "sigint-waiting"],
)
def test_a_signal_to_the_process_group_ends_the_run_and_leaves_nothing(
    tmp_path: Path, signum: signal.Signals, after_s: float
) -> None:
    # The sandbox's own process (synthetics.sandbox_child) gets the signal too and leaves it to
    # the run: the run deletes its users through the sandbox before it stops it.
    run = start(tmp_path, "--fault", "email.delay=30")
    tag = tag_of(run.pid)
    wait_for(lambda: started_everything(tag) or run.poll() is not None, 60, "the run to start")
    time.sleep(after_s)  # a later moment: the run is waiting for the email
    sent = time.monotonic()
    os.killpg(run.pid, signum)
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


def test_after_sigkill_of_the_run_its_sandbox_process_removes_what_it_started(
    tmp_path: Path,
) -> None:
    # The sandbox runs in a process of its own, forked by the run (synthetics.sandbox_child); the
    # run's death closes its pipe, and it stops PostgreSQL and removes the cluster at once.
    before = segments()
    run = start(tmp_path, "--fault", "email.delay=30")
    tag = tag_of(run.pid)
    wait_for(lambda: started_everything(tag), 60, "the run to start its database")
    postgres = [
        p for p in psutil.Process(run.pid).children(recursive=True) if p.name() == "postgres"
    ]
    server = next(p for p in postgres if p.parent().name() != "postgres")  # not a backend
    assert server.ppid() != run.pid
    assert psutil.Process(server.ppid()).ppid() == run.pid  # the run's child started it
    run.kill()
    run.communicate(timeout=30)
    wait_for(lambda: not owned(tag), 15, "the killed run's processes to exit")
    clusters = lambda: [f for f in folders(tag) if f.startswith("synthetics-pg-")]  # noqa: E731
    wait_for(lambda: not clusters(), 15, "the killed run's cluster to go")
    assert segments() - before == set()
    # What the killed process made itself (Chromium's profile) waits for the next run's sweep.
    sweep()
    assert folders(tag) == []


def test_after_sigkill_of_the_process_group_the_next_run_removes_what_was_left(
    tmp_path: Path,
) -> None:
    before = segments()
    run = start(tmp_path / "killed", "--fault", "email.delay=30")
    tag = tag_of(run.pid)
    wait_for(lambda: started_everything(tag), 60, "the run to start its database")
    os.killpg(run.pid, signal.SIGKILL)  # the run and its sandbox's process, with no warning
    run.communicate(timeout=30)
    # The database was started in a session of its own: SIGKILL of the group cannot take it along.
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
