"""GitHub Actions: workflow annotations on stdout and a Markdown job summary.

```toml
[alerts.channels.ci]
type = "github"            # not routed: every run in Actions reports here
```

Annotations (`::error` for critical, `::warning`, `::notice` for info) follow GitHub's
workflow-command format: `::error title=<property>::<data>`, where data escapes `%`, CR and LF
(`%25`, `%0D`, `%0A`) and properties also `:` and `,` (`%3A`, `%2C`), as the runner unescapes
them (actions/toolkit `command.ts`, actions/runner `ActionCommand`). Escaping newlines also keeps
a target's text from starting a workflow command of its own. GitHub shows at most 10 annotations
of each kind per step, so no more are written.

The job summary (appended to the file `$GITHUB_STEP_SUMMARY` names, GitHub-flavoured Markdown,
at most 1 MiB a step) has the verdict, a trend sparkline of recent runs, the alerts firing with
their lifecycle, this run's notifications and where they went, and the run's check table. Every
piece of text is Markdown-escaped, so a target's message cannot inject markup or links (the
escaped `.` and `:` keep GFM's autolinks off; cmark-gfm still links email addresses, mailto).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from pydantic import BaseModel, ConfigDict

from synthetics.alerting.base import Receipt
from synthetics.alerting.model import AlertState, Notification, duration_text
from synthetics.alerting.sender import Sender
from synthetics.results import RunResult
from synthetics.severity import exit_code
from synthetics.status import Status

#: GitHub's limits: annotations of one kind per step; summary bytes per step.
ANNOTATIONS_PER_KIND = 10
SUMMARY_LIMIT = 1024 * 1024
_LEVELS = {Status.CRITICAL: "error", Status.WARNING: "warning", Status.INFO: "notice"}
BLOCKS = "▁▂▃▄▅▆▇█"
_STATUS_BLOCK = {Status.OK: "▁", Status.INFO: "▃", Status.WARNING: "▅", Status.CRITICAL: "█"}
_MD_SPECIAL = set("\\`*_{}[]<>|#~!:.@")


class GitHubConfig(BaseModel):
    """Annotations and the job summary (both on by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["github"]
    annotations: bool = True
    summary: bool = True


def escape_data(text: str) -> str:
    """A workflow command's data: `%`, CR, LF escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: data escapes plus `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, **properties: str) -> str:
    """One workflow command line, e.g. `::error title=email.delivery::…`."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v)
    return f"::{level}{' ' + props if props else ''}::{escape_data(message)}"


def md(text: str) -> str:
    """Text made literal in GitHub-flavoured Markdown (also inside a table cell)."""
    out = []
    for char in " ".join(text.split()):
        if char == "&":
            out.append("&amp;")
        elif char in _MD_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def sparkline(statuses: Iterable[Status]) -> str:
    """One block per run: ▁ ok, ▃ info, ▅ warning, █ critical (blocked/skipped count as ok)."""
    return "".join(_STATUS_BLOCK.get(s, "▁") for s in statuses)


@dataclass
class RunView:
    """What the GitHub channel shows about one finished run."""

    run: RunResult
    states: Mapping[str, AlertState] = field(default_factory=dict)
    notifications: Sequence[Notification] = ()
    receipts: Sequence[Receipt] = ()
    #: Statuses of recent runs of the target, oldest first, this run last.
    recent: Sequence[Status] = ()
    muted_by: str = ""
    notices: Sequence[str] = ()


def _phase(view: RunView, subject: str) -> str:
    state = view.states.get(subject)
    if state is None:
        return ""
    if state.phase == "pending":
        return f"pending, {state.failures} failure(s)"
    if state.phase == "firing" and state.since is not None:
        return (
            f"firing for {duration_text(view.run.finished_at - state.since)}"
            if view.run.finished_at
            else "firing"
        )
    return state.phase


def annotation_lines(view: RunView) -> list[str]:
    """A workflow command per alert of the run (at most 10 of each kind)."""
    lines: list[str] = []
    count: dict[str, int] = {}
    for alert in view.run.alerts:
        level = _LEVELS.get(alert.severity)
        if level is None or count.get(level, 0) >= ANNOTATIONS_PER_KIND:
            continue
        count[level] = count.get(level, 0) + 1
        phase = _phase(view, alert.check) or _phase(view, "security")
        title = f"{alert.severity.value.upper()} {alert.check} on {view.run.target}"
        message = alert.message
        if alert.first_step:
            message += f"\nFirst step: {alert.first_step}"
        if phase:
            message += f"\nAlert: {phase}"
        lines.append(command(level, message, title=title))
    if view.muted_by and count.get("notice", 0) < ANNOTATIONS_PER_KIND:
        lines.append(
            command("notice", f"notifications muted by {view.muted_by}", title="maintenance")
        )
    return lines


def summary(view: RunView) -> str:
    """The job summary (GitHub-flavoured Markdown)."""
    run = view.run
    code = exit_code(run.status, interrupted=run.interrupted)
    verdict = "INTERRUPTED" if run.interrupted else run.status.value.upper()
    lines = [
        f"## synthetics: {verdict} on {md(run.target)}",
        "",
        f"**Verdict:** {verdict} (exit {code}) · run `{run.run_id}` · trigger {md(run.trigger)}"
        + (f" · location {md(run.location)}" if run.location else ""),
        "",
    ]
    if view.recent:
        legend = "▁ ok · ▃ info · ▅ warning · █ critical"
        lines += [
            f"**Trend** (last {len(view.recent)} runs, oldest first): "
            f"{sparkline(view.recent)} ({legend})",
            "",
        ]
    if view.muted_by:
        lines += [f"> Notifications muted by maintenance window **{md(view.muted_by)}**.", ""]
    firing = [s for s in view.states.values() if s.phase in ("firing", "pending")]
    if firing:
        lines += [
            "### Alerts",
            "",
            "| alert | severity | state | since | first step |",
            "|---|---|---|---|---|",
        ]
        for st in sorted(firing, key=lambda s: (-s.severity.rank, s.subject)):
            since = st.since.isoformat(timespec="minutes") if st.since else ""
            lines.append(
                f"| {md(st.subject)} | {st.severity.value} | {md(_phase(view, st.subject))} | "
                f"{since} | {md(st.first_step)} |"
            )
        lines.append("")
    if view.notifications:
        lines += [
            "### Notifications",
            "",
            "| kind | alert | severity | channels |",
            "|---|---|---|---|",
        ]
        for note in view.notifications:
            where = "muted" if note.muted_by else (", ".join(note.channels) or "none")
            lines.append(
                f"| {note.kind} | {md(note.subject)} | {note.severity.value} | {md(where)} |"
            )
        lines.append("")
    if view.receipts:
        lines += ["### Deliveries", ""]
        lines += [f"- {md(r.line())}" for r in view.receipts]
        lines.append("")
    if view.notices:
        lines += ["### Notices", ""] + [f"- {md(n)}" for n in view.notices] + [""]
    lines += ["### Checks", "", "| check | status | duration | message |", "|---|---|---|---|"]
    for check in run.checks:
        took = f"{check.duration_ms:.0f} ms" if check.duration_ms else ""
        lines.append(
            f"| {md(check.id)} | {check.status.value} | {took} | {md(check.message[:300])} |"
        )
    text = "\n".join(lines) + "\n"
    encoded = text.encode("utf-8")
    if len(encoded) > SUMMARY_LIMIT:
        text = (
            encoded[: SUMMARY_LIMIT - 200].decode("utf-8", errors="ignore")
            + "\n\n(cut at GitHub's 1 MiB)\n"
        )
    return text


class GitHubChannel:
    """Writes annotations to a stream and appends the summary to `$GITHUB_STEP_SUMMARY`."""

    type = "github"

    def __init__(
        self,
        name: str,
        config: GitHubConfig,
        *,
        stream: TextIO | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._stream = stream
        self._env = env

    def secrets(self) -> tuple[str, ...]:
        """None: it writes files, it holds no credential."""
        return ()

    @property
    def summary_path(self) -> Path | None:
        """The file GitHub reads the job summary from (None outside Actions)."""
        env = os.environ if self._env is None else self._env
        value = env.get("GITHUB_STEP_SUMMARY", "")
        return Path(value) if value else None

    def _out(self) -> TextIO:
        import sys

        return self._stream if self._stream is not None else sys.stdout

    def report(self, view: RunView) -> Receipt:
        """The run's annotations and job summary."""
        if self.config.annotations:
            for line in annotation_lines(view):
                print(line, file=self._out(), flush=True)
        return (
            self._append(summary(view))
            if self.config.summary
            else Receipt(self.name, True, None, "annotations")
        )

    def send(self, note: Notification, sender: Sender) -> Receipt:
        """One notification (used by `synthetics alert test`): an annotation and a summary line."""
        level = _LEVELS.get(note.severity, "notice")
        if self.config.annotations:
            print(command(level, note.message, title=note.title), file=self._out(), flush=True)
        if not self.config.summary:
            return Receipt(self.name, True, None, "annotation written")
        return self._append(f"### {md(note.title)}\n\n{md(note.message)}\n")

    def _append(self, text: str) -> Receipt:
        path = self.summary_path
        if path is None:
            return Receipt(self.name, True, None, "no GITHUB_STEP_SUMMARY: annotations only")
        try:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            return Receipt(
                self.name, False, None, f"cannot append to the job summary: {exc.strerror}"
            )
        return Receipt(self.name, True, None, "summary written")
