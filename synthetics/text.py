"""Any text a target supplied, made safe to show: decoded, valid, escaped, bounded.

A target in trouble answers with anything: megabytes of HTML, lone surrogates in JSON, terminal
escape sequences. Every output (terminal, HTML, JUnit, results.json, alerts) passes what it
shows through `safe_text`, so none of them can be garbled, blown up or fail to encode.
"""

from __future__ import annotations

import re

#: Default length of a message taken from a target.
LIMIT = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def safe_text(value: str | bytes | None, *, limit: int | None = LIMIT) -> str:
    """`value` decoded (UTF-8, invalid bytes replaced), lone surrogates replaced, control
    characters escaped (newlines and tabs kept), and cut to `limit` characters with
    "… (N bytes)" saying how much there was. `limit=None` keeps the whole text."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        size = len(value)
        text = value.decode("utf-8", errors="replace")
    else:
        text = _SURROGATE.sub("\ufffd", value)
        size = len(text.encode("utf-8"))
    text = text.replace("\r\n", "\n").replace("\r", "\\r")
    text = _CONTROL.sub(_escape, text)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({size} bytes)"
    return text


def one_line(value: str | bytes | None, *, limit: int | None = LIMIT) -> str:
    """`safe_text` on a single line (newlines and tabs shown as spaces)."""
    return re.sub(r"[\n\t]+", " ", safe_text(value, limit=limit))
