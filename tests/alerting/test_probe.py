"""Probing alert channels without notifying anybody, each against its local fake service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from synthetics.alerting.github import GitHubConfig
from synthetics.alerting.heartbeat import HeartbeatConfig
from synthetics.alerting.pagerduty import PagerDutyConfig
from synthetics.alerting.probe import PROBES, probe_channel, probe_heartbeat
from synthetics.alerting.slack import SlackConfig
from synthetics.alerting.webhook import WebhookConfig
from synthetics.clients.transport import Transport
from synthetics.findings import Level
from tests.alerting.conftest import Services
from tests.alerting.services import PD_ROUTING_KEY, SLACK_HOOK, WEBHOOK_SECRET
from tests.inbox.servers import free_port


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=Transport(total_timeout=5)) as http:
        yield http


def by_id(findings: list) -> dict[str, tuple[Level, str]]:
    return {f.id: (f.level, f.message + " " + f.fix) for f in findings}


def test_every_channel_type_has_a_probe() -> None:
    from synthetics.alerting import CHANNELS

    assert set(PROBES) == set(CHANNELS)


def test_a_live_slack_hook_is_ok_and_nothing_is_posted(
    services: Services, client: httpx.Client
) -> None:
    config = SlackConfig(type="slack", webhook_url=SecretStr(services.slack_url))
    found = by_id(probe_channel("oncall", config, client))
    level, message = found["alerts.oncall"]
    assert level is Level.OK, message
    assert "no_text" in message and "nothing was posted" in message
    assert services.slack.accepted() == []  # Slack posted nothing
    assert [r.status for r in services.slack.received] == [400]
    assert SLACK_HOOK not in message


def test_a_dead_slack_hook_fails_with_what_to_do(services: Services, client: httpx.Client) -> None:
    url = services.slack_url.replace(SLACK_HOOK, "/services/T0SYNTH/B0GONE/deletedHookToken000")
    config = SlackConfig(type="slack", webhook_url=SecretStr(url))
    level, message = by_id(probe_channel("oncall", config, client))["alerts.oncall"]
    assert level is Level.FAIL
    assert "no_service" in message and "create a new one" in message
    assert "deletedHookToken000" not in message


def test_a_rate_limited_slack_hook_is_unknown_not_dead(
    services: Services, client: httpx.Client
) -> None:
    services.slack.rate_limit = 1
    config = SlackConfig(type="slack", webhook_url=SecretStr(services.slack_url))
    level, message = by_id(probe_channel("oncall", config, client))["alerts.oncall"]
    assert level is Level.UNKNOWN
    assert "429" in message


def test_pagerduty_is_reached_but_its_key_is_not_claimed_checked(
    services: Services, client: httpx.Client
) -> None:
    config = PagerDutyConfig(
        type="pagerduty", routing_key=SecretStr(PD_ROUTING_KEY), url=services.pagerduty_url
    )
    found = by_id(probe_channel("pager", config, client))
    assert found["alerts.pager"][0] is Level.OK
    level, message = found["alerts.pager.routing_key"]
    assert level is Level.UNKNOWN and "asynchronous" in message
    assert services.pagerduty.received == []  # no event, not even an invalid one
    assert PD_ROUTING_KEY not in str(found)


def test_a_webhook_receiver_gets_no_request(services: Services, client: httpx.Client) -> None:
    config = WebhookConfig(
        type="webhook", url=SecretStr(services.webhook_url), secret=SecretStr(WEBHOOK_SECRET)
    )
    found = by_id(probe_channel("hook", config, client))
    assert found["alerts.hook"][0] is Level.OK
    assert found["alerts.hook.receiver"][0] is Level.UNKNOWN
    assert services.webhook.received == []
    assert services.webhook_url not in str(found)


def test_an_unreachable_host_fails(client: httpx.Client) -> None:
    url = f"http://127.0.0.1:{free_port()}/v2/enqueue"
    config = PagerDutyConfig(type="pagerduty", routing_key=SecretStr(PD_ROUTING_KEY), url=url)
    level, message = by_id(probe_channel("pager", config, client))["alerts.pager"]
    assert level is Level.FAIL and "cannot be reached" in message


def test_the_heartbeat_host_is_reached_and_no_ping_is_sent(
    services: Services, client: httpx.Client
) -> None:
    found = by_id(probe_heartbeat(HeartbeatConfig(url=SecretStr(services.ping_url)), client))
    assert found["heartbeat"][0] is Level.OK
    assert found["heartbeat.ping"][0] is Level.UNKNOWN
    assert services.ping.received == []


@pytest.mark.parametrize(
    ("env", "level"),
    [
        ({}, Level.SKIP),
        ({"GITHUB_ACTIONS": "true"}, Level.WARN),
        ({"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "{tmp}/summary.md"}, Level.OK),
        ({"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "/proc/nope/summary.md"}, Level.FAIL),
    ],
)
def test_github_needs_a_writable_job_summary(
    env: dict[str, str], level: Level, tmp_path: Path, client: httpx.Client
) -> None:
    env = {k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}
    found = probe_channel("gh", GitHubConfig(type="github"), client, env)
    assert [f.level for f in found] == [level]
