"""The Prometheus exporter: metric values from a run (tables), the three output paths against the
real things (node_exporter's textfile conventions, a real Pushgateway, /metrics over real HTTP),
`promtool check metrics` on every exposition, and no secret in any of them."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from synthetics import config as config_module
from synthetics.errors import ConfigError
from synthetics.exporters.prometheus import (
    Exporter,
    ExporterError,
    PushgatewayOutput,
    RegistryOutput,
    TextfileOutput,
    duration_seconds,
    outputs,
    prometheus_duration,
    render,
)
from synthetics.finish import Finish, History, ResultsJson, default_outputs, finish
from synthetics.results import CheckResult, RunResult
from synthetics.status import Status
from tests.exporters.runs import START, a_run
from tests.exporters.tools import (
    check_metrics,
    free_port,
    needs_promtool,
    needs_pushgateway,
    pushgateway,
)
from tests.servers import serve

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(exposition: bytes | str) -> Series:
    """(name, labels) → value of an exposition, read by the client library's own parser."""
    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    found: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(series: Series, name: str, **labels: str) -> float | None:
    """The value of one series (None when absent); target/location default to staging/eu."""
    wanted = {"target": "staging", "location": "eu", **labels}
    return series.get((name, frozenset(wanted.items())))


def one_check(check: CheckResult, **run: Any) -> Series:
    """The exposition of a run holding `check` alone."""
    fields: dict[str, Any] = {
        "run_id": "r1",
        "target": "staging",
        "started_at": START,
        "finished_at": START.replace(second=30),
        "checks": [check],
        "location": "eu",
        "trigger": "schedule",
        **run,
    }
    return parse(render(RunResult(**fields)))


# -- metric values from a run --------------------------------------------------------------------

SUCCESS_CASES = [
    # (case, status, reason, run fields, expected synthetics_check_success)
    ("ok worked", Status.OK, None, {}, 1.0),
    ("info worked", Status.INFO, "retried", {}, 1.0),
    ("a warning is degraded, not down", Status.WARNING, "slow", {}, 1.0),
    ("critical failed", Status.CRITICAL, None, {}, 0.0),
    ("blocked says nothing", Status.BLOCKED, None, {}, None),
    ("skipped says nothing", Status.SKIPPED, None, {}, None),
    ("inconclusive says nothing", Status.WARNING, "inconclusive", {}, None),
    ("the monitor's crash says nothing", Status.WARNING, "check_error", {}, None),
    ("a critical check error says nothing", Status.CRITICAL, "check_error", {}, None),
    ("a failure cut by an interruption", Status.CRITICAL, None, {"interrupted": True}, None),
    ("a pass before an interruption counts", Status.OK, None, {"interrupted": True}, 1.0),
]


@pytest.mark.parametrize(
    ("status", "reason", "run", "expected"),
    [c[1:] for c in SUCCESS_CASES],
    ids=[c[0] for c in SUCCESS_CASES],
)
def test_check_status_and_success(
    status: Status, reason: str | None, run: dict[str, Any], expected: float | None
) -> None:
    series = one_check(CheckResult("auth.signin", "auth", status, reason=reason), **run)
    labels = {"check": "auth.signin", "group": "auth"}
    assert value(series, "synthetics_check_success", **labels) == expected
    one_hot = {
        s.value: value(series, "synthetics_check_status", **labels, status=s.value) for s in Status
    }
    assert one_hot == {s.value: float(s is status) for s in Status}


@pytest.mark.parametrize(
    ("check_id", "interrupted", "expected"),
    [
        ("security.anon_rpc", True, 0.0),  # a proof of access stands however the run ended
        ("security.anon_rpc", False, 0.0),
        ("auth.signin", True, None),
    ],
)
def test_interrupted_runs_keep_security_proofs(
    check_id: str, interrupted: bool, expected: float | None
) -> None:
    group = check_id.split(".")[0]
    series = one_check(
        CheckResult(check_id, group, Status.CRITICAL, reason="exposed"), interrupted=interrupted
    )
    assert value(series, "synthetics_check_success", check=check_id, group=group) == expected


