"""The server process: the start returns at the line that says it accepts connections, fails at
once when the server exits, never outlives a failed start, and keeps the log as it comes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthetics.errors import DatabaseError
from synthetics.sandbox.database import Database
from synthetics.sandbox.postmaster import READY, Postmaster, ServerExited


def fake_server(code: str) -> list[str]:
    """A stand-in `postgres`: Python running `code` (the log settings become its argv)."""
    return [sys.executable, "-c", code]


def test_the_start_returns_at_the_ready_line_with_the_log_kept(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    code = (
        "import sys, time\n"
        "sys.stderr.write('LOG:  starting\\n'); sys.stderr.flush()\n"
        f"sys.stderr.write('LOG:  {READY.decode()}\\n'); sys.stderr.flush()\n"
        "time.sleep(60)\n"
    )
    server = Postmaster.start(fake_server(code), log=log, user=None, timeout=30)
    try:
        assert server.accepting
        assert server.process.poll() is None  # up, and left running
        assert log.read_bytes().splitlines() == [b"LOG:  starting", b"LOG:  " + READY]
    finally:
        server.process.kill()
        server.reap(10)


def test_a_server_that_exits_fails_the_start_at_once(tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('FATAL:  lock file exists\\n'); sys.exit(1)"
    with pytest.raises(ServerExited, match="exited 1 before it accepted connections"):
        Postmaster.start(fake_server(code), log=tmp_path / "log", user=None, timeout=60)
    assert (tmp_path / "log").read_text() == "FATAL:  lock file exists\n"


def test_a_server_that_never_gets_ready_is_stopped_when_the_wait_ends(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with pytest.raises(subprocess.TimeoutExpired):
        Postmaster.start(fake_server(code), log=tmp_path / "log", user=None, timeout=1)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # stopped and reaped: no such process any more
        os.kill(pid, 0)


def test_the_clusters_own_settings_cannot_silence_the_ready_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    first = Database(data_dir=data_dir)
    first.start()
    try:
        with first.connect() as conn:
            for setting in (
                "logging_collector = on",
                "log_min_messages = panic",
                "log_destination = 'csvlog'",
            ):
                conn.execute(f"alter system set {setting}")
    finally:
        first.stop()
    second = Database(data_dir=data_dir)
    second.start()  # a timeout here would mean the line never reached the pipe
    try:
        with second.connect() as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        second.stop()
    assert READY in (data_dir / "postgres.log").read_bytes()


def test_a_taken_port_fails_with_the_servers_own_words(tmp_path: Path) -> None:
    running = Database()
    running.start()
    try:
        clash = Database(data_dir=tmp_path / "other", port=running.port)
        with pytest.raises(DatabaseError, match="before it accepted connections") as failed:
            clash.start()
        assert "could not bind" in str(failed.value) or "in use" in str(failed.value)
        with running.connect() as conn:  # the server already there was left alone
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        running.stop()
