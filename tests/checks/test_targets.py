"""A run against a project it does not own: env-var credentials, only its own users touched,
and cleanup even when the run is interrupted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest

from synthetics.sandbox.server import Sandbox, SandboxInfo, settings_for_port
from synthetics.sandbox.settings import SandboxSettings

CONFIG = """
default_target = "local"

[targets.local]
url = "${LOCAL_URL}"
anon_key = "${LOCAL_ANON_KEY}"
service_role_key = "${LOCAL_SERVICE_ROLE_KEY}"

[targets.local.inbox]
provider = "mailpit"
url = "${LOCAL_INBOX_URL}"
address_template = "synthetic+{tag}@mamapace-synthetics.dev"

[thresholds]
email_timeout_s = 60
"""


@pytest.fixture(scope="module")
def project() -> Iterator[Sandbox]:
    """A Supabase stand-in that the runs treat as somebody else's project."""
    with Sandbox(settings_for_port(SandboxSettings(), 0)) as sandbox:
        yield sandbox


def environment(info: SandboxInfo) -> dict[str, str]:
    return {
        **os.environ,
        "LOCAL_URL": info.api_url,
        "LOCAL_ANON_KEY": info.anon_key,
        "LOCAL_SERVICE_ROLE_KEY": info.service_role_key,
        "LOCAL_INBOX_URL": info.inbox_url,
    }


def synthetic_users(info: SandboxInfo) -> list[str]:
    with psycopg.connect(info.db_url) as conn:
        rows = conn.execute(
            "select email from auth.users where raw_user_meta_data ->> 'synthetic' = 'true'"
        ).fetchall()
    return [r[0] for r in rows]


def synthetic_profiles(info: SandboxInfo) -> list[str]:
    """Profiles whose user is gone: the real user_profiles has no foreign key to auth.users."""
    with psycopg.connect(info.db_url) as conn:
        rows = conn.execute(
            "select p.id::text from public.user_profiles p"
            " where not exists (select 1 from auth.users u where u.id = p.id)"
        ).fetchall()
    return [r[0] for r in rows]


def start_run(tmp_path: Path, info: SandboxInfo) -> subprocess.Popen[str]:
    config = tmp_path / "synthetics.toml"
    config.write_text(CONFIG)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "synthetics.cli",
            "run",
            "--config",
            str(config),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        env=environment(info),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_run_touches_only_what_it_created(tmp_path: Path, project: Sandbox) -> None:
    info = project.info
    headers = {"apikey": info.service_role_key, "Authorization": f"Bearer {info.service_role_key}"}
    bystander = httpx.post(
        f"{info.api_url}/auth/v1/admin/users",
        headers=headers,
        json={
            "email": "real-mother@mamapace-synthetics.dev",
            "password": "a-real-password",
            "email_confirm": True,
        },
    ).json()["id"]
    run = start_run(tmp_path, info)
    output, _ = run.communicate(timeout=180)
    assert run.returncode == 0, output
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["target"] == "local"
    assert synthetic_users(info) == []
    still_there = httpx.get(f"{info.api_url}/auth/v1/admin/users/{bystander}", headers=headers)
    assert still_there.status_code == 200
    assert info.service_role_key not in output and info.anon_key not in output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_still_deletes_its_users(
    tmp_path: Path, project: Sandbox, signum: signal.Signals
) -> None:
    info = project.info
    project.set_faults(["email.delay=60"])  # the run will sit waiting for the email
    try:
        run = start_run(tmp_path, info)
        deadline = time.monotonic() + 60
        delay = 0.05
        while not synthetic_users(info):
            assert run.poll() is None, run.stdout.read() if run.stdout else ""
            assert time.monotonic() < deadline, "the run never signed up its user"
            time.sleep(delay)  # polling the database against a deadline
            delay = min(delay * 2, 0.5)
        run.send_signal(signum)
        output, _ = run.communicate(timeout=60)
    finally:
        project.set_faults([])
    assert run.returncode == 4, output  # "the run did not finish", never pytest's own code
    assert synthetic_users(info) == [], output
    assert synthetic_profiles(info) == [], output
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["interrupted"] is True
    by_id = {c["id"]: c for c in results["checks"]}
    assert by_id["email.delivery"]["status"] == "blocked"
    assert by_id["email.delivery"]["blocked_by"] == "interrupted"
    assert signum.name in by_id["email.delivery"]["message"]
    assert by_id["cleanup"]["status"] == "ok"  # reported from the teardown, and verified
    assert "verified" in by_id["cleanup"]["message"]
    assert "INTERRUPTED" in output