PHASE_CASES = [
    (
        "the transport's phases",
        {
            "latency_ms": 80.0,
            "phase_dns_ms": 2.0,
            "phase_connect_ms": 3.0,
            "phase_tls_ms": 10.0,
            "phase_wait_ms": 60.0,
            "phase_transfer_ms": 4.0,
            "phase_total_ms": 79.5,
        },
        {
            "dns": 0.002,
            "connect": 0.003,
            "tls": 0.01,
            "wait": 0.06,
            "transfer": 0.004,
            "total": 0.0795,
        },
    ),
    ("latency alone is the total", {"latency_ms": 250.0}, {"total": 0.25}),
    (
        "a reused connection has no dns",
        {"phase_wait_ms": 5.0, "phase_total_ms": 6.0},
        {"wait": 0.005, "total": 0.006},
    ),
    ("nothing timed", {"probed": 20.0}, {}),
]


@pytest.mark.parametrize(
    ("measurements", "expected"), [c[1:] for c in PHASE_CASES], ids=[c[0] for c in PHASE_CASES]
)
def test_duration_phases(measurements: dict[str, float], expected: dict[str, float]) -> None:
    series = one_check(CheckResult("auth.health", "auth", Status.OK, measurements=measurements))
    found = {
        dict(labels)["phase"]: v
        for (name, labels), v in series.items()
        if name == "synthetics_check_duration_seconds"
    }
    assert found == pytest.approx(expected)


def test_email_rpc_attempts_and_the_run() -> None:
    run = a_run(
        statuses={"auth.session": Status.BLOCKED},
        failed={"rpc.fn03_v2"},
        email_s=31.5,
        rpc_ms={"rpc.fn00_v2": 640.0},
        trigger="schedule",
    )
    run.checks[0].attempts = 3
    run.faults = ["email.delay=31"]
    series = parse(render(run))
    assert value(series, "synthetics_email_delivery_seconds") == 31.5
    assert value(series, "synthetics_rpc_latency_seconds", function="fn00_v2") == 0.64
    assert value(series, "synthetics_rpc_latency_seconds", function="fn01_v2") == 0.12
    assert value(series, "synthetics_check_attempts", check="auth.health", group="auth") == 3
    # a check that did not run tried nothing
    assert value(series, "synthetics_check_attempts", check="auth.session", group="auth") is None
    statuses = {
        s: value(series, "synthetics_run_status", status=s)
        for s in ("ok", "info", "warning", "critical")
    }
    assert statuses == {"ok": 0, "info": 0, "warning": 0, "critical": 1}
    assert value(series, "synthetics_run_interrupted") == 0
    assert value(series, "synthetics_run_duration_seconds") == 20
    assert value(series, "synthetics_last_run_timestamp_seconds") == (START.timestamp() + 20)
    info = value(
        series, "synthetics_run_info", version="0.1.0", trigger="schedule", rehearsal="true"
    )
    assert info == 1
    # no rates given: no rate series at all
    assert not [name for name, _ in series if name.endswith("_ratio")]


RATE_CASES = [
    ("registration", "synthetics_registration_success_ratio", 0.75),
    ("email_delivery", "synthetics_email_delivery_within_sla_ratio", 0.5),
    ("email_delivered", "synthetics_email_delivered_ratio", 1.0),
    ("deeplink_failure", "synthetics_deeplink_failure_ratio", 0.0),
    ("rpc_error", "synthetics_rpc_error_ratio", 0.05),
    ("auth_failure", "synthetics_auth_failure_ratio", 0.2),
]


@pytest.mark.parametrize(("rate", "metric", "given"), RATE_CASES, ids=[c[0] for c in RATE_CASES])
def test_the_historys_rates(rate: str, metric: str, given: float) -> None:
    series = parse(render(a_run(), {rate: given}))
    assert value(series, metric) == given
    assert [n for n, _ in series if n.endswith("_ratio")] == [metric]


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ({"registration_rate": 0.5}, "unknown rate 'registration_rate'"),
        ({"registration": 1.5}, "rate registration must be a ratio between 0 and 1, got 1.5"),
        ({"rpc_error": float("nan")}, "rate rpc_error must be a ratio between 0 and 1"),
    ],
)
def test_bad_rates_are_refused(rates: dict[str, float], message: str) -> None:
    with pytest.raises(ExporterError, match=message):
        render(a_run(), rates)
    with pytest.raises(ExporterError, match=message):
        Exporter().update(a_run(), rates)


@needs_promtool
def test_a_whole_run_passes_promtool() -> None:
    output = check_metrics(render(a_run(failed={"email.delivery"}), {"registration": 0.9}))
    assert "error" not in output.lower()


