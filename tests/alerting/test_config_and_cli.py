"""`[alerts]` / `[heartbeat]` in the config (errors name the key and its source) and
`synthetics alert test` against the local services."""

from __future__ import annotations

import io
from argparse import Namespace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from synthetics import cli
from synthetics.alerting.maintenance import MaintenanceWindow, active
from synthetics.commands.alert import run_test
from synthetics.config import load
from synthetics.errors import ConfigError
from tests.alerting.conftest import Services
from tests.alerting.services import PD_ROUTING_KEY


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "synthetics.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_contract_shape_loads_with_secrets_from_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[alerts.channels.oncall]
type = "slack"
webhook_url = "${SLACK_WEBHOOK_URL}"
[alerts.channels.pager]
type = "pagerduty"
routing_key = "${PAGERDUTY_ROUTING_KEY}"
[[alerts.routes]]
severity = "critical"
channels = ["pager", "oncall"]
triggers = ["schedule"]
[alerts]
failure_threshold = 2
success_threshold = 2
repeat_interval = "1h"
[heartbeat]
url = "${HEARTBEAT_URL}"
""",
    )
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.example/services/T/B/XyzSecret",
        "PAGERDUTY_ROUTING_KEY": PD_ROUTING_KEY,
        "HEARTBEAT_URL": "https://hc-ping.com/uuid-secret",
        "SYNTHETICS_ALERTS__REPEAT_INTERVAL": "2h",
    }
    alerts = load(path=path, env=env).config.alerts
    assert alerts.channels["oncall"].webhook_url.get_secret_value().endswith("XyzSecret")  # type: ignore[union-attr]
    assert alerts.repeat_interval == "2h" and alerts.policy.failure_threshold == 2
    assert "XyzSecret" not in repr(alerts) and PD_ROUTING_KEY not in repr(alerts)


@pytest.mark.parametrize(
    ("text", "env", "key", "message"),
    [
        (
            '[alerts.channels.x]\ntype = "sms"\n',
            {},
            "alerts.channels.x",
            "does not match any of the expected tags",
        ),
        (
            '[alerts.channels.x]\ntype = "slack"\nwebhook_url = "${NOPE}"\n',
            {},
            "alerts.channels.x.webhook_url",
            "environment variable NOPE is not set",
        ),
        (
            '[alerts.channels.x]\ntype = "slack"\nwebhook_url = "u"\nchannel = "#c"\n',
            {},
            "alerts.channels.x.slack.channel",
            "unknown key",
        ),
        ('[[alerts.routes]]\nchannels = ["ghost"]\n', {}, "alerts", "names channel 'ghost'"),
        ('[alerts]\nrepeat_interval = "soon"\n', {}, "alerts.repeat_interval", "is not a duration"),
        (
            "[alerts]\nfailure_threshold = 0\n",
            {},
            "alerts.failure_threshold",
            "greater than or equal to 1",
        ),
        ('[[alerts.maintenance]]\nduration = "1h"\n', {}, "alerts.maintenance.0", "needs `start`"),
        (
            '[[alerts.maintenance]]\ndays = ["sat"]\nat = "02:00"\nduration = "1h"\n'
            'timezone = "Mars/Base"\n',
            {},
            "alerts.maintenance.0.timezone",
            "not an IANA timezone",
        ),
        ('[heartbeat]\nurl = "ftp://x"\n', {}, "heartbeat.url", "http(s) ping URL"),
    ],
)
def test_bad_values_name_the_key_and_where_they_came_from(
    tmp_path: Path, text: str, env: dict[str, str], key: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path=path, env=env)
    assert caught.value.key is not None and caught.value.key.startswith(key), caught.value
    assert message in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2026-12-05T01:59:00+09:00", False),  # a Saturday in Tokyo, before 02:00
        ("2026-12-05T02:00:00+09:00", True),
        ("2026-12-04T17:30:00+00:00", True),  # the same instant seen from UTC (Friday there)
        ("2026-12-05T02:59:59+09:00", True),
        ("2026-12-05T03:00:00+09:00", False),
        ("2026-12-06T02:30:00+09:00", False),  # Sunday
    ],
)
def test_weekly_windows_in_a_timezone(moment: str, inside: bool) -> None:
    window = MaintenanceWindow(
        days=["sat"], at="02:00", duration="1h", timezone="Asia/Tokyo", name="w"
    )
    now = datetime.fromisoformat(moment)
    assert (active([window], now) is window) is inside
    assert active([window], now, "staging") is (window if inside else None)
    assert active([window.model_copy(update={"targets": ["production"]})], now, "staging") is None


def test_a_one_off_window() -> None:
    window = MaintenanceWindow(start=datetime(2026, 12, 5, 1, tzinfo=UTC), duration="90m")
    assert window.covers(datetime(2026, 12, 5, 2, 29, tzinfo=UTC))
    assert not window.covers(datetime(2026, 12, 5, 2, 30, tzinfo=UTC))
    assert "maintenance from 2026-12-05T01:00:00+00:00" in window.label


def test_alert_test_reports_each_channel_and_leaks_nothing(
    services: Services, tmp_path: Path
) -> None:
    path = write(tmp_path, services.channels_toml())
    services.clock.now = datetime.now(UTC)  # the receiver checks the signed timestamp: real time
    out = io.StringIO()
    code = run_test(Namespace(config=path, sets=[], target=None, channel=None), out=out)
    lines = out.getvalue().splitlines()
    assert code == 0, lines
    assert lines == [
        "oncall: ok (HTTP 200, ok)",
        "pager: ok (HTTP 202, Event processed)",
        "hook: ok (HTTP 204, accepted)",
    ]
    (slack,) = services.slack.accepted()
    assert slack["text"].startswith(
        "TEST: INFO: alert-test on sandbox (a test notification, nothing is wrong)"
    )
    assert [b["event_action"] for b in services.pagerduty.accepted()] == ["trigger", "resolve"]
    assert services.webhook.accepted()[0]["kind"] == "test"
    for secret in services.secrets():
        assert secret not in out.getvalue()


def test_alert_test_one_channel_and_a_refusal(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, services.channels_toml().replace(PD_ROUTING_KEY, "short"))
    assert cli.main(["alert", "test", "--config", str(path), "--channel", "pager"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("pager: FAILED (HTTP 400, Length of 'routing_key' is incorrect")
    assert services.slack.received == [] and "short" not in out.replace("short)", "")
    assert cli.main(["alert", "test", "--config", str(path), "--channel", "nope"]) == 3
    assert "--channel: no channel 'nope'; channels: oncall, pager, hook" in capsys.readouterr().err
    assert cli.main(["alert", "test", "--config", str(write(tmp_path, ""))]) == 3
