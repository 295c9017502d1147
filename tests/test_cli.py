"""`synthetics sandbox` as a user runs it: a real process, one JSON line, a clean stop."""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

CONTRACT_KEYS = ["api_url", "inbox_url", "db_url", "anon_key", "service_role_key", "jwt_secret"]


def synthetics(*args: str) -> list[str]:
    """The command line of the console script, run with this interpreter."""
    return [sys.executable, "-m", "synthetics.cli", *args]


def read_line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """The first stdout line, waiting on the pipe until `timeout`."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output within {timeout} s")
    return process.stdout.readline()


@contextmanager
def sandbox_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """Start `synthetics sandbox --port 0 --json ARGS`, yield it with its announcement."""
    process = subprocess.Popen(
        synthetics("sandbox", "--port", "0", "--json", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line(process)
        assert line, process.stderr.read() if process.stderr else ""
        yield process, json.loads(line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def postgres_on(port: int) -> list[psutil.Process]:
    """Postgres server processes started for `port`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(port) in cmdline:
            found.append(proc)
    return found


def accepts(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sandbox_announces_once_and_stops_cleanly(signum: signal.Signals) -> None:
    with sandbox_process() as (process, info):
        assert list(info) == CONTRACT_KEYS
        health = httpx.get(
            f"{info['api_url']}/auth/v1/health", headers={"apikey": info["anon_key"]}
        )
        assert health.json()["name"] == "GoTrue"
        assert httpx.get(f"{info['inbox_url']}/api/v1/messages").status_code == 200
        db_port = urlsplit(info["db_url"]).port
        api_port = urlsplit(info["api_url"]).port
        assert db_port and api_port and postgres_on(db_port)

        process.send_signal(signum)
        assert process.wait(30) == 0
        assert process.stdout is not None and process.stdout.read() == ""  # exactly one line
        assert not postgres_on(db_port)
        assert not accepts(api_port) and not accepts(db_port)


def test_faults_given_at_start_are_active() -> None:
    with sandbox_process("--fault", "email.rate_limit") as (_, info):
        response = httpx.post(
            f"{info['api_url']}/auth/v1/signup",
            headers={"apikey": info["anon_key"]},
            json={"email": "quota@mamapace-synthetics.dev", "password": "long-enough"},
        )
        assert response.status_code == 429


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "email.explode"], "unknown fault 'email.explode'"),
        (["--fault", "email.delay"], "needs a value"),
        (["--fault", "flaky=many"], "is not a whole number"),
        (["--fault", "rpc.missing=drop table"], "is not a function name"),
        (["--port", "70000"], "--port"),
        (["--port", "abc"], "invalid int value"),
    ],
)
def test_bad_usage_exits_3_before_starting_anything(args: list[str], message: str) -> None:
    result = subprocess.run(
        synthetics("sandbox", *args), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert message in result.stderr
    assert result.stdout == ""


def test_a_taken_port_is_reported_not_raised() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            synthetics("sandbox", "--port", str(port)), capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
