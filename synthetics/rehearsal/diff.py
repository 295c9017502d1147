"""Two runs of the suite, before and after a migration → what it changed, check by check. Pure.

Each check that differs is one `Change`, judged:

- *worse*: its status rank rose (ok < info < warning < critical); it is newly `blocked` by a
  check (a new failure upstream); its evidence lists new findings (functions that execute for
  anon, open tables, privileges anon should not hold, probes that decided nothing, advisor
  findings) even when the status stays the same; or the after run no longer reports it;
- *timing*: only a graded pass moved (`slow`, `late`, `retried`): the sandbox's latency on an
  empty database says nothing about a migration, so this is shown, never counted;
- *better*: its rank fell, it runs again, or findings went away;
- *changed*: anything else (ok ↔ skipped, another failure message at the same severity).

Findings are matched by what they are about (the function, `anon: posts GET`, the advisor's
`rule: object`), not by their wording, so "answered 200, 0 row(s)" against "1 row(s)" is the
same exposure, and a new one is named exactly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from synthetics.results import CheckResult, RunResult
from synthetics.status import Status

#: Reasons of graded passes: the check passed, a timing or a retry graded it.
GRADED = frozenset({"slow", "late", "retried"})
#: Evidence keys that list findings, with the noun for one and for several.
FINDINGS: dict[str, tuple[str, str]] = {
    "executed": ("function executable by anon", "functions executable by anon"),
    "exposed": ("direct access open", "direct accesses open"),
    "granted": ("privilege anon should not hold", "privileges anon should not hold"),
    "inconclusive": ("probe that decided nothing", "probes that decided nothing"),
    "fix": ("advisor finding", "advisor findings"),
}
#: Roots of `blocked_by` that are not checks: the run stopped (those runs are not compared).
_STOPS = frozenset({"interrupted", "deadline"})
#: How many names a summary lists before "and N more".
SHOWN = 5

_FUNCTION = re.compile(r"^([^\s(:]+(?:\([^)]*\))?)")
_TABLE_PROBE = re.compile(r"^([\w -]+: \S+ (?:GET|HEAD|POST|PATCH|PUT|DELETE))\b")
_VOLATILE = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"\b\d{8}t\d{6}-[0-9a-f]{6}\b"), "<run>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "#"),
)


class Verdict(StrEnum):
    """How a change weighs."""

    WORSE = "worse"
    TIMING = "timing"
    BETTER = "better"
    CHANGED = "changed"


def normalized(text: str) -> str:
    """`text` without what differs between two runs of the same schema (ids, numbers)."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def subject(key: str, line: str) -> str:
    """What one evidence line is about: the function, the table probe, the advisor's
    `rule: object`; else the line without its volatile parts."""
    if key == "fix":
        _, sep, tail = line.rpartition("--")
        if sep and tail.strip():
            return tail.strip()
    if key in ("exposed", "granted", "inconclusive"):
        match = _TABLE_PROBE.match(line)
        if match:
            return match.group(1)
    if key in ("executed", "inconclusive"):
        match = _FUNCTION.match(line)
        if match:
            return match.group(1)
    return normalized(line)


@dataclass(frozen=True)
class Finding:
    """Evidence lines of one kind (`executed`, `fix`, …) that the after run added or lost."""

    key: str
    new: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()

    def noun(self, count: int) -> str:
        """ "function executable by anon" or its plural."""
        one, many = FINDINGS.get(self.key, (f"`{self.key}` line", f"`{self.key}` lines"))
        return one if count == 1 else many

    def names(self, lines: Sequence[str]) -> str:
        """The subjects of `lines`, a few of them, for one line of text."""
        subjects = list(dict.fromkeys(subject(self.key, line) for line in lines))
        more = f" and {len(subjects) - SHOWN} more" if len(subjects) > SHOWN else ""
        return ", ".join(subjects[:SHOWN]) + more

    def phrases(self) -> list[str]:
        """ "2 new functions executable by anon: a, b", "1 fewer advisor finding: …"."""
        parts = []
        if self.new:
            parts.append(f"{len(self.new)} new {self.noun(len(self.new))}: {self.names(self.new)}")
        if self.gone:
            parts.append(
                f"{len(self.gone)} fewer {self.noun(len(self.gone))}: {self.names(self.gone)}"
            )
        return parts


def findings(before: CheckResult | None, after: CheckResult | None) -> tuple[Finding, ...]:
    """The finding lines each evidence key gained and lost."""
    found = []
    old = before.evidence if before is not None else {}
    new = after.evidence if after is not None else {}
    for key in FINDINGS:
        old_lines = _lines(old.get(key, ""))
        new_lines = _lines(new.get(key, ""))
        old_subjects = {subject(key, line) for line in old_lines}
        new_subjects = {subject(key, line) for line in new_lines}
        added = tuple(line for line in new_lines if subject(key, line) not in old_subjects)
        lost = tuple(line for line in old_lines if subject(key, line) not in new_subjects)
        if added or lost:
            found.append(Finding(key, added, lost))
    return tuple(found)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Change:
    """One check that differs between the runs."""

    check: str
    verdict: Verdict
    before: CheckResult | None
    after: CheckResult | None
    findings: tuple[Finding, ...] = ()
    #: What changed, in one line ("1 new function executable by anon: get_user_post_count_v2").
    summary: str = ""

    @property
    def before_status(self) -> str:
        """The status before, or "absent"."""
        return _status_text(self.before)

    @property
    def after_status(self) -> str:
        """The status after, or "absent"."""
        return _status_text(self.after)

    @property
    def counted(self) -> bool:
        """Whether this change makes the rehearsal fail."""
        return self.verdict is Verdict.WORSE


