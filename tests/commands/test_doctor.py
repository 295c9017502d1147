"""`synthetics doctor` against a real sandbox treated as somebody else's project, the fake alert
services and a real SQLite history: what it finds, and that it creates and sends nothing."""

from __future__ import annotations

import json
import sqlite3
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import trustme

from synthetics.cli import main
from synthetics.history.schema import SCHEMA_VERSION
from synthetics.history.store import open_store
from synthetics.sandbox.server import Sandbox, SandboxInfo, settings_for_port
from synthetics.sandbox.settings import SandboxSettings
from tests.alerting.conftest import Services
from tests.alerting.services import PD_ROUTING_KEY, SLACK_HOOK
from tests.inbox.servers import free_port

RO_PASSWORD = "doctor-ro-secret-pass-42"
CONFIG = """
default_target = "local"
request_timeout_s = 5
retries = 0

[targets.local]
url = "${LOCAL_URL}"
anon_key = "${LOCAL_ANON_KEY}"
service_role_key = "${LOCAL_SERVICE_ROLE_KEY}"
db_url = "${LOCAL_DB_URL}"

[targets.local.inbox]
provider = "mailpit"
url = "${LOCAL_INBOX_URL}"
address_template = "synthetic+{tag}@mamapace-synthetics.dev"

[deeplink]
browser = "off"

[history]
url = "sqlite:///history/runs.sqlite"

[alerts.channels.oncall]
type = "slack"
webhook_url = "${SLACK_URL}"

[alerts.channels.pager]
type = "pagerduty"
routing_key = "${PD_KEY}"
url = "${PD_URL}"
"""


@pytest.fixture(scope="module")
def project() -> Iterator[Sandbox]:
    with Sandbox(settings_for_port(SandboxSettings(), 0)) as sandbox:
        with psycopg.connect(sandbox.info.db_url, autocommit=True) as conn:
            conn.execute(f"create role doctor_ro login password '{RO_PASSWORD}'")
            conn.execute("grant usage on schema public, auth to doctor_ro")
            conn.execute("grant select on all tables in schema public to doctor_ro")
            conn.execute("grant select on auth.users to doctor_ro")
        yield sandbox


def read_only_url(info: SandboxInfo) -> str:
    parts = urlsplit(info.db_url)
    return f"postgresql://doctor_ro:{RO_PASSWORD}@{parts.hostname}:{parts.port}{parts.path}"