def test_a_target_that_is_down_is_one_outage_not_a_security_incident(tmp_path: Path) -> None:
    """Nothing listens on the target's port: auth.health is critical, everything that needs the
    target is blocked by it, and no security check is critical."""
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "synthetics.toml"
    config.write_text(
        "retries = 1\nrequest_timeout_s = 2\n"
        f'[targets.down]\nurl = "http://127.0.0.1:{port}"\n'
        'anon_key = "anon-key-of-a-down-project"\n'
        'service_role_key = "service-key-of-a-down-project"\n'
        f'[targets.down.inbox]\nprovider = "mailpit"\nurl = "http://127.0.0.1:{port}"\n'
        'address_template = "synthetic+{tag}@mamapace-synthetics.dev"\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthetics.cli",
            "run",
            "--config",
            str(config),
            "--target",
            "down",
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    by_id = {c["id"]: c for c in results["checks"]}
    assert by_id["auth.health"]["status"] == "critical"
    assert by_id["auth.health"]["reason"] == "target_down"
    security = {k: v for k, v in by_id.items() if k.startswith("security.")}
    assert security and all(c["status"] == "blocked" for c in security.values()), security
    assert all(c["blocked_by"] == "auth.health" for c in security.values())
    assert by_id["rpc.get_home_feed_v2"]["blocked_by"] == "auth.health"
    assert by_id["cleanup"]["status"] == "ok"
    assert "nothing to clean up" in by_id["cleanup"]["message"]
    # One outage is one alert, listing what it blocked.
    assert [a["check"] for a in results["alerts"]] == ["auth.health"]
    assert "security.anon_rpc" in results["alerts"][0]["blocked"]
    assert "Security Incident" not in output


class Garbage(BaseHTTPRequestHandler):
    """A 'Supabase' that answers every request with an HTML error page."""

    def _page(self) -> None:
        body = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _page

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_target_answering_garbage_fails_checks_not_the_run(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        config = tmp_path / "synthetics.toml"
        config.write_text(
            f'[targets.odd]\nurl = "{url}"\nanon_key = "not-a-real-key"\n'
            f'service_role_key = "not-a-real-service-key"\n'
            f'[targets.odd.inbox]\nprovider = "mailpit"\nurl = "{url}"\n'
            'address_template = "synthetic+{tag}@mamapace-synthetics.dev"\n'
            "[thresholds]\nemail_timeout_s = 2\nemail_sla_s = 1\n"
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "synthetics.cli",
                "run",
                "--config",
                str(config),
                "--target",
                "odd",
                "--report-dir",
                str(tmp_path / "reports"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    health = next(c for c in results["checks"] if c["id"] == "auth.health")
    assert health["status"] == "critical"
    assert "not JSON" in health["message"]
    assert "crashed" not in json.dumps(results)
    assert "not-a-real-service-key" not in output


def test_a_run_that_cannot_start_says_why_in_every_check(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.checks.broken_start_harness", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 2, result.stdout + result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "critical"
    # Each check fails with its own severity (cleanup and error_leak are warnings by contract).
    assert {c["status"] for c in results["checks"]} == {"critical", "warning"}
    assert all("could not start" in c["message"] for c in results["checks"])
    assert all("disk full" in c["message"] for c in results["checks"])


def test_a_sign_up_whose_answer_was_lost_is_still_cleaned_up(
    tmp_path: Path, project: Sandbox
) -> None:
    """An interrupt can land after the target created the user, before the run read its id."""
    from synthetics.config import load
    from synthetics.runtime import Runtime
    from synthetics.targets import plan
    from synthetics.users import Throwaway

    info = project.info
    config = tmp_path / "synthetics.toml"
    config.write_text(CONFIG)
    runtime = Runtime(plan(load(path=config, env=environment(info)), report_dir=tmp_path))
    runtime.open()
    try:
        address = "synthetic+lost-answer@mamapace-synthetics.dev"
        signed_up = httpx.post(
            f"{info.api_url}/auth/v1/signup",
            headers={"apikey": info.anon_key},
            json={"email": address, "password": "a-long-password", "data": {"synthetic": True}},
        )
        assert signed_up.status_code == 200
        runtime.users.add(Throwaway("primary", address, "a-long-password"))  # id never read
        report = runtime.clean_up()
    finally:
        runtime.close()
    assert (report.users_deleted, report.problems, report.verified) == (1, [], True)
    assert address not in synthetic_users(info)


class InboxProxy(BaseHTTPRequestHandler):
    """A test inbox in trouble: in front of the real Mailpit API, it answers `status` to the
    first `failures` requests (all of them when failures < 0), then forwards."""

    upstream = ""
    status = 503
    failures = 0
    seen = 0
    lock = threading.Lock()

    def _forward(self) -> None:
        with self.lock:
            api = self.path.startswith("/api/v1/")  # the event stream just falls back to polling
            type(self).seen += api
            failing = api and (self.failures < 0 or self.seen <= self.failures)
        if failing:
            body = b'{"error": "service unavailable"}'
            self.send_response(self.status)
        else:
            answer = httpx.request(self.command, self.upstream + self.path, timeout=10)
            body = answer.content
            self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


def run_with_inbox_proxy(
    tmp_path: Path, info: SandboxInfo, *, status: int, failures: int
) -> dict[str, object]:
    handler = type(
        "Proxy", (InboxProxy,), {"upstream": info.inbox_url, "status": status,
                                 "failures": failures, "seen": 0}
    )  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = environment(info)
        env["LOCAL_INBOX_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
        config = tmp_path / "synthetics.toml"
        config.write_text(
            CONFIG.replace("email_timeout_s = 60", "email_timeout_s = 20\nemail_sla_s = 10")
        )
        result = subprocess.run(
            [
                sys.executable, "-m", "synthetics.cli", "run", "--config", str(config),
                "--only", "email", "--report-dir", str(tmp_path / "reports"),
                "--set", "deeplink.browser=off",
            ],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    results_file = tmp_path / "reports" / "results.json"
    assert results_file.exists(), result.stdout + result.stderr
    results = json.loads(results_file.read_text())
    delivery = next(c for c in results["checks"] if c["id"] == "email.delivery")
    return {"code": result.returncode, "delivery": delivery}


def test_transient_inbox_errors_are_not_yet_and_each_is_recorded(
    tmp_path: Path, project: Sandbox
) -> None:
    found = run_with_inbox_proxy(tmp_path, project.info, status=503, failures=3)
    delivery = found["delivery"]
    assert isinstance(delivery, dict)
    assert delivery["status"] == "ok", delivery
    assert delivery["measurements"]["inbox_errors"] == 3
    assert "503" in delivery["evidence"]["inbox_errors"]


def test_a_permanent_inbox_error_fails_at_once_and_blames_the_monitor(
    tmp_path: Path, project: Sandbox
) -> None:
    started = time.monotonic()
    found = run_with_inbox_proxy(tmp_path, project.info, status=401, failures=-1)
    delivery = found["delivery"]
    assert isinstance(delivery, dict)
    assert time.monotonic() - started < 15  # not the 20 s email timeout
    assert delivery["status"] == "warning", delivery
    assert delivery["reason"] == "inbox_error"
    assert "401" in delivery["message"] and "monitor's inbox" in delivery["message"]
