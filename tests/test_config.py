"""Configuration: precedence, ${ENV} references, and errors that name the key and its source."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synthetics import cli
from synthetics.config import load
from synthetics.errors import ConfigError

PROFILE = Path(__file__).parents[1] / "synthetics.toml"


class Counter(BaseHTTPRequestHandler):
    """Counts every request: a bad configuration must send none."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def target_server() -> Iterator[str]:
    """A loopback HTTP server standing in for a real project; counts what reaches it."""
    Counter.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "synthetics.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_contract() -> None:
    settings = load(path=None, env={})
    t = settings.config.thresholds
    assert (t.signup_warning_ms, t.email_sla_s, t.email_timeout_s) == (3000, 30, 120)
    assert (t.deeplink_warning_ms, t.session_warning_ms) == (2000, 2000)
    assert (t.rpc_info_ms, t.rpc_warning_ms) == (500, 1000)
    assert settings.target_name == "sandbox" and settings.target.sandbox
    assert settings.config.retries == 2
    assert settings.config.auth.flow == "pkce"


def test_the_shipped_profile_loads_without_staging_credentials() -> None:
    settings = load(path=PROFILE, env={})
    assert settings.target_name == "sandbox"
    assert len(settings.config.rpc.functions) == 20


def test_precedence_set_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "[thresholds]\nemail_sla_s = 20\nrpc_info_ms = 400\n")
    env = {"SYNTHETICS_THRESHOLDS__EMAIL_SLA_S": "10", "SYNTHETICS_RETRIES": "4"}
    settings = load(path=path, env=env, sets=["thresholds.email_sla_s=5"])
    t = settings.config.thresholds
    assert t.email_sla_s == 5
    assert t.rpc_info_ms == 400
    assert settings.config.retries == 4
    assert t.rpc_warning_ms == 1000
    assert settings.source_of("thresholds", "email_sla_s") == "--set thresholds.email_sla_s"
    assert settings.source_of("retries") == "environment variable SYNTHETICS_RETRIES"
    assert settings.source_of("thresholds", "rpc_info_ms") == str(path)
    assert settings.source_of("auth", "flow") == "defaults"
    # A key the file's table does not set keeps its own source (synthetics doctor shows it).
    assert settings.source_of("thresholds", "rpc_warning_ms") == "defaults"


def test_secrets_come_from_the_environment_and_never_print(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[targets.staging]\nurl = "${STAGING_URL}"\nanon_key = "${STAGING_ANON}"\n',
    )
    env = {"STAGING_URL": "https://abc.supabase.co", "STAGING_ANON": "very-secret-anon-key"}
    settings = load(path=path, env=env, target="staging")
    assert settings.target.url == "https://abc.supabase.co"
    assert settings.target.anon_key is not None
    assert settings.target.anon_key.get_secret_value() == "very-secret-anon-key"
    assert "very-secret-anon-key" not in repr(settings) + str(settings.config)


