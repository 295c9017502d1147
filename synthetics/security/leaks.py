"""What an error answer must not show: SQL, schema objects, row values, stacks.

The patterns are matched against what a client shows a user: a JSON error body is decoded and
its `message`, `details` and `hint` (and GoTrue's `msg`, `error_description`) are read — in the
raw JSON text quotes are escaped (`relation \\"posts\\"`), which hid leaks before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

LEAKS = {
    "an SQL statement": re.compile(
        r"(?is)\b(select\b.{1,200}\bfrom|insert\s+into|delete\s+from|update\s+\w+\s+set)\b"
    ),
    "a PL/pgSQL stack": re.compile(r"PL/pgSQL|\bline \d+ at\b|CONTEXT:"),
    "a relation or constraint name": re.compile(
        r'\b(relation|constraint|column|table|function) "[^"]+"'
    ),
    "row values": re.compile(r"\bKey \([^)]+\)=\("),
    "a stack trace": re.compile(
        r"Traceback \(most recent call last\)|\bat \w[\w.$]*\([^)]*:\d+:\d+\)"
    ),
}
_FIELDS = ("message", "details", "hint", "msg", "error_description", "error")


def shown_text(body: bytes | str) -> str:
    """The text an error answer shows: its message fields when it is JSON, else the body."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        decoded = json.loads(text)
    except ValueError:
        return text
    if isinstance(decoded, Mapping):
        parts = [str(decoded[k]) for k in _FIELDS if isinstance(decoded.get(k), str)]
        return "\n".join(parts)
    return text


def leaks(body: bytes | str) -> list[str]:
    """What the answer exposes (names of the LEAKS it matches)."""
    text = shown_text(body)
    return [what for what, pattern in LEAKS.items() if pattern.search(text)]
