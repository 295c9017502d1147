"""GitHub's files checked as GitHub reads them: workflow commands parsed the way the runner parses
them (actions/runner `ActionCommand.TryParseV2`), the job summary rendered by cmark-gfm (GitHub's
own Markdown renderer, via cmarkgfm) and asserted on as HTML."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest

from synthetics.alerting.github import (
    GitHubChannel,
    GitHubConfig,
    RunView,
    annotation_lines,
    command,
    escape_data,
    escape_property,
    sparkline,
    summary,
)
from synthetics.alerting.model import AlertState, Notification
from synthetics.status import Status
from tests.alerting.conftest import replay

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def runner_parse(line: str) -> tuple[str, dict[str, str], str] | None:
    """What the Actions runner makes of one stdout line (TryParseV2, with its unescaping)."""
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props = info.partition(" ")
    if name not in ("error", "warning", "notice"):
        return None
    properties = {}
    for part in [p for p in props.strip().split(",") if p]:
        key, sep, value = part.partition("=")
        if sep and key and value:
            for token, escaped in (
                ("\r", "%0D"),
                ("\n", "%0A"),
                (":", "%3A"),
                (",", "%2C"),
                ("%", "%25"),
            ):
                value = value.replace(escaped, token)
            properties[key] = value
    data = message[end + 2 :]
    for token, escaped in (("\r", "%0D"), ("\n", "%0A"), ("%", "%25")):
        data = data.replace(escaped, token)
    return name, properties, data


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("100% done", "100%25 done", "100%25 done"),
        ("a\nb\r\nc", "a%0Ab%0D%0Ac", "a%0Ab%0D%0Ac"),
        ("x: y, z", "x: y, z", "x%3A y%2C z"),
        ("%0A literal", "%250A literal", "%250A literal"),
    ],
)
def test_escaping_as_github_documents_it(text: str, data: str, prop: str) -> None:
    assert escape_data(text) == data
    assert escape_property(text) == prop


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("CRITICAL email.delivery on production", "no email within 2 s\nFirst step: revert"),
        ("a: b, c %", "50% of 2 runs: a, b :: c"),
        ("t", "evil\n::set-env name=X::1\n::error::forged"),
    ],
)
def test_commands_round_trip_through_the_runner_parser(title: str, message: str) -> None:
    line = command("error", message, title=title)
    assert "\n" not in line and "\r" not in line  # one line: nothing can start a command of its own
    assert runner_parse(line) == ("error", {"title": title}, message)


def _view(name: str, **extra: object) -> RunView:
    run = replay(name, T0)
    return RunView(run=run, **extra)  # type: ignore[arg-type]


def test_annotations_one_per_alert_with_its_level_and_lifecycle() -> None:
    states = {
        "email.delivery": AlertState(
            "sandbox", "email.delivery", phase="pending", severity=Status.CRITICAL, failures=1
        )
    }
    lines = annotation_lines(_view("email.drop", states=states))
    parsed = [runner_parse(line) for line in lines]
    assert [p[0] for p in parsed if p] == ["error"]
    _, props, data = parsed[0]  # type: ignore[misc]
    assert props["title"] == "CRITICAL email.delivery on sandbox"
    assert "no confirmation email" in data and "First step: Revert the Auth settings" in data
    assert "Alert: pending, 1 failure(s)" in data


def test_no_more_than_ten_annotations_of_a_kind() -> None:
    run = replay("security.anon_grant", T0)
    run.recorded_alerts = run.alerts * 5
    assert len(annotation_lines(RunView(run=run))) == 10


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def render(markdown: str) -> _Tables:
    html = cmarkgfm.github_flavored_markdown_to_html(markdown)
    parsed = _Tables()
    parsed.feed(html)
    parsed.html = html  # type: ignore[attr-defined]
    return parsed


def test_the_summary_renders_as_github_flavoured_markdown() -> None:
    run = replay("email.drop", T0 + timedelta(minutes=30))
    states = {
        "email.delivery": AlertState(
            "sandbox",
            "email.delivery",
            phase="firing",
            severity=Status.CRITICAL,
            failures=2,
            since=T0,
            notified_severity=Status.CRITICAL,
            first_step="Revert the Auth settings",
        )
    }
    note = Notification(
        "trigger",
        "sandbox",
        "email.delivery",
        Status.CRITICAL,
        T0,
        "lost",
        channels=("pager", "oncall"),
    )
    recent = [Status.OK, Status.OK, Status.INFO, Status.WARNING, Status.CRITICAL, Status.CRITICAL]
    page = render(summary(RunView(run=run, states=states, notifications=[note], recent=recent)))
    html = page.html  # type: ignore[attr-defined]
    assert "<h2>synthetics: CRITICAL on sandbox</h2>" in html
    assert "▁▁▃▅██" in html and sparkline(recent) == "▁▁▃▅██"
    alerts, notifications, checks = page.tables
    assert alerts[0] == ["alert", "severity", "state", "since", "first step"]
    assert alerts[1][:3] == ["email.delivery", "critical", "firing for 30 min"]
    assert notifications[1] == ["trigger", "email.delivery", "critical", "pager, oncall"]
    assert checks[0] == ["check", "status", "duration", "message"]
    rows = {row[0]: row for row in checks[1:]}
    assert len(rows) == len(run.checks)
    assert rows["email.delivery"][1] == "critical" and rows["auth.session"][1] == "blocked"


def test_a_targets_text_cannot_inject_markup_into_the_summary() -> None:
    run = replay("clean", T0)
    run.checks[
        0
    ].message = "<script>alert(1)</script> | *bold* [x](http://e.vil) `code` &amp; # www.e.vil h"
    page = render(summary(RunView(run=run)))
    html = page.html  # type: ignore[attr-defined]
    checks = html.split("<h3>Checks</h3>")[1]
    # (cmark-gfm still links email addresses, mailto only, whatever is escaped)
    for tag in ("<script", "<strong>", "<em>", '<a href="http', "<code>", "<h1>"):
        assert tag not in checks, (tag, checks[:400])
    rows = {row[0]: row for row in page.tables[-1][1:]}
    assert (
        rows[run.checks[0].id][3]
        == "<script>alert(1)</script> | *bold* [x](http://e.vil) `code` &amp; # www.e.vil h"
    )


def test_the_channel_appends_to_the_step_summary_and_prints_annotations(tmp_path: Path) -> None:
    target = tmp_path / "step_summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    out = io.StringIO()
    channel = GitHubChannel(
        "ci", GitHubConfig(type="github"), stream=out, env={"GITHUB_STEP_SUMMARY": str(target)}
    )
    receipt = channel.report(_view("email.drop"))
    assert receipt.ok
    text = target.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n## synthetics: CRITICAL on sandbox")
    assert out.getvalue().startswith("::error title=CRITICAL email.delivery on sandbox::")
    outside = GitHubChannel("ci", GitHubConfig(type="github"), stream=io.StringIO(), env={})
    assert outside.report(_view("clean")).detail == "no GITHUB_STEP_SUMMARY: annotations only"
