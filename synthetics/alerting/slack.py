"""Slack incoming webhooks: Block Kit (default) or the runbook's `attachments` colour format.

```toml
[alerts.channels.oncall]
type = "slack"
webhook_url = "${SLACK_WEBHOOK_URL}"
format = "blocks"          # or "attachments", the runbook's example shape
```

The message carries the severity, the check or rule, its current value and threshold, how long
it has lasted, the runbook plan and its first step, the checks it blocked, and the report link.
Slack answers `200 ok`; a bad body is `400 invalid_payload`, `invalid_blocks` or `no_text`,
a gone channel `404 channel_not_found` / `410 channel_is_archived`, a revoked hook `403`
(`invalid_token`, `action_prohibited`), and `429` with `Retry-After` when rate limited.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from synthetics.alerting.base import Receipt, post_and_parse
from synthetics.alerting.model import Notification, duration_text
from synthetics.alerting.sender import Answer, Sender
from synthetics.status import Status

#: Block Kit limits (Slack's reference): header text, section text, a field, fields a section.
HEADER_CHARS, SECTION_CHARS, FIELD_CHARS, MAX_FIELDS = 150, 3000, 2000, 10
#: Attachment colours of the runbook's example.
COLOURS = {Status.CRITICAL: "danger", Status.WARNING: "warning", Status.INFO: "#439FE0"}
_ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":blue_circle:"}


class SlackConfig(BaseModel):
    """A Slack incoming webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["slack"]
    webhook_url: SecretStr
    format: Literal["blocks", "attachments"] = "blocks"


def escape(text: str) -> str:
    """Slack mrkdwn/plain text control characters (`&`, `<`, `>`) as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def facts(note: Notification) -> list[tuple[str, str]]:
    """(title, value) pairs every format shows, in order, empty ones left out."""
    found = [
        ("Severity", note.severity.value.upper()),
        ("Check or rule", note.subject),
        ("Target", note.target),
        ("Current value", note.value),
        ("Threshold", note.threshold),
        ("Duration", duration_text(note.duration) if note.since is not None else ""),
        ("Runbook plan", note.runbook),
    ]
    return [(title, value) for title, value in found if value]


def text_line(note: Notification) -> str:
    """The notification's one-line text (also the fallback Slack shows in notifications)."""
    prefix = "[ALERT] " if note.kind not in ("resolve", "test") else ""
    return f"{prefix}{note.title}: {note.message}"


def payload(note: Notification, fmt: Literal["blocks", "attachments"] = "blocks") -> dict[str, Any]:
    """The webhook's JSON body for `note`."""
    if fmt == "attachments":
        return _attachments(note)
    icon = ":white_check_mark:" if note.kind == "resolve" else _ICONS.get(note.severity.value, "")
    if note.kind == "test":
        icon = ":test_tube:"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"{icon} {note.title}".strip(), HEADER_CHARS),
            },
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(escape(note.message), SECTION_CHARS)},
        },
    ]
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{title}*\n{escape(value)}", FIELD_CHARS)}
        for title, value in facts(note)
    ][:MAX_FIELDS]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if note.first_step and note.kind != "resolve":
        step = f"*First step:* {escape(note.first_step)}"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(step, SECTION_CHARS)}}
        )
    context = []
    if note.blocked:
        context.append(f"Blocked by it: {', '.join(note.blocked)}")
    run = f"run {note.run_id}" if note.run_id else ""
    where = f" from {note.location}" if note.location else ""
    if run:
        context.append(f"{run}{where} ({note.trigger})")
    if note.report_url:
        context.append(f"<{note.report_url}|Open the report>")
    if context:
        items = [
            {"type": "mrkdwn", "text": _cut(escape(c) if not c.startswith("<") else c, 300)}
            for c in context
        ]
        blocks.append({"type": "context", "elements": items})
    return {"text": _cut(text_line(note), SECTION_CHARS), "blocks": blocks}


def _attachments(note: Notification) -> dict[str, Any]:
    colour = "good" if note.kind in ("resolve", "test") else COLOURS.get(note.severity, "warning")
    fields = [
        {"title": title, "value": value, "short": len(value) < 40} for title, value in facts(note)
    ]
    if note.first_step and note.kind != "resolve":
        fields.append({"title": "First step", "value": note.first_step, "short": False})
    if note.blocked:
        fields.append({"title": "Blocked checks", "value": ", ".join(note.blocked), "short": False})
    attachment: dict[str, Any] = {"color": colour, "fields": fields, "fallback": text_line(note)}
    if note.report_url:
        attachment["title"] = "Open the report"
        attachment["title_link"] = note.report_url
    return {"text": _cut(escape(text_line(note)), SECTION_CHARS), "attachments": [attachment]}


def parse(answer: Answer) -> tuple[bool, str]:
    """Slack's answer: `200 ok`, or an error string such as `invalid_blocks`."""
    text = answer.text.strip()
    if answer.status == 200 and text == "ok":
        return True, "ok"
    return False, text or "no error text"


class SlackChannel:
    """Posts to one incoming webhook."""

    type = "slack"

    def __init__(self, name: str, config: SlackConfig) -> None:
        self.name = name
        self.config = config

    def __repr__(self) -> str:
        return f"SlackChannel({self.name!r})"  # never the webhook URL

    def secrets(self) -> tuple[str, ...]:
        """The webhook URL (it is the credential)."""
        return (self.config.webhook_url.get_secret_value(),)

    def send(self, note: Notification, sender: Sender) -> Receipt:
        """POST the payload and read Slack's answer."""
        body = json.dumps(payload(note, self.config.format), ensure_ascii=False).encode()
        headers = {"content-type": "application/json; charset=utf-8"}
        url = self.config.webhook_url.get_secret_value()
        return post_and_parse(self.name, sender, url, body, headers, parse, self.secrets())
