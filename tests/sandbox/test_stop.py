"""A sandbox's stop: it returns once the database's processes have exited and its servers'
connections are closed, and it never signals a process that is not its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from synthetics.sandbox.database import Database, _signal_postmaster
from synthetics.sandbox.server import Sandbox, settings_for_port
from synthetics.sandbox.settings import SandboxSettings


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # exited, not reaped yet
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("kept", [False, True], ids=["temporary", "kept data directory"])
def test_a_stop_returns_once_every_process_of_the_database_has_exited(
    tmp_path: Path, kept: bool
) -> None:
    database = Database(data_dir=tmp_path / "pgdata" if kept else None)
    database.start()
    pgdata = database._pgdata
    assert pgdata is not None
    pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    postmaster = psutil.Process(pid)
    processes = [postmaster, *postmaster.children(recursive=True)]
    assert len(processes) > 1  # the postmaster and its workers

    database.stop()

    assert [p.pid for p in processes if not _gone(p)] == []
    assert not (pgdata / "postmaster.pid").exists()
    assert (pgdata / "PG_VERSION").exists() is kept  # a temporary cluster is removed too


def test_a_pid_file_that_names_another_process_gets_no_signal(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "postmaster.pid").write_text(f"{bystander.pid}\n{tmp_path}\n")
        assert _signal_postmaster(tmp_path, "immediate", timeout=5) is False
        assert bystander.poll() is None  # still running: not ours, not touched
    finally:
        bystander.kill()
        bystander.wait()


def test_no_pid_file_means_pg_ctl_stops_it(tmp_path: Path) -> None:
    assert _signal_postmaster(tmp_path, "immediate", timeout=5) is False


def test_a_stop_closes_the_connections_clients_keep_open() -> None:
    sandbox = Sandbox(settings_for_port(SandboxSettings(), 0))
    info = sandbox.start()
    headers = {"apikey": info.anon_key}
    with httpx.Client(base_url=info.api_url, headers=headers, timeout=5) as client:
        assert client.get("/auth/v1/health").status_code == 200  # a kept-alive connection
        sandbox.stop()
        # The pooled connection was closed by the server and the port no longer listens.
        with pytest.raises(httpx.ConnectError):
            client.get("/auth/v1/health")
