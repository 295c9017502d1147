"""The real Prometheus tools the exporter tests drive: promtool and the Pushgateway.

Both come from Debian (`apt-get install prometheus prometheus-pushgateway`, which `.ci/run`
installs); without them the tests that need them are skipped with that reason.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PROMTOOL = shutil.which("promtool")
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="no promtool on this machine: `apt-get install prometheus`"
)
needs_pushgateway = pytest.mark.skipif(
    PUSHGATEWAY is None,
    reason="no Pushgateway on this machine: `apt-get install prometheus-pushgateway`",
)
READY_DEADLINE_S = 15.0


def promtool(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> str:
    """Run promtool; its combined output, or AssertionError with it when it fails."""
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, timeout=60, cwd=cwd, check=False
    )
    output = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def check_metrics(exposition: bytes) -> str:
    """`promtool check metrics` (the exposition format and its naming lint) on `exposition`."""
    return promtool("check", "metrics", stdin=exposition)


def free_port() -> int:
    """A port nothing listens on right now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Gateway:
    """A running Pushgateway: its URL and the credentials it wants (if any)."""

    url: str
    auth: tuple[str, str] | None = None

    def metrics(self) -> str:
        """What the gateway exposes to Prometheus."""
        return httpx.get(f"{self.url}/metrics", auth=self.auth, timeout=5).text

    def groups(self) -> list[dict[str, object]]:
        """The groups it holds (its API)."""
        answer = httpx.get(f"{self.url}/api/v1/metrics", auth=self.auth, timeout=5)
        answer.raise_for_status()
        data = answer.json()["data"]
        assert isinstance(data, list)
        return data


@contextmanager
def pushgateway(
    tmp_path: Path, auth: tuple[str, str] | None = None, bcrypt_hash: str | None = None
) -> Iterator[Gateway]:
    """A real Pushgateway on a loopback port, ready (its /-/ready answered) before it is used."""
    assert PUSHGATEWAY is not None
    port = free_port()
    args = [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    if auth is not None:
        assert bcrypt_hash is not None
        web = tmp_path / "pushgateway-web.yml"
        web.write_text(f"basic_auth_users:\n  {auth[0]}: {bcrypt_hash}\n")
        args.append(f"--web.config.file={web}")
    log = (tmp_path / "pushgateway.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        delay = 0.02
        while True:
            assert process.poll() is None, (tmp_path / "pushgateway.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", auth=auth, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the Pushgateway was not ready in time"
            time.sleep(delay)  # polling /-/ready against the deadline, with backoff
            delay = min(delay * 2, 0.5)
        yield Gateway(url, auth)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
