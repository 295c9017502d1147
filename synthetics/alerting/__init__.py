"""Telling people: alert channels behind one Protocol, a lifecycle, routing, maintenance,
heartbeats, and the run-finishing stage that ties them together.

    model.py        Observation, AlertState, Notification
    verdicts.py     run (+ history rules) → observations per subject (grouped by cause)
    lifecycle.py    pure: (states, observations, now, policy) → (states, notifications)
    routing.py      routes → channels; defaults
    maintenance.py  windows that mute notifications
    heartbeat.py    dead-man pings and the "no run for too long" rule
    sender.py       the one HTTP sender (deadlines, retries, Retry-After, redaction)
    slack.py, webhook.py, pagerduty.py, github.py   the channels
    state.py        alert state in the history database (SQLAlchemy Core, compare-and-set)
    delivery.py     the `Output` stage of synthetics.finish

    channel = build_channel("oncall", config.alerts.channels["oncall"])
    receipt = channel.send(notification, sender)

A new channel is a module with a config model (a `type` Literal), a class with `send`, and one
line in each of `config.ChannelConfig` and `CHANNELS` below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TextIO

from synthetics.alerting.base import Channel, Receipt
from synthetics.alerting.github import GitHubChannel
from synthetics.alerting.pagerduty import PagerDutyChannel
from synthetics.alerting.slack import SlackChannel
from synthetics.alerting.webhook import WebhookChannel

#: type → the channel class; every type in config.ChannelConfig has exactly one entry.
CHANNELS: dict[str, Callable[..., Channel]] = {
    "slack": SlackChannel,
    "webhook": WebhookChannel,
    "pagerduty": PagerDutyChannel,
    "github": GitHubChannel,
}


def build_channel(
    name: str,
    config: Any,
    *,
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> Channel:
    """The channel for one `[alerts.channels.NAME]` table (the GitHub one writes to `stream`)."""
    try:
        factory = CHANNELS[config.type]
    except KeyError:
        raise ValueError(f"no alert channel registered as {config.type!r}") from None
    if config.type == "github":
        return factory(name, config, stream=stream, env=env)
    return factory(name, config)


__all__ = ["CHANNELS", "Channel", "Receipt", "build_channel"]
