"""Whether each alert channel (and the heartbeat) can be reached, without notifying anybody.

    probe_channel(name, config, client, env) → findings
    probe_heartbeat(config, client)          → findings

What each service offers, and what is done:
- Slack incoming webhook: a POST of an empty message, `{"text": ""}`. Slack refuses it with
  `400 no_text` (older hooks: `missing_text_or_fallback_or_attachments`) when the hook is live
  and posts nothing; a revoked or deleted hook answers `403 invalid_token` / `action_prohibited`,
  `404 no_service` / `channel_not_found`, an archived channel `410 channel_is_archived` (Slack's
  incoming-webhook errors). Secret scanners verify leaked hooks the same way.
- PagerDuty Events API v2: asynchronous — it answers 202 to any well-formed event and routes
  (or drops) it later, so no request proves a routing key is live without sending a real
  event. The host is reached (`HEAD /`); the key is "unknown", with that reason.
- Generic webhook: a receiver may act on any request, so none is sent to its URL; its host is
  reached (`HEAD /` of the origin) and the receiver is "unknown".
- Heartbeat (healthchecks.io-style): any request to a ping URL counts as a ping, so only the
  host is reached.
- GitHub: annotations print to the job log; the job summary file must be writable.
`synthetics alert test` sends a marked test through each channel when a real delivery is wanted.
URLs and keys are secrets: findings name hosts only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from synthetics.clients.transport import phases
from synthetics.findings import Finding, fail, ok, skip, unknown, warn
from synthetics.text import one_line

#: Slack's answers to an empty message from a live hook.
SLACK_LIVE = ("no_text", "missing_text_or_fallback_or_attachments")
#: Slack's answers from a hook that cannot post, and what to do.
SLACK_DEAD = {
    "invalid_token": "the hook was revoked: create a new incoming webhook",
    "no_service": "the hook does not exist (deleted, or the URL is mistyped): create a new one",
    "channel_not_found": "its channel is gone: create a hook for an existing channel",
    "channel_is_archived": "its channel is archived: unarchive it or create a hook elsewhere",
    "action_prohibited": "the workspace forbids this hook: ask a Slack admin",
    "no_team": "its workspace is gone: create a new incoming webhook",
}


def _origin(url: str) -> tuple[str, str]:
    """(origin, host) of a URL; the path (often the secret part) is dropped."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/", f"{host}{port}"


def _timing(response: httpx.Response) -> str:
    found = phases(response)
    return f" in {found.total:.0f} ms" if found is not None else ""


def reach(finding_id: str, url: str, client: httpx.Client) -> Finding:
    """`HEAD /` of the URL's origin: any HTTP answer means DNS, TLS and the host are fine."""
    origin, host = _origin(url)
    try:
        response = client.request("HEAD", origin)
    except httpx.TransportError as exc:
        return fail(
            finding_id,
            f"{host} cannot be reached: {type(exc).__name__}: {one_line(str(exc), limit=120)}",
            "check the URL's host and that this machine may reach it",
        )
    return ok(finding_id, f"{host} reachable (HTTP {response.status_code}{_timing(response)})")


def _slack(name: str, config: Any, client: httpx.Client, env: Mapping[str, str]) -> list[Finding]:
    url = config.webhook_url.get_secret_value()
    finding_id = f"alerts.{name}"
    _, host = _origin(url)
    try:
        response = client.post(url, json={"text": ""})
    except httpx.TransportError as exc:
        return [
            fail(
                finding_id,
                f"Slack ({host}) cannot be reached: {type(exc).__name__}",
                "check webhook_url and that this machine may reach hooks.slack.com",
            )
        ]
    answer = one_line(response.text, limit=60).strip()
    status = response.status_code
    if status == 400 and answer in SLACK_LIVE:
        return [
            ok(
                finding_id,
                f"Slack hook is live: it refused an empty message ({status} {answer}"
                f"{_timing(response)}); nothing was posted",
            )
        ]
    if answer in SLACK_DEAD:
        return [fail(finding_id, f"Slack hook answered {status} {answer}", SLACK_DEAD[answer])]
    if 200 <= status < 300:
        return [
            warn(
                finding_id,
                f"Slack answered {status} to an empty message: a hook is there, but this is not "
                "how Slack answers (is webhook_url a Slack incoming webhook?)",
                "check webhook_url",
            )
        ]
    return [
        unknown(
            finding_id,
            f"Slack answered {status} {answer or '(no text)'}: cannot tell whether the hook "
            "is live",
            "try again later, or `synthetics alert test --channel " + name + "`",
        )
    ]


def _pagerduty(
    name: str, config: Any, client: httpx.Client, env: Mapping[str, str]
) -> list[Finding]:
    return [
        reach(f"alerts.{name}", config.url, client),
        unknown(
            f"alerts.{name}.routing_key",
            "not checked: the Events API is asynchronous (202 for any well-formed event, routed "
            "or dropped later), so only a real event proves a routing key",
            f"`synthetics alert test --channel {name}` (a marked trigger, resolved at once)",
        ),
    ]


def _webhook(name: str, config: Any, client: httpx.Client, env: Mapping[str, str]) -> list[Finding]:
    return [
        reach(f"alerts.{name}", config.url.get_secret_value(), client),
        unknown(
            f"alerts.{name}.receiver",
            "not checked: a receiver may act on any request, so nothing is sent to its URL",
            f"`synthetics alert test --channel {name}` (a marked, signed test)",
        ),
    ]


def _github(name: str, config: Any, client: httpx.Client, env: Mapping[str, str]) -> list[Finding]:
    finding_id = f"alerts.{name}"
    if env.get("GITHUB_ACTIONS") != "true":
        return [skip(finding_id, "not in GitHub Actions: annotations and the summary go to stdout")]
    summary = env.get("GITHUB_STEP_SUMMARY", "")
    if not config.summary:
        return [ok(finding_id, "annotations go to the job log")]
    if not summary:
        return [warn(finding_id, "GITHUB_STEP_SUMMARY is not set: no job summary", "")]
    path = Path(summary)
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        return [fail(finding_id, f"the job summary file {path} is not writable", "")]
    return [ok(finding_id, "annotations go to the job log; the job summary file is writable")]


Probe = Callable[[str, Any, httpx.Client, Mapping[str, str]], list[Finding]]
#: channel type → its probe; every type in alerting.CHANNELS has exactly one entry.
PROBES: dict[str, Probe] = {
    "slack": _slack,
    "pagerduty": _pagerduty,
    "webhook": _webhook,
    "github": _github,
}


def probe_channel(
    name: str, config: Any, client: httpx.Client, env: Mapping[str, str] | None = None
) -> list[Finding]:
    """What can be known about one channel without sending it a notification."""
    return PROBES[config.type](name, config, client, os.environ if env is None else env)


def probe_heartbeat(config: Any, client: httpx.Client) -> list[Finding]:
    """The heartbeat's host (a ping would count as one: none is sent)."""
    if config.url is None:
        return [skip("heartbeat", "no [heartbeat] url configured")]
    return [
        reach("heartbeat", config.url.get_secret_value(), client),
        unknown(
            "heartbeat.ping",
            "not pinged: any request to a ping URL counts as a ping",
            "the next run pings it; its dashboard shows whether it arrived",
        ),
    ]
