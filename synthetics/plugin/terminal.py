"""The terminal: one line per check as it finishes, a progress line while a long wait lasts, then
the run's verdict, its alerts with their runbook sections, and where the files are.

Colour and width come from pytest's own TerminalWriter, which already writes to this terminal: it
honours `NO_COLOR`, `FORCE_COLOR`, `PY_COLORS`, `TERM=dumb` and `--color`, and knows the width
(`COLUMNS`, else the terminal's). A dependency such as `rich` would add a second writer fighting
pytest's for the same stream, for a table this module draws in a few lines. Text is cut by
display cells (wide East Asian characters count two) so that no line is wider than the terminal.

A repeated root cause is said once: a blocked check's line says `blocked by email.delivery`, and
only the root's own line (and its alert) carries the message. The rendering functions are pure
(`rows`, `footer`): what they print is a function of the run, the width and a `Paint`.
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from synthetics.results import CheckResult, RunResult
from synthetics.status import Status
from synthetics.text import one_line

#: How a status looks (TerminalWriter markup names).
STYLE: dict[Status, dict[str, bool]] = {
    Status.OK: {"green": True},
    Status.INFO: {"cyan": True},
    Status.WARNING: {"yellow": True, "bold": True},
    Status.CRITICAL: {"red": True, "bold": True},
    Status.BLOCKED: {"purple": True},
    Status.SKIPPED: {"light": True},
}
#: Roots that are not checks: the run stopped before the check could run.
STOPS = frozenset({"interrupted", "deadline"})
#: Seconds between progress lines: redrawn in place on a terminal, appended in a log.
TICK_TTY_S, TICK_LOG_S = 1.0, 10.0
ELLIPSIS = "…"


class Paint(Protocol):
    """TerminalWriter.markup: `text` with colours when the terminal has them."""

    def __call__(self, text: str, **markup: bool) -> str: ...


def plain(text: str, **markup: bool) -> str:
    """A Paint without colour (logs, tests)."""
    return text


def cells(text: str) -> int:
    """How many terminal columns `text` takes (wide characters two, combining marks none)."""
    return sum(_cell(char) for char in text)


def _cell(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def fit(text: str, width: int) -> str:
    """`text` cut to at most `width` columns, ending in "…" when something was cut."""
    if cells(text) <= width:
        return text
    if width <= 0:
        return ""
    kept, used = [], 0
    for char in text:
        size = _cell(char)
        if used + size > width - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept) + ELLIPSIS


def wrap(text: str, width: int, prefix: str = "", indent: int | None = None) -> list[str]:
    """`prefix` + `text` on lines of at most `width` columns; the lines after the first start
    with `indent` spaces (default: as wide as `prefix`)."""
    pad = cells(prefix) if indent is None else indent
    lines: list[str] = []
    line, lead = "", prefix
    for word in text.split():
        room = max(width - cells(lead), 10)
        candidate = f"{line} {word}" if line else word
        if cells(candidate) <= room:
            line = candidate
            continue
        if line:
            lines.append(lead + line)
            lead = " " * pad
            room = max(width - pad, 10)
        while cells(word) > room:  # a word longer than a line (a URL): cut it in pieces
            piece = fit(word, room + 1)[:-1] or word[:1]
            lines.append(lead + piece)
            lead = " " * pad
            word = word[len(piece) :]
        line = word
    if line or not lines:
        lines.append(lead + line)
    return lines


def milliseconds(ms: float) -> str:
    """Every duration the outputs show, in one unit: `2013 ms`."""
    return f"{ms:.0f} ms"


@dataclass(frozen=True)
class Layout:
    """The table's columns for a terminal `width` columns wide."""

    width: int
    id_width: int

    @classmethod
    def for_ids(cls, ids: Sequence[str], width: int) -> Layout:
        """Columns that fit the longest id (but leave room for a message)."""
        longest = max((cells(i) for i in ids), default=8)
        return cls(width=width, id_width=min(longest, max(width // 3, 12)))


STATUS_WIDTH, TIME_WIDTH = 8, 9


def note(check: CheckResult) -> str:
    """What a check's line says after its status: its message, or only what blocked it."""
    if check.status is Status.BLOCKED and check.blocked_by:
        if check.blocked_by in STOPS:
            return f"not run ({check.blocked_by})"
        return f"blocked by {check.blocked_by}"
    return one_line(check.message, limit=None)


def row(check: CheckResult, layout: Layout, paint: Paint = plain) -> str:
    """One check on one line of at most `layout.width` columns."""
    ran = check.status not in (Status.BLOCKED, Status.SKIPPED)
    took = milliseconds(check.duration_ms) if ran else ""
    tries = f" x{check.attempts}" if check.attempts > 1 else ""
    head = f"{fit(check.id, layout.id_width):<{layout.id_width}}  "
    status = f"{check.status.value:<{STATUS_WIDTH}}"
    timing = f"{took:>{TIME_WIDTH}}{tries}  "
    room = layout.width - cells(head) - STATUS_WIDTH - cells(timing) - 1
    text = fit(note(check), room) if room > 3 else ""
    line = f"{head}{paint(status, **STYLE[check.status])}{timing}{text}".rstrip()
    return line


def counts(checks: Sequence[CheckResult]) -> str:
    """`33 ok, 1 warning, 2 skipped`, most severe first."""
    found = Counter(c.status for c in checks)
    order = [Status.CRITICAL, Status.WARNING, Status.INFO, Status.OK, Status.BLOCKED]
    order.append(Status.SKIPPED)
    return ", ".join(f"{found[s]} {s.value}" for s in order if found[s])


def verdict(run: RunResult) -> str:
    """The run's word: its status, or INTERRUPTED when it did not finish."""
    return "INTERRUPTED" if run.interrupted else run.status.value.upper()


def headline(run: RunResult) -> str:
    """`WARNING · sandbox · 36 checks: 33 ok, 1 warning, 2 skipped · 11160 ms · run …`."""
    return (
        f"{verdict(run)} · {run.target} · {len(run.checks)} checks: {counts(run.checks)} · "
        f"{milliseconds(run.duration_ms)} · run {run.run_id}"
    )


def banner(run_id: str, target: str, checks: int, faults: Sequence[str]) -> str:
    """The first line of a run, before any check: what runs against what."""
    rehearsal = f" · faults: {', '.join(faults)} (a rehearsal)" if faults else ""
    return f"synthetics run {run_id} · {target} · {checks} checks{rehearsal}"


def _stop_message(run: RunResult) -> str | None:
    for check in run.checks:
        if check.blocked_by in STOPS and check.message:
            return one_line(check.message, limit=None).removeprefix("not run: ")
    return None


def footer(
    run: RunResult, width: int, paint: Paint = plain, files: Sequence[str] = ()
) -> list[str]:
    """The run's verdict, each alert with its runbook section and first step, what the stages
    that finished the run could not do, and where the files are."""
    style = {"red": True, "bold": True} if run.interrupted else STYLE[run.status]
    lines = [paint(fit(headline(run), width), **style)]
    stopped = _stop_message(run)
    if stopped:
        lines += wrap(stopped, width, "INTERRUPTED  ")
    for alert in run.alerts:
        label = f"{alert.severity.value.upper():<8} "
        first, *rest = wrap(f"{alert.check}: {one_line(alert.message, limit=None)}", width, label)
        lines.append(paint(label, **STYLE[alert.severity]) + first[len(label) :])
        lines += rest
        if alert.blocked:
            lines += wrap(", ".join(alert.blocked), width, "         blocked: ")
        lines += wrap(alert.runbook, width, "         runbook: ")
        if alert.first_step:
            lines += wrap(alert.first_step, width, "         first step: ")
    rollback = (run.rules or {}).get("rollback")
    if isinstance(rollback, dict) and rollback.get("plan"):
        text = f"{rollback['plan']}: {rollback.get('first_steps', '')}"
        lines += wrap(text, width, "ROLLBACK ")
    for notice in run.notices:
        lines += wrap(one_line(notice, limit=None), width, "notice   ")
    if files:
        lines += wrap("  ".join(files), width, "files    ")
    return lines


def rows(run: RunResult, width: int, paint: Paint = plain) -> list[str]:
    """Every check of the run, one line each."""
    layout = Layout.for_ids([c.id for c in run.checks], width)
    return [row(c, layout, paint) for c in run.checks]


# -- the live terminal -----------------------------------------------------------------------


class Writer(Protocol):
    """The part of pytest's TerminalWriter this module uses."""

    @property
    def fullwidth(self) -> int: ...

    def markup(self, text: str, **markup: bool) -> str: ...

    def write(self, msg: str, *, flush: bool = False, **markup: bool) -> None: ...

    def line(self, s: str = "", **markup: bool) -> None: ...

    def flush(self) -> None: ...


class Live:
    """`synthetics run`'s terminal: a line per check as it finishes, a progress line during long
    waits, the verdict at the end. A pytest plugin object; pytest's dots are off meanwhile.

    The wait may happen on any thread (the journey awaits the email in the background) while a
    check runs and pytest captures its output, so the progress line goes to `progress`, a
    stream of its own on the same terminal (a duplicate of its file descriptor, which pytest's
    capture leaves alone), never through pytest's capture. On a terminal (`tty`) the line is
    redrawn in place each second and erased before the next check's line; in a log a line is
    appended every `TICK_LOG_S` seconds.
    """

    def __init__(
        self,
        writer: Writer,
        *,
        tty: bool,
        progress: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        ticks: tuple[float, float] = (TICK_TTY_S, TICK_LOG_S),
    ) -> None:
        self.writer = writer
        self.tty = tty
        self._progress_out = progress
        self._clock = clock
        self._ticks = ticks
        self._lock = threading.Lock()
        self._layout: Layout | None = None
        self._shown: set[str] = set()
        self._drawn = False

    @property
    def width(self) -> int:
        """The terminal's width (a line that fills it exactly may wrap on some terminals)."""
        return width_of(self.writer, tty=self.tty)

    def begin(self, run_id: str, target: str, ids: Sequence[str], faults: Sequence[str]) -> None:
        """The run's first line, and the table's columns for its checks."""
        self._layout = Layout.for_ids(list(ids), self.width)
        self.writer.line(fit(banner(run_id, target, len(ids), faults), self.width), bold=True)

    def show(self, check: CheckResult) -> None:
        """A check's line, as soon as its result is known."""
        layout = self._layout or Layout.for_ids([check.id], self.width)
        with self._lock:
            self._erase()
            self.writer.line(row(check, layout, self.writer.markup))
            self.writer.flush()
        self._shown.add(check.id)

    def finish(self, run: RunResult, files: Sequence[str]) -> None:
        """The lines of checks reported at the end (what did not run, cleanup from the
        teardown), then the verdict and its alerts."""
        layout = self._layout or Layout.for_ids([c.id for c in run.checks], self.width)
        with self._lock:
            self._erase()
            for check in run.checks:
                if check.id not in self._shown:
                    self.writer.line(row(check, layout, self.writer.markup))
            for line in footer(run, self.width, self.writer.markup, files):
                self.writer.line(line)
            self.writer.flush()

    @contextmanager
    def waiting(self, what: str, total: float) -> Iterator[None]:
        """Show `what` with the seconds waited while the block runs (nothing for a short wait)."""
        stop = threading.Event()
        started = self._clock()

        def tick() -> None:
            interval = self._ticks[0] if self.tty else self._ticks[1]
            while not stop.wait(interval):
                self._progress(what, self._clock() - started, total)

        ticker = threading.Thread(target=tick, name="synthetics-progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
            with self._lock:
                self._erase()

    def _write(self, text: str) -> None:
        if self._progress_out is None:
            self.writer.write(text, flush=True)
        else:
            self._progress_out.write(text)
            self._progress_out.flush()

    def _progress(self, what: str, waited: float, total: float) -> None:
        text = fit(f"{what}… {waited:.0f} s / {total:.0f} s", self.width)
        with self._lock:
            if self.tty:
                self._write("\r" + text + " " * (self.width - cells(text)))
                self._drawn = True
            else:
                self._write(text + "\n")

    def _erase(self) -> None:
        if self._drawn:
            self._write("\r" + " " * self.width + "\r")
            self._drawn = False


def terminal_stream(writer_file: object) -> TextIO | None:
    """A stream of its own on the terminal pytest writes to (None when it has no descriptor)."""
    try:
        fd = writer_file.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None
    return os.fdopen(os.dup(fd), "w", encoding="utf-8", errors="replace", closefd=True)


#: Columns for output that goes to a log, not a terminal (unless `COLUMNS` says otherwise).
LOG_WIDTH = 120


def width_of(writer: Writer, *, tty: bool, env: Mapping[str, str] = os.environ) -> int:
    """How wide a line may be: the terminal's width (or `COLUMNS`); a log's is `LOG_WIDTH`."""
    if not tty and not env.get("COLUMNS"):
        return LOG_WIDTH
    return max(writer.fullwidth - 1, 20)


def output_files(report_dir: Path, names: Sequence[str]) -> list[str]:
    """The run's files that exist, as paths a person can open."""
    return [str(report_dir / n) for n in names if (report_dir / n).exists()]
