"""A rehearsal's diff as rehearse.json, terminal lines, Markdown (the job summary) and HTML.

`document()` builds rehearse.json (schema `synthetics/rehearse@1`); the other three render
that document, so they always say the same thing. Every piece of text in the Markdown is
escaped (`alerting.github.md`), and the page is autoescaped Jinja2 with no outside resources.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jinja2

from synthetics.alerting.github import SUMMARY_LIMIT, md
from synthetics.rehearsal.diff import Change, Diff, Verdict
from synthetics.results import RunResult

SCHEMA = "synthetics/rehearse@1"
#: How many evidence lines of one kind the terminal and the job summary show (the JSON and the
#: page have them all).
LINES_SHOWN = 20
_MARK = {"worse": "WORSE", "timing": "timing", "better": "better", "changed": "changed"}
_EMOJI = {"worse": "🔴", "timing": "⏱️", "better": "🟢", "changed": "⚪"}


@dataclass(frozen=True)
class Side:
    """One of the two runs."""

    run: RunResult
    #: Its report folder, relative to the rehearsal's (`before`, `after`).
    folder: str
    seconds: float
    exit_code: int


@dataclass(frozen=True)
class Context:
    """What the diff was made from."""

    #: The base schema's files; empty for the bundled Mamapace schema.
    base: Sequence[str]
    next: Sequence[str]
    before: Side
    after: Side
    postgres: str
    timings: Mapping[str, float] = field(default_factory=dict)
    #: Base files left out because they are next files too.
    dropped: Sequence[str] = ()


def _change(change: Change) -> dict[str, Any]:
    return {
        "check": change.check,
        "verdict": change.verdict.value,
        "counted": change.counted,
        "before": change.before_status,
        "after": change.after_status,
        "summary": change.summary,
        "message_before": change.before.message if change.before else None,
        "message_after": change.after.message if change.after else None,
        "new": {f.key: list(f.new) for f in change.findings if f.new},
        "gone": {f.key: list(f.gone) for f in change.findings if f.gone},
    }


def _side(side: Side) -> dict[str, Any]:
    return {
        "run_id": side.run.run_id,
        "status": side.run.status.value,
        "exit_code": side.exit_code,
        "seconds": round(side.seconds, 2),
        "results": f"{side.folder}/results.json",
        "report": f"{side.folder}/report.html",
    }


def document(diff: Diff, context: Context, exit_code: int) -> dict[str, Any]:
    """rehearse.json."""
    counts = Counter(c.status.value for c in diff.unchanged)
    return {
        "schema": SCHEMA,
        "verdict": "worse" if diff.worse else "not worse",
        "exit_code": exit_code,
        "worse": len(diff.worse),
        "base": {
            "schema": "migrations" if context.base else "bundled",
            "files": list(context.base),
            "dropped": list(context.dropped),
        },
        "next": list(context.next),
        "postgres": context.postgres,
        "before": _side(context.before),
        "after": _side(context.after),
        "changes": [_change(c) for c in diff.changes],
        "unchanged": {
            "count": len(diff.unchanged),
            "summary": diff.unchanged_line(),
            "statuses": dict(counts),
            "checks": [c.id for c in diff.unchanged],
        },
        "timings": {k: round(v, 2) for k, v in context.timings.items()},
    }


def headline(doc: Mapping[str, Any]) -> str:
    """ "rehearse: WORSE: 2 checks got worse (exit 1)"."""
    worse = int(doc["worse"])
    if worse:
        noun = "check got" if worse == 1 else "checks got"
        return f"rehearse: WORSE: {worse} {noun} worse (exit {doc['exit_code']})"
    changed = len(doc["changes"])
    tail = f", {changed} other change(s)" if changed else ""
    return f"rehearse: nothing got worse{tail} (exit {doc['exit_code']})"


def _evidence_lines(change: Mapping[str, Any], limit: int | None) -> list[tuple[str, str, str]]:
    """(sign, key, line) for each new (+) and gone (-) evidence line, up to `limit` per kind."""
    lines: list[tuple[str, str, str]] = []
    for sign, part in (("+", "new"), ("-", "gone")):
        for key, items in change[part].items():
            shown = items if limit is None else items[:limit]
            lines += [(sign, key, item) for item in shown]
            if limit is not None and len(items) > limit:
                lines.append((sign, key, f"… and {len(items) - limit} more (rehearse.json)"))
    return lines


def _base_text(doc: Mapping[str, Any]) -> str:
    base = doc["base"]
    if base["schema"] == "bundled":
        return "the bundled Mamapace schema"
    files = base["files"]
    return f"{len(files)} file(s) of --migrations"


def text_lines(doc: Mapping[str, Any]) -> list[str]:
    """What the terminal shows."""
    before, after = doc["before"], doc["after"]
    lines = [
        headline(doc),
        f"  base    {_base_text(doc)} on {doc['postgres']}",
        f"  next    {', '.join(doc['next'])}",
        f"  before  {before['status'].upper()} (run {before['run_id']}, {before['seconds']:.1f} s)",
        f"  after   {after['status'].upper()} (run {after['run_id']}, {after['seconds']:.1f} s)",
    ]
    for name in doc["base"]["dropped"]:
        lines.append(f"  (left {name} out of the base: it is a next file)")
    lines.append("")
    for change in doc["changes"]:
        mark = _MARK[change["verdict"]]
        line = f"{mark:<8}{change['check']}: {change['before']} → {change['after']}"
        lines.append(f"{line}: {change['summary']}" if change["summary"] else line)
        if change["verdict"] == Verdict.TIMING:
            lines.append("          (not counted: sandbox timings say nothing about a migration)")
        lines += [
            f"          {sign} {item}" for sign, _, item in _evidence_lines(change, LINES_SHOWN)
        ]
    lines.append(doc["unchanged"]["summary"])
    return lines


def markdown(doc: Mapping[str, Any]) -> str:
    """The GitHub job summary."""
    before, after = doc["before"], doc["after"]
    verdict = "WORSE" if doc["worse"] else "nothing got worse"
    next_files = ", ".join(md(n) for n in doc["next"])
    lines = [
        f"## synthetics rehearse: {verdict} (exit {doc['exit_code']})",
        "",
        f"**Next:** {next_files} · **base:** {md(_base_text(doc))} · "
        f"**before** {before['status'].upper()} → **after** {after['status'].upper()}",
        "",
    ]
    if doc["changes"]:
        lines += ["| | check | before | after | what changed |", "|---|---|---|---|---|"]
        for change in doc["changes"]:
            verdict_cell = f"{_EMOJI[change['verdict']]} {change['verdict']}"
            lines.append(
                f"| {verdict_cell} | {md(change['check'])} | {md(change['before'])} | "
                f"{md(change['after'])} | {md(change['summary'][:400])} |"
            )
        lines.append("")
        for change in doc["changes"]:
            evidence = _evidence_lines(change, LINES_SHOWN)
            if not evidence:
                continue
            lines += [
                "<details><summary>" + md(change["check"]) + ": evidence</summary>",
                "",
            ]
            lines += [
                f"- {'**new**' if sign == '+' else '*gone*'} {md(key)}: {md(item)}"
                for sign, key, item in evidence
            ]
            lines += ["", "</details>", ""]
    lines += [md(doc["unchanged"]["summary"]), ""]
    text = "\n".join(lines) + "\n"
    encoded = text.encode("utf-8")
    if len(encoded) > SUMMARY_LIMIT:
        text = encoded[: SUMMARY_LIMIT - 200].decode("utf-8", errors="ignore")
        text += "\n\n(cut at GitHub's 1 MiB)\n"
    return text


def html(doc: Mapping[str, Any]) -> str:
    """rehearse.html: one self-contained page."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: (resources.files("synthetics.rehearsal") / name).read_text("utf-8")
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    page = env.get_template("page.html")
    return page.render(
        doc=doc,
        headline=headline(doc),
        base=_base_text(doc),
        evidence=lambda change: _evidence_lines(change, None),
    )
