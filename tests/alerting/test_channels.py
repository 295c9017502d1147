"""Each channel against a local server that speaks its service's documented API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from synthetics.alerting import build_channel
from synthetics.alerting.heartbeat import Heartbeat, HeartbeatConfig, ping_url, run_uuid
from synthetics.alerting.model import Notification
from synthetics.alerting.pagerduty import PagerDutyConfig, event
from synthetics.alerting.sender import Sender
from synthetics.alerting.slack import SlackConfig, payload
from synthetics.alerting.slack import parse as slack_parse
from synthetics.alerting.webhook import SCHEMA, WebhookConfig, body, sign, verify
from synthetics.catalog import FIRST_STEPS, PLAN_A
from synthetics.status import Status
from tests.alerting.conftest import FakeClock, Services
from tests.alerting.services import PD_ROUTING_KEY, WEBHOOK_SECRET

AT = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def note(
    kind: str = "trigger", severity: Status = Status.CRITICAL, **extra: object
) -> Notification:
    fields: dict[str, object] = {
        "kind": kind,
        "target": "production",
        "subject": "email.delivery",
        "severity": severity,
        "at": AT,
        "message": "no confirmation email within 120 s [4 dependent check(s) blocked]",
        "run_id": "20261201t000000-abc123",
        "checks": ("email.delivery",),
        "blocked": ("deeplink.redirect", "auth.session"),
        "runbook": PLAN_A,
        "first_step": FIRST_STEPS[PLAN_A],
        "value": "not delivered",
        "threshold": "email_timeout_s = 120 s",
        "since": AT - timedelta(minutes=15),
        "report_url": "https://github.com/o/r/actions/runs/1",
    }
    fields.update(extra)
    return Notification(**fields)  # type: ignore[arg-type]


def sender(**options: object) -> Sender:
    waits: list[float] = []
    return Sender(sleep=waits.append, **options)  # type: ignore[arg-type]


# -- Slack ------------------------------------------------------------------------------------


def _texts(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


@pytest.mark.parametrize(
    ("kind", "severity", "expect"),
    [
        ("trigger", Status.CRITICAL, ":red_circle: CRITICAL: email.delivery on production"),
        ("trigger", Status.WARNING, ":large_orange_circle: WARNING: email.delivery on production"),
        ("escalate", Status.CRITICAL, "CRITICAL: email.delivery on production (was warning)"),
        ("reminder", Status.CRITICAL, "CRITICAL: email.delivery on production (still failing)"),
        ("resolve", Status.CRITICAL, ":white_check_mark: RESOLVED: email.delivery on production"),
        ("test", Status.INFO, ":test_tube: TEST: INFO: email.delivery on production"),
    ],
)
def test_slack_blocks_header(kind: str, severity: Status, expect: str) -> None:
    built = payload(note(kind, severity, previous_severity=Status.WARNING))
    header = built["blocks"][0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert expect in header["text"]["text"]


def test_slack_blocks_carry_what_the_on_call_engineer_needs() -> None:
    built = payload(note())
    text = _texts(built["blocks"])
    for expected in (
        "*Severity*\\nCRITICAL",
        "*Check or rule*\\nemail.delivery",
        "not delivered",
        "email_timeout_s = 120 s",
        "*Duration*\\n15 min",
        PLAN_A.split(":")[0],
        "*First step:* Revert the Auth settings",
        "Blocked by it: deeplink.redirect, auth.session",
        "<https://github.com/o/r/actions/runs/1|Open the report>",
    ):
        assert expected in text
    assert built["text"].startswith(
        "[ALERT] CRITICAL: email.delivery on production: no confirmation"
    )


@pytest.mark.parametrize(
    ("severity", "kind", "colour"),
    [
        (Status.CRITICAL, "trigger", "danger"),
        (Status.WARNING, "trigger", "warning"),
        (Status.INFO, "trigger", "#439FE0"),
        (Status.CRITICAL, "resolve", "good"),
    ],
)
def test_slack_attachments_follow_the_runbook_example(
    severity: Status, kind: str, colour: str
) -> None:
    built = payload(note(kind, severity), "attachments")
    (attachment,) = built["attachments"]
    assert attachment["color"] == colour
    titles = [f["title"] for f in attachment["fields"]]
    assert {"Current value", "Duration"} <= set(titles)
    if kind == "trigger":
        assert built["text"].startswith(f"[ALERT] {severity.value.upper()}: email.delivery")


def test_slack_text_from_a_target_is_escaped_and_cut_to_block_kit_limits() -> None:
    built = payload(note(message="<script>&" + "x" * 5000, subject="s" * 400))
    section = built["blocks"][1]["text"]["text"]
    assert section.startswith("&lt;script&gt;&amp;") and len(section) <= 3000
    assert len(built["blocks"][0]["text"]["text"]) <= 150


def test_slack_accepts_our_blocks_and_attachments(services: Services) -> None:
    for fmt in ("blocks", "attachments"):
        channel = build_channel(
            "oncall",
            SlackConfig(type="slack", webhook_url=SecretStr(services.slack_url), format=fmt),
        )
        receipt = channel.send(note(message="<b>x</b> & " + "y" * 4000), sender())
        assert receipt.ok and receipt.status == 200 and receipt.detail == "ok", receipt
    assert len(services.slack.accepted()) == 2


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"not json", 400, "invalid_payload"),
        (b'{"username": "x"}', 400, "no_text"),
        (
            json.dumps(
                {
                    "text": "t",
                    "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}],
                }
            ).encode(),
            400,
            "invalid_blocks",
        ),
        (
            json.dumps({"text": "t", "blocks": [{"type": "section"}] * 51}).encode(),
            400,
            "invalid_blocks",
        ),
    ],
)
def test_slack_refusals_are_read_as_slack_says_them(
    services: Services, raw: bytes, status: int, error: str
) -> None:
    answer = sender().post(
        "oncall", services.slack_url, body=raw, headers={"content-type": "application/json"}
    )
    assert (answer.status, slack_parse(answer)) == (status, (False, error))


def test_an_unknown_slack_hook_is_a_failed_delivery_without_the_url(services: Services) -> None:
    gone = services.slack_url.rsplit("/", 1)[0] + "/RevokedSecretPart99"
    receipt = build_channel("oncall", SlackConfig(type="slack", webhook_url=SecretStr(gone))).send(
        note(), sender()
    )
    assert (receipt.ok, receipt.status, receipt.detail) == (False, 404, "no_service")
    assert "RevokedSecretPart99" not in receipt.line()


def test_rate_limits_are_retried_after_retry_after(services: Services) -> None:
    services.slack.rate_limit, services.slack.retry_after = 2, "7"
    waits: list[float] = []
    receipt = build_channel(
        "oncall", SlackConfig(type="slack", webhook_url=SecretStr(services.slack_url))
    ).send(note(), Sender(sleep=waits.append, retries=2))
    assert receipt.ok and receipt.attempts == 3
    assert waits == [7.0, 7.0]
    assert [r.status for r in services.slack.received] == [429, 429, 200]


def test_retry_after_as_an_http_date_and_a_wait_too_long(services: Services) -> None:
    services.slack.rate_limit, services.slack.retry_after = 1, "Tue, 01 Dec 2026 00:00:30 GMT"
    waits: list[float] = []
    answer = Sender(sleep=waits.append, clock=lambda: AT).post(
        "oncall", services.slack_url, body=b'{"text": "t"}', headers={}
    )
    assert answer.status == 200 and waits == [30.0]
    services.slack.rate_limit, services.slack.retry_after = 1, "3600"
    receipt = build_channel(
        "oncall", SlackConfig(type="slack", webhook_url=SecretStr(services.slack_url))
    ).send(note(), Sender(sleep=waits.append, max_wait_s=60))
    assert not receipt.ok and receipt.status == 429 and "retry after 3600 s" in receipt.detail


def test_server_errors_are_retried_with_backoff_then_reported(services: Services) -> None:
    services.slack.fail = 5
    waits: list[float] = []
    receipt = build_channel(
        "oncall", SlackConfig(type="slack", webhook_url=SecretStr(services.slack_url))
    ).send(note(), Sender(sleep=waits.append, retries=2, backoff_s=0.5))
    assert (receipt.ok, receipt.status) == (False, 500)
    assert waits == [0.5, 1.0] and "after 3 attempt(s)" in receipt.detail
    assert services.slack_url not in receipt.line()


def test_no_answer_is_a_failed_delivery_naming_no_url() -> None:
    url = "http://127.0.0.1:9/services/T0/B0/SecretTokenUnreachable"
    receipt = build_channel("oncall", SlackConfig(type="slack", webhook_url=SecretStr(url))).send(
        note(), Sender(sleep=lambda s: None, retries=1, timeout_s=2)
    )
    assert not receipt.ok and receipt.status is None and "could not connect" in receipt.detail
    assert "SecretTokenUnreachable" not in receipt.line()


# -- PagerDuty --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "pd"),
    [(Status.CRITICAL, "critical"), (Status.WARNING, "warning"), (Status.INFO, "info")],
)
def test_pagerduty_severity_mapping_and_stable_dedup_key(severity: Status, pd: str) -> None:
    built = event(note(severity=severity), PD_ROUTING_KEY)
    assert built["event_action"] == "trigger" and built["payload"]["severity"] == pd
    assert built["dedup_key"] == "synthetics/production/email.delivery"
    assert event(note("reminder", severity), PD_ROUTING_KEY)["dedup_key"] == built["dedup_key"]
    resolve = event(note("resolve", severity), PD_ROUTING_KEY)
    assert resolve == {
        "routing_key": PD_ROUTING_KEY,
        "dedup_key": built["dedup_key"],
        "event_action": "resolve",
    }


def test_pagerduty_trigger_and_resolve_are_accepted(services: Services) -> None:
    channel = build_channel(
        "pager",
        PagerDutyConfig(
            type="pagerduty", routing_key=SecretStr(PD_ROUTING_KEY), url=services.pagerduty_url
        ),
    )
    for kind in ("trigger", "resolve"):
        receipt = channel.send(note(kind, message="m" * 3000), sender())
        assert (receipt.ok, receipt.status, receipt.detail) == (True, 202, "Event processed")
    sent = services.pagerduty.accepted()
    assert [b["event_action"] for b in sent] == ["trigger", "resolve"]
    assert len(sent[0]["payload"]["summary"]) <= 1024
    assert sent[0]["payload"]["custom_details"]["blocked"] == ["deeplink.redirect", "auth.session"]


def test_pagerduty_invalid_event_reports_its_errors_and_is_not_retried(services: Services) -> None:
    channel = build_channel(
        "pager",
        PagerDutyConfig(
            type="pagerduty", routing_key=SecretStr("too-short-key"), url=services.pagerduty_url
        ),
    )
    receipt = channel.send(note(), sender())
    assert (receipt.ok, receipt.status, receipt.attempts) == (False, 400, 1)
    assert "Length of 'routing_key' is incorrect" in receipt.detail
    assert "too-short-key" not in receipt.line()


def test_pagerduty_429_is_retried(services: Services) -> None:
    services.pagerduty.rate_limit, services.pagerduty.retry_after = 1, "2"
    channel = build_channel(
        "pager",
        PagerDutyConfig(
            type="pagerduty", routing_key=SecretStr(PD_ROUTING_KEY), url=services.pagerduty_url
        ),
    )
    receipt = channel.send(note(), sender())
    assert receipt.ok and receipt.attempts == 2


# -- generic webhook --------------------------------------------------------------------------


def test_webhook_body_is_the_documented_schema() -> None:
    doc = body(note("escalate", previous_severity=Status.WARNING))
    assert doc["schema"] == SCHEMA == "synthetics/alert@1"
    assert (doc["kind"], doc["severity"], doc["previous_severity"]) == (
        "escalate",
        "critical",
        "warning",
    )
    assert doc["duration_s"] == 900.0 and doc["dedup_key"] == "synthetics/production/email.delivery"
    assert set(doc) >= {
        "target",
        "subject",
        "title",
        "message",
        "checks",
        "blocked",
        "runbook",
        "first_step",
        "value",
        "threshold",
        "since",
        "at",
        "run_id",
        "trigger",
        "location",
        "report_url",
    }


def test_webhook_signature_verifies_at_a_receiver_and_a_replay_does_not(
    services: Services, clock: FakeClock
) -> None:
    channel = build_channel(
        "hook",
        WebhookConfig(
            type="webhook", url=SecretStr(services.webhook_url), secret=SecretStr(WEBHOOK_SECRET)
        ),
    )
    receipt = channel.send(note(at=clock.now), sender())
    assert (receipt.ok, receipt.status) == (True, 204)
    (received,) = services.webhook.received
    assert received.body["schema"] == SCHEMA
    assert received.headers["x-synthetics-signature"].startswith("sha256=")
    clock.advance(minutes=10)  # the same (signed) request, replayed ten minutes later
    stale = channel.send(note(at=clock.now - timedelta(minutes=10)), sender())
    assert (stale.ok, stale.status) == (False, 401)
    wrong = build_channel(
        "hook",
        WebhookConfig(
            type="webhook",
            url=SecretStr(services.webhook_url),
            secret=SecretStr("another-secret-of-16+"),
        ),
    ).send(note(at=clock.now), sender())
    assert (wrong.ok, wrong.status) == (False, 401)


def test_verify_is_what_the_docs_describe() -> None:
    raw = b'{"schema":"synthetics/alert@1"}'
    headers = {
        "X-Synthetics-Timestamp": str(int(AT.timestamp())),
        "X-Synthetics-Signature": sign("k" * 16, int(AT.timestamp()), raw),
    }
    assert verify("k" * 16, headers, raw, AT)
    assert not verify("k" * 16, headers, raw + b" ", AT)
    assert not verify("k" * 16, headers, raw, AT + timedelta(minutes=6))


# -- heartbeat --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_", "suffix"),
    [("start", "/start"), (0, ""), ("success", ""), (2, "/2"), (4, "/4"), ("fail", "/fail")],
)
def test_ping_urls(event_: str | int, suffix: str) -> None:
    assert ping_url("https://hc-ping.com/uuid/", event_) == "https://hc-ping.com/uuid" + suffix


def test_heartbeat_pings_start_and_exit_status_with_one_run_id(services: Services) -> None:
    beat = Heartbeat(HeartbeatConfig(url=SecretStr(services.ping_url)), sender())
    assert beat.start("run-1") is not None
    for code in (0, 2):
        receipt = beat.finish("run-1", code)
        assert receipt is not None and receipt.ok and receipt.detail == "OK"
    got = [r.body for r in services.ping.received]
    assert [g["event"] for g in got] == ["start", "success", "2"]
    assert {g["rid"] for g in got} == {run_uuid("run-1")}
    assert Heartbeat(HeartbeatConfig(), sender()).start("x") is None  # no URL: no ping