# args for `synthetics run`, the config file text, the expected message fragment
BAD = [
    (
        ["--set", "thresholds.colour=3"],
        "",
        "thresholds.colour (from --set thresholds.colour): unknown key",
    ),
    ([], "[thresholdz]\nx = 1\n", "thresholdz (from {file}): unknown key"),
    (["--set", "thresholds.email_sla_s=soon"], "", "thresholds.email_sla_s (from --set"),
    ([], 'retries = "many"\n', "retries (from {file}): Input should be a valid integer"),
    (
        ["--target", "staging"],
        '[targets.staging]\nurl = "{url}"\nanon_key = "${{NOT_SET_ANYWHERE}}"\n',
        "targets.staging.anon_key (from {file}): environment variable NOT_SET_ANYWHERE is not set",
    ),
    (["--target", "prod"], "", "target (from --target): unknown target 'prod'"),
    (["--fault", "email.explode"], "", "unknown fault 'email.explode'"),
    (
        ["--target", "staging", "--fault", "email.drop"],
        '[targets.staging]\nurl = "{url}"\nanon_key = "k"\n',
        "faults can only be injected into the sandbox, not into target 'staging'",
    ),
    (
        ["--set", "auth.flow=magic"],
        "",
        "auth.flow (from --set auth.flow): Input should be 'pkce' or 'implicit'",
    ),
    (["--set", "inbox.address_template=x+{tag}@example.com"], "", "example.com is rejected"),
    (["--only", "auth,dns"], "", "--only: unknown group(s) dns"),
    (
        ["--set", "deeplink.browser=maybe"],
        "",
        "deeplink.browser (from --set deeplink.browser): Input should be 'auto', 'required' or "
        "'off'",
    ),
    (
        ["--set", "deeplink.browser=required", "--set", "deeplink.browser_path=/no/chrome"],
        "",
        "deeplink.browser_path (from --set deeplink.browser_path): deeplink.browser is "
        "\"required\" but deeplink.browser_path '/no/chrome' is not an executable file; install "
        "one with `apt-get install chromium-headless-shell` (or `chromium`",
    ),
    (
        ["--set", 'deeplink.apple_app_ids=["ABCDE12345.com.mamapace.app"]'],
        "",
        "app ids are checked on an https redirect's host, but redirect "
        "'mamapace://auth-callback' is a custom scheme",
    ),
    (
        ["--set", 'deeplink.apple_app_ids=["com.mamapace.app"]'],
        '[deeplink]\nredirect = "https://app.mamapace.com/auth-callback"\n',
        "apple_app_ids: 'com.mamapace.app' is not TEAMID.bundle.id",
    ),
    (
        ["--set", 'deeplink.android_packages=["mamapace"]'],
        '[deeplink]\nredirect = "https://app.mamapace.com/auth-callback"\n',
        "android_packages: 'mamapace' is not an Android package name",
    ),
    (
        ["--set", 'deeplink.android_sha256_fingerprints=["AB:CD"]'],
        '[deeplink]\nredirect = "https://app.mamapace.com/cb"\nandroid_packages = ["a.b"]\n',
        "android_sha256_fingerprints: 'AB:CD' is not a SHA-256 certificate fingerprint",
    ),
    (
        ["--set", f'deeplink.android_sha256_fingerprints=["{":".join(["AB"] * 32)}"]'],
        '[deeplink]\nredirect = "https://app.mamapace.com/cb"\n',
        "android_sha256_fingerprints need android_packages",
    ),
    (["--set", "nonsense"], "", "--set expects KEY=VALUE"),
    # Values that cannot be right (issue #8): each is exit 3, nothing sent.
    (
        ["--set", "retries=true"],
        "",
        "retries (from --set retries): Input should be a valid integer",
    ),
    (["--set", "retries=1.5"], "", "retries (from --set retries): Input should be a valid integer"),
    (["--set", "request_timeout_s=1e-9"], "", "request_timeout_s (from --set request_timeout_s)"),
    (["--set", "thresholds.email_timeout_s=inf"], "", "thresholds.email_timeout_s (from --set"),
    (["--set", "thresholds.email_timeout_s=1e9"], "", "less than or equal to 3600"),
    (["--set", "thresholds.rpc_warning_ms=nan"], "", "thresholds.rpc_warning_ms (from --set"),
    (["--set", "run_timeout_s=0.01"], "", "run_timeout_s (from --set run_timeout_s)"),
    (
        ["--target", "staging"],
        '[targets.staging]\nurl = "{url}"\nanon_key = ""\n',
        "targets.staging (from {file}): anon_key is empty",
    ),
    (
        ["--target", "staging"],
        '[targets.staging]\nurl = "http://127.0.0.1:99999"\nanon_key = "k"\n',
        "has an invalid port",
    ),
    (["--set", "rpc.functions=[]"], "", "rpc.functions (from --set rpc.functions)"),
    (["--set", 'rpc.functions=["drop table; --"]'], "", "is not a function name"),
    (["--set", 'cleanup.owned_rows=["user_profiles"]'], "", "is not table.column"),
]


@pytest.mark.parametrize(("args", "text", "message"), BAD, ids=[b[2][:40] for b in BAD])
def test_bad_configuration_exits_3_and_sends_nothing(
    tmp_path: Path,
    target_server: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    text: str,
    message: str,
) -> None:
    path = write(tmp_path, text.format(url=target_server))
    code = cli.main(["run", "--config", str(path), "--report-dir", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert code == 3
    assert message.format(file=path) in err
    assert Counter.hits == 0
    assert not (tmp_path / "r").exists()


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(path=tmp_path / "nope.toml", env={})


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "synthetics.toml"
    path.write_bytes(b'default_target = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path=path, env={})


def test_a_report_dir_that_is_a_file_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "reports"
    report.write_text("not a folder")
    assert cli.main(["run", "--report-dir", str(report)]) == 3
    assert "--report-dir" in capsys.readouterr().err


def test_other_synthetics_variables_of_a_ci_job_are_not_config() -> None:
    env = {"SYNTHETICS_BIN": "/opt/x", "SYNTHETICS_VERSION": "9", "SYNTHETICS_RETRIES": "4"}
    settings = load(path=PROFILE, env=env)
    assert settings.config.retries == 4
    with pytest.raises(ConfigError, match=r"thresholds\.email_timeouts"):
        load(path=PROFILE, env={"SYNTHETICS_THRESHOLDS__EMAIL_TIMEOUTS": "5"})  # a typo
