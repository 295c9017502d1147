"""The run's sandbox in a process of its own (synthetics.sandbox_child).

The launcher is driven in a fresh interpreter, as `synthetics run` drives it: this test process has
threads of its own, and a fork copies their locks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from synthetics.errors import SandboxError
from synthetics.sandbox_child import can_fork, portable

ROOT = Path(__file__).parents[1]

#: A sandbox in a child process: its info, the mailbox's counters through the pipe, whose process
#: PostgreSQL is, and what is left once it stopped.
DRIVE = """
import json, sys, httpx, psutil
from synthetics import config
from synthetics.reaper import claim
from synthetics.sandbox_child import ChildLauncher
from synthetics.targets import plan

claim()
launcher = ChildLauncher(plan(config.load(path=None, sets=sys.argv[1:]))).begin()
info = launcher.wait()
health = httpx.get(info.api_url + "/auth/v1/health", headers={"apikey": info.anon_key})
postgres = [p for p in psutil.Process().children(recursive=True) if p.name() == "postgres"]
server = next(p for p in postgres if p.parent().name() != "postgres")
out = {
    "health": health.status_code,
    "accepted": launcher.sandbox.mail.stats().accepted,
    "site": bool(launcher.sandbox.info.site_url),
    "postgres_parent_is_us": server.ppid() == psutil.Process().pid,
    "postgres": server.pid,
    "elapsed_s": launcher.elapsed_s,
    "since_fork_s": launcher.since_fork_s,
    # What this process loaded of the sandbox's own code (its reports are plain data).
    "sandbox_code": sorted(
        m for m in sys.modules
        if m.split(".")[0] in ("uvicorn", "starlette", "aiosmtpd", "psycopg", "psycopg_pool")
        or m.startswith("synthetics.sandbox.")
        and m not in ("synthetics.sandbox.reports", "synthetics.sandbox.faults")
    ),
}
launcher.stop()
out["postgres_running"] = psutil.pid_exists(out["postgres"])
out["children"] = [p.name() for p in psutil.Process().children()]
print(json.dumps(out))
"""


def python(*args: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter in the project's folder: `-c CODE ARGS...` or `-m MODULE ARGS...`."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def quick_run(tmp_path: Path) -> list[str]:
    """`synthetics run`'s arguments for a short sandbox run: the auth checks, no browser."""
    return [
        "run", "--no-history", "--only", "auth", "--set", "deeplink.browser=off",
        "--report-dir", str(tmp_path / "reports"),
    ]  # fmt: skip


def drive(*sets: str) -> dict[str, object]:
    result = python("-c", DRIVE, *sets)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout.splitlines()[-1]))


def test_the_child_runs_the_sandbox_answers_and_takes_everything_down() -> None:
    out = drive()
    assert out["health"] == 200
    assert out["accepted"] == 0  # asked over the pipe: no email sent yet
    assert out["site"] is True
    assert out["postgres_parent_is_us"] is False  # the child's, not this process's
    assert out["sandbox_code"] == []  # it loads and serves in the child alone
    # The start as the in-process launcher measures it, within the time since the fork.
    assert 0 < float(out["elapsed_s"]) <= float(out["since_fork_s"]) < 60  # type: ignore[arg-type]
    assert out["postgres_running"] is False
    assert out["children"] == []


def test_a_start_that_fails_in_the_child_is_raised_in_the_run() -> None:
    script = """
import sys
from synthetics import config
from synthetics.sandbox_child import ChildLauncher
from synthetics.targets import plan

launcher = ChildLauncher(plan(config.load(path=None), postgres_bin=sys.argv[1])).begin()
try:
    launcher.wait()
except Exception as exc:
    print(type(exc).__name__, exc)
launcher.stop()
"""
    result = python("-c", script, "/nonexistent/bin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/nonexistent/bin" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


class _Odd(Exception):
    """An error whose class cannot be rebuilt from its args (a keyword-only field)."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def test_an_error_that_cannot_cross_the_pipe_keeps_its_words() -> None:
    plain = SandboxError("the database did not start")
    assert portable(plain) is plain
    odd = portable(_Odd("no such folder", key="--postgres-bin"))
    assert type(odd) is SandboxError
    assert str(odd) == "--postgres-bin: no such folder"


def test_a_process_with_another_thread_does_not_fork() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    try:
        assert can_fork() is False
    finally:
        release.set()
        thread.join()


@pytest.mark.skipif(sys.platform != "linux", reason="the child is forked on Linux only")
def test_a_run_forks_its_sandbox_when_it_has_no_other_thread() -> None:
    script = "import threading; from synthetics.sandbox_child import can_fork; print(can_fork())"
    result = python("-c", script)
    assert result.stdout.strip() == "True"


def test_a_run_whose_sandbox_cannot_load_the_sql_says_which_statement(tmp_path: Path) -> None:
    # The start fails in the sandbox's own process; the run reports it in its words.
    sql = tmp_path / "bad.sql"
    sql.write_text("create table ok_one (id int);\ncreate tabel broken (id int);\n")
    result = python("-m", "synthetics.cli", *quick_run(tmp_path), "--migrations", str(sql))
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["interrupted"] is False
    health = next(c for c in results["checks"] if c["id"] == "auth.health")
    assert "bad.sql:2: `create tabel broken (id int)` failed" in health["message"], health
    assert result.returncode in (1, 2), output


def test_a_run_in_a_process_with_threads_keeps_its_sandbox_in_that_process(tmp_path: Path) -> None:
    # As in a program that calls synthetics.cli.main with threads of its own: no fork.
    script = """
import sys, threading, psutil
from synthetics import cli

release = threading.Event()
threading.Thread(target=release.wait, daemon=True).start()
seen = []

def watch():
    while not release.wait(0.05):
        seen.extend(
            p.ppid() for p in psutil.Process().children(recursive=True) if p.name() == "postgres"
        )

threading.Thread(target=watch, daemon=True).start()
code = cli.main(sys.argv[1:])
release.set()
print("CODE", code, "OURS", psutil.Process().pid in seen)
"""
    result = python("-c", script, *quick_run(tmp_path))
    assert result.stdout.strip().endswith("CODE 0 OURS True"), result.stdout + result.stderr
