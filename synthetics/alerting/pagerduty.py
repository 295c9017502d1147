"""PagerDuty Events API v2: `trigger` and `resolve` with one `dedup_key` per target and subject.

```toml
[alerts.channels.pager]
type = "pagerduty"
routing_key = "${PAGERDUTY_ROUTING_KEY}"
# url = "https://events.pagerduty.com/v2/enqueue"
```

Trigger, escalate and reminder are `trigger` events on the same `dedup_key` (PagerDuty adds them
to the open alert; an escalation updates its severity); resolve is `resolve`. Severity maps to
PagerDuty's `critical` / `warning` / `info`. PagerDuty answers `202 {"status": "success",
"message": "Event processed", "dedup_key": …}`, `400 {"status": "invalid event", "errors": […]}`
(not retried), or `429` / 5xx (retried by the sender).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from synthetics.alerting.base import Receipt, post_and_parse
from synthetics.alerting.model import Notification
from synthetics.alerting.sender import Answer, Sender
from synthetics.status import Status

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES = {Status.CRITICAL: "critical", Status.WARNING: "warning", Status.INFO: "info"}
#: PagerDuty's documented limits: summary 1024 characters, dedup_key 255.
SUMMARY_CHARS, DEDUP_CHARS = 1024, 255


class PagerDutyConfig(BaseModel):
    """An Events API v2 integration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["pagerduty"]
    routing_key: SecretStr
    url: str = DEFAULT_URL
    #: `payload.source`; default `synthetics:<target>`.
    source: str = ""

    @field_validator("routing_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("routing_key is empty")
        return value


def event(note: Notification, routing_key: str, source: str = "") -> dict[str, Any]:
    """The Events API v2 body for `note`."""
    base: dict[str, Any] = {
        "routing_key": routing_key,
        "dedup_key": note.dedup_key[:DEDUP_CHARS],
        "event_action": "resolve" if note.kind == "resolve" else "trigger",
    }
    if note.kind == "resolve":
        return base
    summary = f"{note.title}: {note.message}"
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1] + "…"
    details: dict[str, Any] = {
        "kind": note.kind,
        "checks": list(note.checks),
        "blocked": list(note.blocked),
        "runbook": note.runbook,
        "first_step": note.first_step,
        "value": note.value,
        "threshold": note.threshold,
        "since": note.since.isoformat() if note.since else None,
        "run_id": note.run_id,
        "trigger": note.trigger,
        "location": note.location,
    }
    base["payload"] = {
        "summary": summary,
        "source": source or f"synthetics:{note.target}",
        "severity": SEVERITIES.get(note.severity, "info"),
        "timestamp": note.at.isoformat(),
        "component": note.subject,
        "group": note.target,
        "class": note.runbook or note.subject,
        "custom_details": {k: v for k, v in details.items() if v not in (None, "", [])},
    }
    base["client"] = "supabase-synthetics"
    if note.report_url:
        base["client_url"] = note.report_url
        base["links"] = [{"href": note.report_url, "text": "synthetics report"}]
    return base


def parse(answer: Answer) -> tuple[bool, str]:
    """202 with status success; else the errors PagerDuty listed."""
    try:
        data = json.loads(answer.text) if answer.text else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if answer.status == 202 and data.get("status") == "success":
        return True, str(data.get("message") or "Event processed")
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        return False, "; ".join(str(e) for e in errors[:5])
    return False, str(data.get("message") or answer.text or "refused")


class PagerDutyChannel:
    """Sends events to one integration."""

    type = "pagerduty"

    def __init__(self, name: str, config: PagerDutyConfig) -> None:
        self.name = name
        self.config = config

    def __repr__(self) -> str:
        return f"PagerDutyChannel({self.name!r})"

    def secrets(self) -> tuple[str, ...]:
        """The routing key."""
        return (self.config.routing_key.get_secret_value(),)

    def send(self, note: Notification, sender: Sender) -> Receipt:
        """POST the event and read PagerDuty's answer."""
        key = self.config.routing_key.get_secret_value()
        raw = json.dumps(event(note, key, self.config.source), ensure_ascii=False).encode()
        headers = {"content-type": "application/json"}
        return post_and_parse(
            self.name, sender, self.config.url, raw, headers, parse, self.secrets()
        )
