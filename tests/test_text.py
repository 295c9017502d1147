"""Text from a target is made safe to show: valid, escaped, bounded."""

from __future__ import annotations

import pytest

from synthetics.text import one_line, safe_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain", "plain"),
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("nul\x00bel\x07", "nul\\x00bel\\x07"),
        ("carriage\rreturn", "carriage\\rreturn"),
        ("line\nbreak\tkept", "line\nbreak\tkept"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        (b"bytes \xff\xfe", "bytes \ufffd\ufffd"),
        (None, ""),
        ("\u2028separator", "\\u2028separator"),
    ],
)
def test_safe_text(raw: str | bytes | None, shown: str) -> None:
    assert safe_text(raw) == shown


def test_long_text_is_cut_and_says_how_long_it_was() -> None:
    body = "x" * 50_000_000
    shown = safe_text(body, limit=300)
    assert shown.startswith("x" * 300) and shown.endswith("… (50000000 bytes)")
    assert len(shown) < 330
    assert safe_text(body[:10], limit=None) == "x" * 10


def test_one_line() -> None:
    assert one_line("a\nb\tc") == "a b c"
