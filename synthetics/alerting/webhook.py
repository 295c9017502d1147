"""A generic webhook: a documented, versioned JSON body, signed with HMAC-SHA256.

```toml
[alerts.channels.hook]
type = "webhook"
url = "${ALERT_WEBHOOK_URL}"
secret = "${ALERT_WEBHOOK_SECRET}"
```

The body (`schema: "synthetics/alert@1"`; fields may be added, none removed or renamed):

| field | meaning |
|---|---|
| `schema` | `"synthetics/alert@1"` |
| `kind` | `trigger`, `escalate` (severity rose), `reminder`, `resolve` or `test` |
| `dedup_key` | the same for every notification of one target and subject |
| `target`, `subject` | what is alerting: a check id, `rpc.*`, `security`, `rule:<id>`… |
| `severity`, `previous_severity` | `critical` / `warning` / `info`; the one before an escalation |
| `title`, `message` | one line each |
| `checks`, `blocked` | the checks showing the cause; the checks it kept from running |
| `runbook`, `first_step` | the runbook section to open and what to do first |
| `value`, `threshold` | the current value and what it is judged by (text) |
| `since`, `at`, `duration_s` | when it started, when this was sent (ISO 8601), how long so far |
| `run_id`, `trigger`, `location`, `report_url` | the run that said so |

Each request carries two headers:

    X-Synthetics-Timestamp: 1764627600
    X-Synthetics-Signature: sha256=<hex>

where <hex> is the HMAC-SHA256, keyed by `secret`, of `"<timestamp>."` followed by the raw body.

To verify: take the raw body bytes as received (before any JSON parsing), compute
`hmac.new(secret, f"{timestamp}.".encode() + body, "sha256").hexdigest()`, compare it with the
header's hex in constant time (`hmac.compare_digest`), and refuse a timestamp more than five
minutes from your clock: a replayed request then fails, because the timestamp is signed too.
Any 2xx answer is success.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from synthetics.alerting.base import Receipt, post_and_parse
from synthetics.alerting.model import Notification
from synthetics.alerting.sender import Answer, Sender

SCHEMA = "synthetics/alert@1"
SIGNATURE_HEADER = "X-Synthetics-Signature"
TIMESTAMP_HEADER = "X-Synthetics-Timestamp"
#: How far a receiver should accept a timestamp from its own clock.
TOLERANCE_S = 300


class WebhookConfig(BaseModel):
    """A generic webhook and its signing secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["webhook"]
    url: SecretStr
    secret: SecretStr

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("the signing secret must be at least 16 characters")
        return value


def body(note: Notification) -> dict[str, Any]:
    """The `synthetics/alert@1` document for `note`."""
    return {
        "schema": SCHEMA,
        "kind": note.kind,
        "dedup_key": note.dedup_key,
        "target": note.target,
        "subject": note.subject,
        "severity": note.severity.value,
        "previous_severity": note.previous_severity.value if note.previous_severity else None,
        "title": note.title,
        "message": note.message,
        "checks": list(note.checks),
        "blocked": list(note.blocked),
        "runbook": note.runbook,
        "first_step": note.first_step,
        "value": note.value,
        "threshold": note.threshold,
        "since": note.since.isoformat() if note.since else None,
        "at": note.at.isoformat(),
        "duration_s": round(note.duration.total_seconds(), 3),
        "run_id": note.run_id,
        "trigger": note.trigger,
        "location": note.location,
        "report_url": note.report_url,
    }


def sign(secret: str, timestamp: int, raw: bytes) -> str:
    """`sha256=<hex>` over `"<timestamp>." + raw`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, headers: dict[str, str], raw: bytes, now: datetime) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    lower = {k.lower(): v for k, v in headers.items()}
    stamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    if not stamp.isdigit() or abs(now.timestamp() - int(stamp)) > TOLERANCE_S:
        return False
    expected = sign(secret, int(stamp), raw)
    return hmac.compare_digest(expected, lower.get(SIGNATURE_HEADER.lower(), ""))


def parse(answer: Answer) -> tuple[bool, str]:
    """Any 2xx is success."""
    ok = 200 <= answer.status < 300
    return ok, "accepted" if ok else (answer.text or "refused")


class WebhookChannel:
    """Posts signed `synthetics/alert@1` documents."""

    type = "webhook"

    def __init__(self, name: str, config: WebhookConfig) -> None:
        self.name = name
        self.config = config

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r})"

    def secrets(self) -> tuple[str, ...]:
        """The URL and the signing secret."""
        return (self.config.url.get_secret_value(), self.config.secret.get_secret_value())

    def send(self, note: Notification, sender: Sender) -> Receipt:
        """Sign and POST the document (the timestamp is the notification's time)."""
        raw = json.dumps(body(note), ensure_ascii=False, separators=(",", ":")).encode()
        stamp = int(note.at.timestamp())
        headers = {
            "content-type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self.config.secret.get_secret_value(), stamp, raw),
            "X-Synthetics-Event": note.kind,
        }
        url = self.config.url.get_secret_value()
        return post_and_parse(self.name, sender, url, raw, headers, parse, self.secrets())