@pytest.fixture
def config(
    tmp_path: Path, project: Sandbox, services: Services, monkeypatch: pytest.MonkeyPatch
) -> Path:
    info = project.info
    values = {
        "LOCAL_URL": info.api_url,
        "LOCAL_ANON_KEY": info.anon_key,
        "LOCAL_SERVICE_ROLE_KEY": info.service_role_key,
        "LOCAL_INBOX_URL": info.inbox_url,
        "LOCAL_DB_URL": read_only_url(info),
        "SLACK_URL": services.slack_url,
        "PD_KEY": PD_ROUTING_KEY,
        "PD_URL": services.pagerduty_url,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    path = tmp_path / "synthetics.toml"
    path.write_text(CONFIG)
    project.set_faults([])
    return path


def doctor(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["doctor", "--config", str(config), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def items(out: str) -> dict[str, tuple[str, str]]:
    """Finding id → (level, rest of the line)."""
    found = {}
    for line in out.splitlines():
        level, _, rest = line.partition(" ")
        if level in ("ok", "warn", "fail", "unknown", "skip"):
            finding, _, text = rest.strip().partition(" ")
            found[finding] = (level, text.strip())
    return found


def messages(info: SandboxInfo) -> int:
    return int(httpx.get(f"{info.inbox_url}/api/v1/messages").json()["total"])


def users(info: SandboxInfo) -> int:
    with psycopg.connect(info.db_url) as conn:
        row = conn.execute("select count(*) from auth.users").fetchone()
    assert row is not None
    return int(row[0])


def test_a_healthy_setup_is_all_ok_and_nothing_is_created_or_sent(
    config: Path, project: Sandbox, services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    info = project.info
    mail, people = messages(info), users(info)
    code, out = doctor(config, capsys=capsys)
    found = items(out)
    assert code == 0, out
    for name in (
        "environment", "target.dns", "target.reach", "target.rest", "keys.anon_key",
        "keys.service_role_key", "keys.admin", "auth.email_provider", "auth.signups",
        "auth.autoconfirm", "auth.redirect_allowed", "inbox", "history", "alerts.oncall",
        "alerts.pager", "db.role", "db.catalog", "db.auth_users", "db.writes",
    ):  # fmt: skip
        assert found[name][0] == "ok", (name, found.get(name), out)
    assert found["alerts.pager.routing_key"][0] == "unknown"
    assert found["target.tls"][0] == "skip"
    assert "mamapace://auth-callback is on the redirect allow-list" in out
    assert "doctor_ro cannot write" in found["db.writes"][1]
    # Nothing was created or sent: no email, no user, no notification, no history file.
    assert messages(info) == mail
    assert users(info) == people
    assert services.slack.accepted() == [] and services.pagerduty.received == []
    assert not (config.parent / "history").exists()
    # The config is shown with its sources, secrets masked.
    assert "targets.local.anon_key = <secret>" in out
    assert f"({config})" in out
    for secret in (info.anon_key, info.service_role_key, RO_PASSWORD, SLACK_HOOK, PD_ROUTING_KEY):
        assert secret not in out


def test_swapped_keys_are_named_and_nothing_is_sent(
    config: Path, project: Sandbox, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    info = project.info
    monkeypatch.setenv("LOCAL_ANON_KEY", info.service_role_key)
    monkeypatch.setenv("LOCAL_SERVICE_ROLE_KEY", info.anon_key)
    mail, people = messages(info), users(info)
    code, out = doctor(config, capsys=capsys)
    found = items(out)
    assert code == 1, out
    for name in ("keys.anon_key", "keys.service_role_key"):
        level, text = found[name]
        assert level == "fail" and "anon_key and service_role_key are swapped" in text
        assert "exchange the two values" in text
    assert found["keys.admin"][0] == "fail"  # the admin API refuses the anon key as well
    assert messages(info) == mail  # Mailpit got nothing
    assert users(info) == people  # and no user was created
    assert info.service_role_key not in out and info.anon_key not in out


def test_a_deep_link_off_the_allow_list_fails_and_names_the_fallback(
    config: Path, project: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    project.set_faults(["auth.redirect_disallowed"])
    try:
        code, out = doctor(config, capsys=capsys)
    finally:
        project.set_faults([])
    level, text = items(out)["auth.redirect_allowed"]
    assert code == 1
    assert level == "fail"
    assert "not on the redirect allow-list" in text and "https://app.mamapace.com" in text
    assert "Redirect URLs" in text


def test_autoconfirm_is_a_warning(
    config: Path, project: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    project.set_faults(["auth.autoconfirm"])
    try:
        code, out = doctor(config, capsys=capsys)
    finally:
        project.set_faults([])
    assert code == 0, out
    assert items(out)["auth.autoconfirm"][0] == "warn"


def test_a_superuser_db_url_warns_that_it_can_write(
    config: Path, project: Sandbox, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LOCAL_DB_URL", project.info.db_url)
    code, out = doctor(config, capsys=capsys)
    level, text = items(out)["db.writes"]
    assert code == 0, out
    assert level == "warn" and "superuser" in text and "read-only role" in text


def test_a_role_that_can_write_is_warned_about(
    config: Path, project: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(project.info.db_url, autocommit=True) as conn:
        conn.execute("grant insert on public.posts to doctor_ro")
    try:
        code, out = doctor(config, capsys=capsys)
    finally:
        with psycopg.connect(project.info.db_url, autocommit=True) as conn:
            conn.execute("revoke insert on public.posts from doctor_ro")
    level, text = items(out)["db.writes"]
    assert code == 0, out  # a warning, not a failure
    assert level == "warn" and "public.posts" in text


def test_what_cannot_be_reached_fails(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_INBOX_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LOCAL_DB_URL", f"postgresql://doctor_ro:{RO_PASSWORD}@127.0.0.1:1/x")
    code, out = doctor(config, capsys=capsys)
    found = items(out)
    assert code == 1
    assert found["inbox"][0] == "fail"
    assert found["db"][0] == "fail" and RO_PASSWORD not in out


def test_an_unreachable_target_still_reads_its_keys(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_URL", f"http://127.0.0.1:{free_port()}")
    code, out = doctor(config, capsys=capsys)
    found = items(out)
    assert code == 1
    assert found["target.reach"][0] == "fail" and "cannot be reached" in found["target.reach"][1]
    assert found["keys.anon_key"][0] == "ok"
    assert "auth.signups" not in found  # not asked: the target is not there


def test_an_unknown_host_is_a_dns_failure(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_URL", "http://doctor-probe.invalid")
    code, out = doctor(config, capsys=capsys)
    assert code == 1
    assert items(out)["target.dns"][0] == "fail"


def test_ignored_environment_variables_are_listed(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNTHETICS_BIN", "/opt/synthetics")
    monkeypatch.setenv("SYNTHETICS_RETRIES", "1")
    code, out = doctor(config, capsys=capsys)
    level, text = items(out)["environment"]
    assert code == 0, out
    assert level == "warn" and "SYNTHETICS_BIN" in text and "used: SYNTHETICS_RETRIES" in text
    assert "retries = 1  (environment variable SYNTHETICS_RETRIES)" in out


def test_the_history_schema_is_read_without_migrating(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = config.parent / "history"
    open_store(f"sqlite:///{folder / 'runs.sqlite'}").close()
    code, out = doctor(config, capsys=capsys)
    assert items(out)["history"] == (
        "ok",
        f"sqlite history at {folder / 'runs.sqlite'}, schema v{SCHEMA_VERSION}",
    )
    with sqlite3.connect(folder / "runs.sqlite") as conn:
        conn.execute("update synthetics_meta set value = '99' where key = 'schema_version'")
    code, out = doctor(config, capsys=capsys)
    level, text = items(out)["history"]
    assert code == 1 and level == "fail" and "v99" in text
    with sqlite3.connect(folder / "runs.sqlite") as conn:
        row = conn.execute("select value from synthetics_meta").fetchone()
    assert row == ("99",)  # read, not migrated


def test_a_required_browser_that_is_missing_fails(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = doctor(
        config, "--set", "deeplink.browser=required", "--set",
        f"deeplink.browser_path={tmp_path / 'no-chromium'}", capsys=capsys,
    )  # fmt: skip
    assert code == 1
    assert items(out)["browser"][0] == "fail"


def test_a_config_that_cannot_load_exits_3(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = doctor(config, "--set", "thresholds.email_sla_s=oops", capsys=capsys)
    assert code == 3
    assert out.startswith("fail") and "thresholds.email_sla_s" in out


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"version": "tls", "name": "GoTrue"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server on loopback with a certificate from a CA nobody trusts: (url, CA file)."""
    ca = trustme.CA()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        yield f"https://localhost:{server.server_address[1]}", ca_file
    finally:
        server.shutdown()
        server.server_close()


def test_a_certificate_that_is_not_trusted_is_a_tls_failure(
    config: Path, tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url, ca_file = tls_server
    monkeypatch.setenv("LOCAL_URL", url)
    code, out = doctor(config, capsys=capsys)
    found = items(out)
    assert code == 1
    assert found["target.dns"][0] == "ok"
    level, text = found["target.tls"]
    assert level == "fail" and "CERTIFICATE_VERIFY_FAILED" in text
    # Trusted, the same server's handshake is timed and Auth's health is reached.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    code, out = doctor(config, capsys=capsys)
    found = items(out)
    assert (
        found["target.tls"][0] == "ok"
        and "TLS handshake with localhost in" in found["target.tls"][1]
    )
    assert found["target.reach"][0] == "ok"