# -- the textfile collector ----------------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator[None]:
    """The usual 022, so the written file's mode is what a host would give it."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def context(tmp_path: Path, **prometheus: Any) -> Finish:
    """A Finish with these `[prometheus]` settings, loaded like a run loads them."""
    sets = [f"prometheus.{k}={json.dumps(v)}" for k, v in prometheus.items()]
    settings = config_module.load(sets=sets, env={}, target="sandbox")
    return Finish(report_dir=tmp_path / "reports", settings=settings)


def test_a_run_exports_exactly_what_its_settings_ask_for(tmp_path: Path) -> None:
    def prometheus_stages(ctx: Finish) -> list[str]:
        return [s.name for s in default_outputs(ctx) if s.name.startswith("prometheus")]

    assert prometheus_stages(context(tmp_path)) == []
    textfile = str(tmp_path / "synthetics.prom")
    assert prometheus_stages(context(tmp_path, textfile=textfile)) == ["prometheus textfile"]
    pushed = context(tmp_path, pushgateway_url="http://127.0.0.1:9091")
    assert prometheus_stages(pushed) == ["prometheus pushgateway"]
    served = replace(context(tmp_path), exporter=Exporter())
    assert prometheus_stages(served) == ["prometheus /metrics"]


#: A run's settings loaded and its outputs listed, in a fresh interpreter: which of them loaded
#: prometheus_client.
OUTPUTS_LOADED = """
import sys
from pathlib import Path
from synthetics import config
from synthetics.finish import Finish, default_outputs

