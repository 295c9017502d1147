"""Fake alert services on loopback (started once), a fake clock, and the runs replayed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from synthetics.results import RunResult
from tests.alerting.services import (
    PD_ROUTING_KEY,
    PING_UUID,
    SLACK_HOOK,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    Service,
    pagerduty_app,
    ping_app,
    slack_app,
    webhook_app,
)
from tests.servers import serve

RUNS = Path(__file__).parent / "runs"


class FakeClock:
    """Time that moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Services:
    """Every fake service, its base URL and its recorder."""

    slack: Service
    pagerduty: Service
    webhook: Service
    ping: Service
    slack_url: str
    pagerduty_url: str
    webhook_url: str
    ping_url: str
    clock: FakeClock

    def reset(self) -> None:
        for service in (self.slack, self.pagerduty, self.webhook, self.ping):
            service.received.clear()
            service.rate_limit = service.fail = 0

    def secrets(self) -> list[str]:
        """Every secret value a channel is configured with."""
        return [
            self.slack_url,
            SLACK_HOOK,
            PD_ROUTING_KEY,
            self.webhook_url,
            WEBHOOK_PATH,
            WEBHOOK_SECRET,
            PING_UUID,
        ]

    def channels_toml(self) -> str:
        """`[alerts.channels.*]` for every fake, as a config file would have them."""
        return f"""
[alerts.channels.oncall]
type = "slack"
webhook_url = "{self.slack_url}"
[alerts.channels.pager]
type = "pagerduty"
routing_key = "{PD_ROUTING_KEY}"
url = "{self.pagerduty_url}"
[alerts.channels.hook]
type = "webhook"
url = "{self.webhook_url}"
secret = "{WEBHOOK_SECRET}"
"""


@pytest.fixture(scope="session")
def _servers() -> Iterator[Services]:
    clock = FakeClock(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    slack, pd, hook, ping = Service(), Service(), Service(), Service()
    with (
        serve(slack_app(slack)) as s,
        serve(pagerduty_app(pd)) as p,
        serve(webhook_app(hook, clock)) as w,
        serve(ping_app(ping)) as h,
    ):
        yield Services(
            slack,
            pd,
            hook,
            ping,
            slack_url=s.url + SLACK_HOOK,
            pagerduty_url=p.url + "/v2/enqueue",
            webhook_url=w.url + WEBHOOK_PATH,
            ping_url=f"{h.url}/ping/{PING_UUID}",
            clock=clock,
        )


@pytest.fixture
def services(_servers: Services) -> Iterator[Services]:
    """The fakes, emptied, with the clock at 2026-12-01T00:00Z."""
    _servers.reset()
    _servers.clock.now = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    yield _servers
    _servers.reset()


@pytest.fixture
def clock(services: Services) -> FakeClock:
    """The clock the webhook receiver checks timestamps against."""
    return services.clock


def replay(
    name: str, at: datetime, *, trigger: str = "schedule", run_id: str | None = None
) -> RunResult:
    """A real sandbox run's results.json (tests/alerting/runs, recorded once with
    `synthetics run [--fault …] --set thresholds.email_timeout_s=2 --set thresholds.email_sla_s=1`),
    moved to start at `at`."""
    run = RunResult.read(RUNS / f"{name}.json")
    took = (run.finished_at or run.started_at) - run.started_at
    run.started_at, run.finished_at = at, at + took
    run.trigger = trigger
    run.run_id = run_id or f"{name}-{at:%H%M}"
    return run
