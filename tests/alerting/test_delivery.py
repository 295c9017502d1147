"""The alerting stage end to end: real sandbox runs replayed on a fake clock through
`synthetics.finish`, every channel a local server speaking its service's API.

The runs are tests/alerting/runs/*.json, recorded once from the sandbox with
`python -m synthetics.cli run [--fault email.drop | --fault security.anon_grant] --trigger schedule
--set thresholds.email_timeout_s=2 --set thresholds.email_sla_s=1 --report-dir …` and replayed
here at new start times (a real run takes seconds; the scenario needs hours of them).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine

from synthetics.alerting.config import AlertsConfig
from synthetics.alerting.delivery import AlertDelivery, HeartbeatPing
from synthetics.alerting.heartbeat import HeartbeatConfig
from synthetics.alerting.sender import Sender
from synthetics.alerting.state import SqlStateStore
from synthetics.finish import Finish, ResultsJson, finish
from synthetics.redact import Redactor
from synthetics.results import RunResult
from synthetics.status import Status
from tests.alerting.conftest import Services, replay
from tests.alerting.services import PD_ROUTING_KEY, WEBHOOK_SECRET


@dataclass(frozen=True)
class RateEvaluation:
    """The shape of synthetics.rules.rates.Evaluation (what alerting reads of it)."""

    rule: str
    title: str
    state: str
    level: Status | None
    value: float | None
    message: str


def email_delivery_rule(runs: Sequence[RunResult], now: datetime) -> list[RateEvaluation]:
    """The runbook's email delivery rate over the last 2 h, at least 3 runs: < 90 % info,
    < 80 % warning, < 50 % critical. A stand-in for the history branch's
    `synthetics.rules.rates` (not merged yet): once it is, the stage gets
    `judge(store.runs(...), now, policy).current` instead."""
    window = [r for r in runs if now - timedelta(hours=2) < r.started_at <= now]
    attempts = [r.check("email.delivery") for r in window]
    seen = [
        c for c in attempts if c is not None and c.status not in (Status.BLOCKED, Status.SKIPPED)
    ]
    if len(seen) < 3:
        return [
            RateEvaluation("email_delivery", "email delivery", "insufficient_data", None, None, "")
        ]
    rate = sum(1 for c in seen if c.status is Status.OK) / len(seen)
    for level, limit in ((Status.CRITICAL, 0.5), (Status.WARNING, 0.8), (Status.INFO, 0.9)):
        if rate < limit:
            message = (
                f"email delivery within the SLA {rate:.0%} < {limit:.0%} over {len(seen)} runs"
            )
            return [
                RateEvaluation("email_delivery", "email delivery", "firing", level, rate, message)
            ]
    return [RateEvaluation("email_delivery", "email delivery", "ok", None, rate, "")]


class Harness:
    """Runs replayed through finish() with the alerting stages, as `synthetics run` would."""

    def __init__(
        self, services: Services, tmp: Path, extra: str = "", *, rules: bool = True
    ) -> None:
        self.services = services
        self.tmp = tmp
        self.history: list[RunResult] = []
        raw = {
            "repeat_interval": "6h",
            "channels": {
                "oncall": {"type": "slack", "webhook_url": services.slack_url},
                "pager": {
                    "type": "pagerduty",
                    "routing_key": PD_ROUTING_KEY,
                    "url": services.pagerduty_url,
                },
                "hook": {"type": "webhook", "url": services.webhook_url, "secret": WEBHOOK_SECRET},
                "ci": {"type": "github"},
            },
        }
        if extra:
            raw.update(json.loads(extra))
        self.alerts = AlertsConfig.model_validate(raw)
        self.store = SqlStateStore(create_engine(f"sqlite:///{tmp / 'history.sqlite'}"))
        self.stdout = io.StringIO()
        self.summary = tmp / "step_summary.md"
        self.notices: list[list[str]] = []
        self.heartbeat = HeartbeatConfig(url=SecretStr(services.ping_url), expected_interval="30m")
        self.stage = AlertDelivery(
            self.alerts,
            self.store,
            heartbeat=self.heartbeat,
            rules=(lambda run: email_delivery_rule(self.history, run.started_at))
            if rules
            else None,
            clock=services.clock,
            sender=Sender(sleep=lambda s: None, redactor=Redactor()),
            stream=self.stdout,
            env={"GITHUB_STEP_SUMMARY": str(self.summary)},
        )

    def run(self, name: str, *, trigger: str = "schedule") -> RunResult:
        run = replay(name, self.services.clock.now, trigger=trigger)
        self.history.append(run)
        context = Finish(report_dir=self.tmp / run.run_id, redactor=Redactor())
        ping = HeartbeatPing(self.heartbeat, sender=Sender(sleep=lambda s: None))
        finish(run, context, [self.stage, ping, ResultsJson()])
        self.notices.append(list(context.notices))
        self.services.clock.advance(minutes=30)
        return run

    def outputs(self) -> str:
        """Everything our side wrote: stdout, the job summary, every results.json, the
        deliveries recorded, the notices."""
        files = [p.read_text(encoding="utf-8") for p in self.tmp.glob("*/results.json")]
        records = [json.dumps(r.__dict__, default=str) for r in self.store.deliveries()]
        return "\n".join(
            [
                self.stdout.getvalue(),
                self.summary.read_text(encoding="utf-8"),
                *files,
                *records,
                json.dumps(self.notices),
            ]
        )


def said(service_bodies: list[dict[str, object]], kind: str) -> list[str]:
    """`kind:subject:severity` per message a service accepted."""
    found = []
    for body in service_bodies:
        if kind == "slack":
            found.append(
                str(body["text"]).split(":", 1)[0]
                + ":"
                + str(body["text"]).split(" on ")[0].split(": ", 1)[-1]
            )
        elif kind == "pagerduty":
            found.append(f"{body['event_action']}:{str(body['dedup_key']).rsplit('/', 1)[-1]}")
        else:
            found.append(f"{body['kind']}:{body['subject']}:{body['severity']}")
    return found


def test_done_when_the_runbook_sequence(services: Services, tmp_path: Path) -> None:
    """(1) clean runs; (2) email.drop on 3 runs; (3) security.anon_grant on 1 run; (4) a
    maintenance window; (5) recovery: no page for the first email failure; one Slack warning,
    then one Slack critical and a PagerDuty trigger; the security page at once; nothing during
    maintenance; one resolve per open alert."""
    start = services.clock.now
    window = {
        "maintenance": [
            {
                "name": "db-upgrade",
                "start": (start + timedelta(minutes=200)).isoformat(),
                "duration": "1h",
            }
        ]
    }
    h = Harness(services, tmp_path, json.dumps(window))
    plan = (
        ["clean"] * 3
        + ["email.drop"] * 3
        + ["security.anon_grant"]
        + ["email.drop"] * 2
        + ["clean"] * 4
    )
    pages_after: list[int] = []
    for name in plan:
        run = h.run(name)
        assert run.status is (
            Status.OK if name == "clean" else Status.CRITICAL
        )  # verdicts untouched
        pages_after.append(len(services.pagerduty.accepted()))

    hooks = services.webhook.accepted()
    assert [f"{b['kind']}:{b['subject']}:{b['severity']}" for b in hooks] == [
        # 1st email failure: the rate rule fires (75 % < 80 %); the check is only pending
        "trigger:email.delivery:warning",
        "escalate:email.delivery:critical",  # 2nd: the check fires (failure_threshold 2)
        "trigger:security:critical",  # security.anon_grant: at once, one page for 3 probes
        "resolve:security:critical",  # held through the window, sent after it
        "resolve:email.delivery:critical",  # recovery: 2 passes and the rate back in range
    ]
    slack = [b["text"] for b in services.slack.accepted()]
    assert [t.split(": ", 2)[0] + ": " + t.split(": ", 2)[1] for t in slack] == [
        "[ALERT] WARNING: email.delivery on sandbox",
        "[ALERT] CRITICAL: email.delivery on sandbox (was warning)",
        "[ALERT] CRITICAL: security on sandbox",
        "RESOLVED: security on sandbox",
        "RESOLVED: email.delivery on sandbox",
    ]
    pd = [(b["event_action"], b["dedup_key"]) for b in services.pagerduty.accepted()]
    assert pd == [
        ("trigger", "synthetics/sandbox/email.delivery"),
        ("trigger", "synthetics/sandbox/security"),
        ("resolve", "synthetics/sandbox/security"),
        ("resolve", "synthetics/sandbox/email.delivery"),
    ]
    # no page for the first email failure; the page on the second; security at once
    assert pages_after[3] == 0 and pages_after[4] == 1 and pages_after[6] == 2
    security = services.pagerduty.accepted()[1]["payload"]["custom_details"]["checks"]
    assert security == ["security.anon_rpc", "security.direct_table", "security.advisor"]
    email = services.pagerduty.accepted()[0]["payload"]["custom_details"]
    assert email["blocked"] == [
        "deeplink.redirect",
        "deeplink.browser",
        "deeplink.single_use",
        "auth.session",
    ]
    # nothing during maintenance (runs 8 and 9): recorded as muted, sent nowhere
    muted = [r for r in h.store.deliveries() if r.outcome == "muted"]
    assert [(r.kind, r.subject, r.detail) for r in muted] == [("resolve", "security", "db-upgrade")]
    assert h.store.muted_runs() == [muted[0].run_id]
    assert pages_after[7] == pages_after[8] == 2
    # every run pinged the dead-man URL: success on ok runs, /2 on critical ones
    events = [b["event"] for b in services.ping.accepted()]
    assert events == ["success" if n == "clean" else "2" for n in plan]
    assert all(notices == [] for notices in h.notices)
    # the job summary rendered each run, and no secret in anything we wrote
    assert h.summary.read_text(encoding="utf-8").count("## synthetics:") == len(plan)
    written = h.outputs()
    for secret in services.secrets():
        assert secret not in written


def test_outage_reminders_recovery_on_each_channel(services: Services, tmp_path: Path) -> None:
    """An outage that lasts 3 h: trigger, reminders every repeat_interval, one resolve."""
    h = Harness(services, tmp_path, json.dumps({"repeat_interval": "1h"}), rules=False)
    for name in ["clean"] + ["email.drop"] * 7 + ["clean"] * 2:
        h.run(name)
    expected = [
        "trigger:email.delivery:critical",  # t=60 (2nd failure)
        "reminder:email.delivery:critical",  # t=120
        "reminder:email.delivery:critical",  # t=180
        "resolve:email.delivery:critical",  # t=270 (2nd pass)
    ]
    assert [
        f"{b['kind']}:{b['subject']}:{b['severity']}" for b in services.webhook.accepted()
    ] == expected
    assert [b["event_action"] for b in services.pagerduty.accepted()] == [
        "trigger",
        "trigger",
        "trigger",
        "resolve",
    ]
    slack = [b["text"].split(": ", 2)[1] for b in services.slack.accepted()]
    assert slack == [
        "email.delivery on sandbox",
        "email.delivery on sandbox (still failing)",
        "email.delivery on sandbox (still failing)",
        "email.delivery on sandbox",
    ]
    resolve = services.webhook.accepted()[-1]
    assert resolve["since"] == (services.clock.now - timedelta(minutes=270)).isoformat()
    assert "recovered after 4 h" in resolve["message"]


def test_a_failed_delivery_is_retried_recorded_and_reported_and_hides_nothing(
    services: Services, tmp_path: Path
) -> None:
    h = Harness(services, tmp_path, rules=False)
    h.run("security.anon_grant")  # fires at once
    services.slack.fail = 10  # Slack keeps failing through every retry
    h.services.clock.advance(minutes=1)
    services.slack.received.clear()
    services.webhook.received.clear()
    h.run("clean")
    h.run("clean")  # the resolve
    assert len(services.slack.received) == 3 and all(
        r.status == 500 for r in services.slack.received
    )
    assert [b["event_action"] for b in services.pagerduty.accepted()] == ["trigger", "resolve"]
    assert [b["kind"] for b in services.webhook.accepted()] == ["resolve"]
    (notice,) = h.notices[-1]
    assert notice.startswith(
        "alerting: warning: resolve of security to oncall (slack) failed: HTTP 500"
    )
    results = json.loads((tmp_path / h.history[-1].run_id / "results.json").read_text())
    assert results["status"] == "ok" and results["notices"] == [notice]
    failed = [r for r in h.store.deliveries() if r.outcome == "failed"]
    assert [(r.channel, r.status) for r in failed] == [("oncall", 500)]


@pytest.mark.parametrize("trigger", ["release", "manual", "ci"])
def test_release_manual_and_ci_runs_never_page(
    services: Services, tmp_path: Path, trigger: str
) -> None:
    h = Harness(services, tmp_path, rules=False)
    for _ in range(3):
        h.run("security.anon_grant", trigger=trigger)
    assert services.pagerduty.received == services.slack.received == services.webhook.received == []
    assert h.summary.read_text(encoding="utf-8").count("CRITICAL on sandbox") == 3  # still reported
    assert h.store.states("sandbox") == {}


def test_a_route_can_page_release_runs(services: Services, tmp_path: Path) -> None:
    routes = {"routes": [{"severity": "critical", "channels": ["pager"], "triggers": ["release"]}]}
    h = Harness(services, tmp_path, json.dumps(routes), rules=False)
    h.run("security.anon_grant", trigger="release")
    assert [b["event_action"] for b in services.pagerduty.accepted()] == ["trigger"]
    assert services.slack.received == []


def test_a_run_after_a_gap_raises_the_schedule_warning(services: Services, tmp_path: Path) -> None:
    h = Harness(services, tmp_path, rules=False)
    h.run("clean")
    services.clock.advance(hours=3)  # the schedule stopped for three hours
    h.run("clean")
    (hook,) = services.webhook.accepted()
    assert (hook["kind"], hook["subject"], hook["severity"]) == (
        "trigger",
        "monitor.schedule",
        "warning",
    )
    assert "no run recorded for 3 h 30 min (expected every 30 min" in hook["message"]
    assert services.pagerduty.received == []  # a warning: Slack and the webhook only


@pytest.mark.parametrize(
    ("trigger", "pinged"), [("schedule", True), ("manual", False), ("release", False)]
)
def test_the_dead_man_switch_hears_only_the_schedule(
    services: Services, tmp_path: Path, trigger: str, pinged: bool
) -> None:
    """A manual or release run that pinged would hide a schedule that stopped."""
    config = HeartbeatConfig(url=SecretStr(services.ping_url))
    run = replay("clean", services.clock.now, trigger=trigger)
    context = Finish(report_dir=tmp_path, redactor=Redactor())
    finish(
        run, context, [HeartbeatPing(config, sender=Sender(sleep=lambda s: None)), ResultsJson()]
    )
    assert bool(services.ping.received) is pinged