def _status_text(check: CheckResult | None) -> str:
    if check is None:
        return "absent"
    if check.status is Status.BLOCKED and check.blocked_by:
        return f"blocked by {check.blocked_by}"
    return check.status.value


@dataclass(frozen=True)
class Diff:
    """The whole comparison: the changes (worse first) and what stayed the same."""

    changes: tuple[Change, ...]
    unchanged: tuple[CheckResult, ...]

    @property
    def worse(self) -> tuple[Change, ...]:
        """The changes that make the rehearsal fail."""
        return tuple(c for c in self.changes if c.counted)

    def unchanged_line(self) -> str:
        """ "33 checks unchanged (31 ok, 1 skipped, 1 critical)"."""
        if not self.unchanged:
            return "no check unchanged"
        counts = Counter(c.status for c in self.unchanged)
        order = [s for s in Status if counts.get(s)]
        detail = ", ".join(f"{counts[s]} {s.value}" for s in order)
        noun = "check" if len(self.unchanged) == 1 else "checks"
        return f"{len(self.unchanged)} {noun} unchanged ({detail})"


def _graded(check: CheckResult) -> bool:
    """A pass, possibly graded by a timing or a retry."""
    return check.status is Status.OK or (
        check.reason in GRADED and check.status in (Status.INFO, Status.WARNING)
    )


def judge(
    before: CheckResult | None, after: CheckResult | None, found: Sequence[Finding]
) -> Verdict | None:
    """The verdict on one check's change; None when it did not change."""
    if after is None:
        return Verdict.WORSE if before is not None else None
    if before is None:
        return Verdict.WORSE if after.status.rank > 0 else Verdict.CHANGED
    was, now = before.status, after.status
    if now.rank > was.rank:
        return Verdict.TIMING if _graded(before) and _graded(after) else Verdict.WORSE
    newly_blocked = now is Status.BLOCKED and (
        was is not Status.BLOCKED or before.blocked_by != after.blocked_by
    )
    if newly_blocked and after.blocked_by not in _STOPS:
        return Verdict.WORSE
    if any(f.new for f in found):
        return Verdict.WORSE
    if now.rank < was.rank:
        return Verdict.TIMING if _graded(before) and _graded(after) else Verdict.BETTER
    if was is Status.BLOCKED and now is not Status.BLOCKED:
        return Verdict.BETTER
    if now is not was:
        return Verdict.CHANGED
    if any(f.gone for f in found):
        return Verdict.BETTER
    if was.rank > 0 and normalized(before.message) != normalized(after.message):
        return Verdict.CHANGED
    return None


def _summary(
    before: CheckResult | None,
    after: CheckResult | None,
    found: Sequence[Finding],
    explained: str,
) -> str:
    parts = [phrase for f in found for phrase in f.phrases()]
    if parts:
        text = "; ".join(parts)
    elif explained:
        text = explained
    elif after is None:
        text = "the after run no longer reports this check"
    elif after.status is Status.BLOCKED and after.blocked_by:
        text = f"blocked by {after.blocked_by}: {after.message}".rstrip(": ")
    else:
        text = after.message
        if before is None:
            text = f"new in the after run: {text}"
    return text


_ORDER = {Verdict.WORSE: 0, Verdict.TIMING: 1, Verdict.CHANGED: 2, Verdict.BETTER: 3}


def compare(
    before: RunResult, after: RunResult, explained: Mapping[str, str] | None = None
) -> Diff:
    """The changes from `before` to `after`, worse first, each in the after run's check order.

    `explained` says, for some checks, what the runs alone cannot (which parameter a PGRST202
    lost, from the after schema's catalog); it stands in for the check's message in the
    summary.
    """
    explained = explained or {}
    ids = [c.id for c in after.checks] + [c.id for c in before.checks if after.check(c.id) is None]
    changes: list[Change] = []
    unchanged: list[CheckResult] = []
    for check_id in ids:
        old, new = before.check(check_id), after.check(check_id)
        found = findings(old, new)
        verdict = judge(old, new, found)
        if verdict is None:
            assert new is not None
            unchanged.append(new)
            continue
        summary = _summary(old, new, found, explained.get(check_id, ""))
        changes.append(Change(check_id, verdict, old, new, found, summary))
    position = {check_id: n for n, check_id in enumerate(ids)}
    changes.sort(key=lambda c: (_ORDER[c.verdict], position[c.check]))
    return Diff(tuple(changes), tuple(unchanged))