settings = config.load(sets=sys.argv[1:], env={}, target="sandbox")
names = [s.name for s in default_outputs(Finish(report_dir=Path("reports"), settings=settings))]
print(names[-2:], "prometheus_client" in sys.modules)
"""


def test_prometheus_client_is_loaded_only_by_a_run_that_exports(tmp_path: Path) -> None:
    def loaded(*sets: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", OUTPUTS_LOADED, *sets],
            capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert loaded() == "['junit.xml', 'results.json'] False"
    textfile = f"prometheus.textfile={json.dumps(str(tmp_path / 'synthetics.prom'))}"
    assert loaded(textfile) == "['junit.xml', 'results.json'] True"


@needs_promtool
def test_the_textfile_is_replaced_atomically_and_readable(tmp_path: Path, umask: None) -> None:
    collector = tmp_path / "textfile"
    collector.mkdir()
    ctx = context(tmp_path, textfile=str(collector / "synthetics_{target}_{location}.prom"))
    stages = outputs(ctx)
    assert [s.name for s in stages] == ["prometheus textfile"]
    (collector / "synthetics_staging_eu.prom").write_text("# an older run\n")
    finish(a_run(failed={"auth.signin"}), ctx, stages)
    assert ctx.notices == []
    written = collector / "synthetics_staging_eu.prom"
    assert [p.name for p in collector.iterdir()] == [written.name]  # no temporary file left
    assert stat.S_IMODE(written.stat().st_mode) & 0o044 == 0o044  # node_exporter can read it
    text = written.read_text()
    assert "an older run" not in text
    assert value(parse(text), "synthetics_check_success", check="auth.signin", group="auth") == 0
    check_metrics(text.encode())
    # node_exporter refuses client-side timestamps in textfiles: there are none
    assert all(len(line.split(" ")) == 2 for line in text.splitlines() if not line.startswith("#"))


def test_the_textfile_takes_only_the_configured_triggers(tmp_path: Path) -> None:
    path = tmp_path / "synthetics.prom"
    stage = TextfileOutput(str(path), triggers=("schedule",))
    stage.write(a_run(trigger="manual"), Finish(tmp_path))
    assert not path.exists()
    TextfileOutput(str(path), triggers=("schedule", "manual")).write(
        a_run(trigger="manual"), Finish(tmp_path)
    )
    assert path.exists()


def test_textfile_problems_are_notices_and_the_run_goes_on(tmp_path: Path) -> None:
    taken = tmp_path / "taken.prom"
    taken.mkdir()  # a directory where the file should go: the rename fails
    ctx = Finish(report_dir=tmp_path / "reports")
    stages = [
        TextfileOutput(str(tmp_path / "missing" / "synthetics.prom")),
        TextfileOutput(str(taken)),
        ResultsJson(),
    ]
    finish(a_run(), ctx, stages)
    assert ctx.notices[0] == (
        f"prometheus textfile: textfile directory {tmp_path / 'missing'} does not exist "
        "(node_exporter's --collector.textfile.directory)"
    )
    assert ctx.notices[1].startswith(f"prometheus textfile: cannot write {taken}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports", "taken.prom"]
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["notices"] == ctx.notices


# -- the Pushgateway -----------------------------------------------------------------------------


def group_of(gateway_groups: list[dict[str, Any]], **labels: str) -> dict[str, Any]:
    """The Pushgateway group with exactly these grouping labels."""
    found = [g for g in gateway_groups if g["labels"] == labels]
    assert len(found) == 1, gateway_groups
    return found[0]


@needs_pushgateway
@needs_promtool
def test_a_push_is_grouped_by_job_target_location_and_replaces_the_group(tmp_path: Path) -> None:
    with pushgateway(tmp_path) as gateway:
        ctx = context(tmp_path, pushgateway_url=gateway.url, job="synthetics-staging")
        stages = outputs(ctx)
        assert [s.name for s in stages] == ["prometheus pushgateway"]
        finish(a_run(failed={"rpc.fn00_v2"}), ctx, stages)
        finish(a_run(location=""), ctx, stages)
        assert ctx.notices == []
        groups = gateway.groups()
        eu = group_of(groups, job="synthetics-staging", target="staging", location="eu")
        assert "synthetics_check_success" in eu
        group_of(groups, job="synthetics-staging", target="staging", location="")
        exposed = gateway.metrics()
        check_metrics(exposed.encode())
        series = parse(exposed)
        failing = {
            "check": "rpc.fn00_v2",
            "group": "rpc",
            "job": "synthetics-staging",
            "instance": "",
        }
        assert value(series, "synthetics_check_success", **failing) == 0
        # the next run of the group replaces it whole: a check it lacks leaves no series
        later = a_run(minute=30)
        later.checks = [c for c in later.checks if c.id != "rpc.fn00_v2"]
        finish(later, ctx, stages)
        series = parse(gateway.metrics())
        assert value(series, "synthetics_check_success", **failing) is None
        assert value(
            series,
            "synthetics_last_run_timestamp_seconds",
            job="synthetics-staging",
            instance="",
        ) == (later.finished_at.timestamp() if later.finished_at else None)


@needs_pushgateway
def test_pushgateway_credentials_are_basic_auth_and_never_shown(tmp_path: Path) -> None:
    password = "pg-s3cret-Passw0rd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    with pushgateway(tmp_path, auth=("synthetics", password), bcrypt_hash=hashed) as gateway:
        host = gateway.url.removeprefix("http://")
        good = f"http://synthetics:{password}@{host}"
        ctx = context(tmp_path, pushgateway_url=good)
        finish(a_run(), ctx, outputs(ctx))
        assert ctx.notices == []
        assert group_of(gateway.groups(), job="synthetics", target="staging", location="eu")
        assert password not in gateway.metrics()

        wrong = f"http://synthetics:not-{password}@{host}"
        ctx = context(tmp_path, pushgateway_url=wrong)
        finish(a_run(), ctx, outputs(ctx))
        assert ctx.notices == [
            f"prometheus pushgateway: the Pushgateway at http://{host} refused the push: "
            "401 Unauthorized"
        ]
        assert password not in "".join(ctx.notices)


def test_an_unreachable_pushgateway_is_a_notice_without_credentials(tmp_path: Path) -> None:
    port = free_port()
    url = SecretStr(f"http://user:hunter2-secret@127.0.0.1:{port}/prefix")
    ctx = Finish(report_dir=tmp_path)
    finish(a_run(), ctx, [PushgatewayOutput(url, timeout_s=2)])
    assert len(ctx.notices) == 1
    assert ctx.notices[0].startswith(
        f"prometheus pushgateway: cannot reach the Pushgateway at http://127.0.0.1:{port}: "
    )
    assert "Connection refused" in ctx.notices[0]
    assert "hunter2" not in ctx.notices[0] and "user" not in ctx.notices[0]


# -- /metrics in the process -------------------------------------------------------------------


@needs_promtool
def test_metrics_over_http_hold_the_latest_run_of_each_target(tmp_path: Path) -> None:
    exporter = Exporter()
    stage = RegistryOutput(exporter)
    ctx = Finish(report_dir=tmp_path)
    finish(a_run(failed={"auth.signin"}), ctx, [stage])
    finish(a_run(target="production"), ctx, [stage])
    finish(a_run(minute=5), ctx, [stage])  # staging again: replaces its first run
    with serve(exporter.asgi_app()) as server:
        answer = httpx.get(f"{server.url}/metrics", timeout=5)
        open_metrics = httpx.get(
            f"{server.url}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
            timeout=5,
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    check_metrics(answer.content)
    series = parse(answer.text)
    signin = {"check": "auth.signin", "group": "auth"}
    assert value(series, "synthetics_check_success", **signin) == 1  # the later run
    assert value(series, "synthetics_check_success", **signin, target="production") == 1
    timestamps = sorted(
        v for (n, _), v in series.items() if n == "synthetics_last_run_timestamp_seconds"
    )
    assert timestamps == [START.timestamp() + 20, START.timestamp() + 320]
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")
    body, content_type = exporter.exposition()
    assert parse(body) == series
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"


def test_the_wsgi_app_serves_the_same(tmp_path: Path) -> None:
    exporter = Exporter()
    exporter.update(a_run())
    answered: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answered.append(status)

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/metrics",
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(),
    }
    body = b"".join(exporter.wsgi_app()(environ, start_response))
    assert answered == ["200 OK"]
    assert parse(body) == parse(exporter.exposition()[0])


# -- no secret anywhere --------------------------------------------------------------------------

SECRET_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2VjcmV0LXNpZ25hdHVyZQ"


@needs_pushgateway
def test_no_secret_in_any_exposition(tmp_path: Path) -> None:
    run = a_run(failed={"security.anon_rpc"})
    for check in run.checks:
        check.message = f"answered with Authorization: Bearer {SECRET_KEY} and password=hunter22"
        check.evidence = {"request": f"apikey: {SECRET_KEY}"}
    run = replace(run, location="runner-hunter22-eu")
    collector = tmp_path / "textfile"
    collector.mkdir()
    exporter = Exporter()
    with pushgateway(tmp_path) as gateway:
        url = gateway.url.replace("http://", "http://pusher:gateway-pass-123@")
        ctx = context(tmp_path, textfile=str(collector / "synthetics.prom"), pushgateway_url=url)
        ctx.redactor.add(SECRET_KEY, "hunter22")
        finish(run, ctx, [*outputs(ctx, exporter=exporter), ResultsJson()])
        assert ctx.notices == []
        exposed = {
            "textfile": (collector / "synthetics.prom").read_text(),
            "pushgateway": gateway.metrics(),
            "/metrics": exporter.exposition()[0].decode(),
        }
    for where, text in exposed.items():
        for secret in (SECRET_KEY, "hunter22", "gateway-pass-123", "pusher"):
            assert secret not in text, f"{secret} in the {where} exposition"
        assert 'location="runner-[REDACTED]-eu"' in text, where
    results = (tmp_path / "reports" / "results.json").read_text()
    assert "gateway-pass-123" not in results


# -- the [prometheus] section --------------------------------------------------------------------


def test_nothing_is_exported_unless_configured(tmp_path: Path) -> None:
    assert outputs(context(tmp_path)) == []
    assert outputs(Finish(report_dir=tmp_path)) == []
    assert [s.name for s in outputs(Finish(tmp_path), exporter=Exporter())] == [
        "prometheus /metrics"
    ]


def test_the_pushgateway_url_can_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "synthetics.toml"
    config.write_text('[prometheus]\npushgateway_url = "${PUSHGATEWAY_URL}"\n')
    settings = config_module.load(
        path=config, env={"PUSHGATEWAY_URL": "https://u:p4ss-word@push.example.org:9091"}
    )
    url = settings.config.prometheus.pushgateway_url
    assert url is not None and url.get_secret_value().endswith("push.example.org:9091")
    assert "p4ss-word" not in repr(settings.config)


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("textfile", "/var/lib/node/synthetics.txt", "must end in .prom"),
        ("textfile", "/tmp/{target}_{run}.prom", "names {run}; only {target} and {location}"),
        (
            "pushgateway_url",
            "ftp://push:pw-secret@host",
            "must be an http(s) URL with a host, got scheme 'ftp'",
        ),
        ("pushgateway_url", "http://push:pw-secret@host:99999", "is not a valid URL"),
        ("job", "", "at least 1 character"),
        ("triggers", '["nightly"]', "Input should be 'schedule', 'release', 'manual' or 'ci'"),
        ("push_timeout_s", "0", "greater than or equal to 0.001"),
        ("textfiles", "/tmp/x.prom", "unknown key"),
    ],
)
def test_bad_prometheus_settings_name_the_key(key: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_module.load(sets=[f"prometheus.{key}={raw}"], env={}, target="sandbox")
    text = str(caught.value)
    assert text.startswith(f"prometheus.{key}")
    assert f"(from --set prometheus.{key})" in text
    assert message in text
    assert "pw-secret" not in text


# -- a real run --------------------------------------------------------------------------------


@needs_promtool
def test_a_real_sandbox_run_exports_cleanly(tmp_path: Path) -> None:
    report_dir = tmp_path / "reports"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthetics.cli",
            "run",
            "--report-dir",
            str(report_dir),
            "--trigger",
            "schedule",
            "--set",
            "deeplink.browser=off",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = RunResult.read(report_dir / "results.json")
    collector = tmp_path / "textfile"
    collector.mkdir()
    ctx = Finish(report_dir=report_dir)
    finish(run, ctx, [TextfileOutput(str(collector / "synthetics.prom"))])
    assert ctx.notices == []
    text = (collector / "synthetics.prom").read_text()
    check_metrics(text.encode())
    series = parse(text)
    where = {"target": "sandbox", "location": run.location}
    rpcs = [
        labels for (name, labels), _ in series.items() if name == "synthetics_rpc_latency_seconds"
    ]
    assert len(rpcs) == len(config_module.MAMAPACE_RPCS)
    success = value(series, "synthetics_check_success", check="auth.health", group="auth", **where)
    assert success == 1
    delivered = value(series, "synthetics_email_delivery_seconds", **where)
    assert delivered is not None and 0 < delivered < 10


def test_the_historys_rates_feed_every_stage(tmp_path: Path) -> None:
    seen: list[str] = []

    def rates(run: RunResult, ctx: Finish) -> dict[str, float]:
        seen.append(run.run_id)
        return {"registration": 0.4, "rpc_error": 0.02}

    ctx = context(tmp_path, textfile=str(tmp_path / "synthetics.prom"))
    exporter = Exporter()
    finish(a_run(), ctx, outputs(ctx, exporter=exporter, rates=rates))
    assert ctx.notices == []
    assert seen == ["run-0", "run-0"]
    for text in ((tmp_path / "synthetics.prom").read_text(), exporter.exposition()[0].decode()):
        series = parse(text)
        assert value(series, "synthetics_registration_success_ratio") == 0.4
        assert value(series, "synthetics_rpc_error_ratio") == 0.02

    ctx = context(tmp_path, textfile=str(tmp_path / "synthetics.prom"))
    finish(a_run(), ctx, outputs(ctx, rates=lambda run, c: {"registration": 2.0}))
    assert ctx.notices == [
        "prometheus textfile: rate registration must be a ratio between 0 and 1, got 2.0"
    ]


def test_the_rates_come_from_the_history_stage(tmp_path: Path) -> None:
    settings = config_module.load(
        sets=[
            f"history.url=sqlite:///{tmp_path / 'history.sqlite'}",
            f"prometheus.textfile={tmp_path / 'synthetics.prom'}",
        ],
        env={},
        target="sandbox",
    )
    runs = [
        a_run(0, target="sandbox"),
        a_run(5, target="sandbox", failed={"auth.signin"}),
        a_run(
            10,
            target="sandbox",
            email_s=45.0,
            statuses={"email.delivery": Status.WARNING},
            reasons={"email.delivery": "late"},
            failed={f"rpc.fn0{n}_v2" for n in range(4)},
        ),
        a_run(15, target="sandbox"),
    ]
    for n, run in enumerate(runs, start=1):
        ctx = Finish(report_dir=tmp_path / "reports", settings=settings)
        finish(run, ctx, [History(), *outputs(ctx), ResultsJson()])
        assert ctx.notices == []
        series = parse((tmp_path / "synthetics.prom").read_text())
        where = {"target": "sandbox"}
        ratio = value(series, "synthetics_auth_failure_ratio", **where)
        if n < 3:  # [history] min_runs = 3: no rate before three runs
            assert ratio is None
    assert ratio == 0.25  # one of four runs
    assert value(series, "synthetics_registration_success_ratio", **where) == 1.0
    assert value(series, "synthetics_email_delivery_within_sla_ratio", **where) == 0.75
    assert value(series, "synthetics_email_delivered_ratio", **where) == 1.0
    assert value(series, "synthetics_rpc_error_ratio", **where) == 4 / 80
    assert value(series, "synthetics_deeplink_failure_ratio", **where) == 0.0


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(hours=2), "2h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(minutes=30), "30m"),
        (timedelta(days=1, hours=6), "1d6h"),
        (timedelta(hours=1, seconds=5), "1h5s"),
        (timedelta(seconds=1.5), "1500ms"),
    ],
)
def test_spans_in_prometheus_durations(span: timedelta, text: str) -> None:
    assert prometheus_duration(span) == text
    assert duration_seconds(text) == span.total_seconds()
