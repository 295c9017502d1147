"""A terminal's output as a page: the ANSI colours pytest's TerminalWriter writes (SGR codes)
as HTML, each line as the terminal left it (a `\\r` redraw replaces what came before), for a
screenshot in Chromium."""

from __future__ import annotations

import html
import re

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_CLASSES = {"1": "b", "2": "dim", **{str(30 + n): f"c{n}" for n in range(8)}}
_COLOURS = ["#000", "#e5534b", "#57ab5a", "#c69026", "#539bf5", "#b083f0", "#39c5cf", "#ccc"]
STYLE = (
    "body{background:#1e1e1e;margin:0;padding:12px}"
    "pre{color:#d4d4d4;font:13px/1.35 'DejaVu Sans Mono',monospace;margin:0}"
    ".b{font-weight:bold}.dim{opacity:.6}"
    + "".join(f".c{n}{{color:{c}}}" for n, c in enumerate(_COLOURS))
)


def screen(raw: str) -> list[str]:
    """Each line as it stands on the screen: what follows its last carriage return."""
    lines = raw.replace("\r\n", "\n").split("\n")
    return [line.rsplit("\r", 1)[-1] for line in lines]


def to_html(raw: str, title: str = "terminal") -> str:
    """A page showing `raw` terminal output with its colours."""
    out: list[str] = []
    for line in screen(raw):
        classes: list[str] = []
        pos = 0
        for match in _SGR.finditer(line):
            out.append(_span(line[pos : match.start()], classes))
            for code in (match.group(1) or "0").split(";"):
                if code == "0":
                    classes = []
                elif code == "39":  # default colour
                    classes = [c for c in classes if not c.startswith("c")]
                elif code == "22":  # normal intensity
                    classes = [c for c in classes if c not in ("b", "dim")]
                elif code in _CLASSES:
                    classes.append(_CLASSES[code])
            pos = match.end()
        out.append(_span(line[pos:], classes))
        out.append("\n")
    body = "".join(out)
    return (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><pre>{body}</pre>"
    )


def _span(text: str, classes: list[str]) -> str:
    if not text:
        return ""
    if not classes:
        return html.escape(text)
    return f"<span class='{' '.join(classes)}'>{html.escape(text)}</span>"
