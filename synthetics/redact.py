"""Keeping secrets out of every output: known values, their encodings, their long fragments and
credential-shaped text become [REDACTED].

A run registers each secret it handles (API keys, inbox keys, database URLs, passwords, tokens,
confirmation links and their tokens, PKCE codes and verifiers, webhook URLs and routing keys) as it
meets them; everything written out (messages, evidence, pytest reports, JUnit, HTML,
results.json, log records) passes through `Redactor.redact` first. A registered value is masked:
- as it is, URL-encoded, and base64-encoded (standard and URL-safe, with or without padding);
- when only a long enough prefix or suffix of it shows (a target that echoes a key cut short);
and patterns catch what was never registered: JWTs, `Authorization: Bearer|Basic …`, and
credential parameters in URLs.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

MASK = "[REDACTED]"
_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|provider_token|token|token_hash|code|"
        r"code_verifier|apikey|api_key|password|routing_key)=)[^&#\s\"'<>]+"
    ),
    re.compile(
        r"(?i)(\"(?:access_token|refresh_token|password|code_verifier|api_key|apikey|"
        r"routing_key|webhook_url)\"\s*:\s*\")[^\"]+"
    ),
    re.compile(r"(?i)(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+(?=@)"),
)
#: Values shorter than this are not registered: masking "123" everywhere would garble output.
_MIN_LENGTH = 6
#: A fragment of a secret is masked when at least this long (and a third of the secret).
_FRAGMENT = 10


def _forms(value: str) -> set[str]:
    """The value and the encodings a target might echo it in."""
    raw = value.encode("utf-8")
    forms = {value, quote(value, safe=""), quote_plus(value)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode("ascii")
        forms |= {encoded, encoded.rstrip("=")}
    return {f for f in forms if len(f) >= _MIN_LENGTH}


class Redactor:
    """Known secret values (and their forms) plus credential patterns, masked in any text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._form_set: set[str] = set()
        #: Every form, longest first (made again by `redact` after an `add`).
        self._forms: list[str] | None = []
        self._lock = threading.Lock()

    def add(self, *values: str | SecretStr | None) -> None:
        """Register secret values (None and short values are ignored)."""
        with self._lock:
            for value in values:
                raw = value.get_secret_value() if isinstance(value, SecretStr) else value
                if raw and len(raw) >= _MIN_LENGTH and raw not in self._values:
                    # Only the new value's forms are made: a run registers hundreds of tokens.
                    self._values.add(raw)
                    self._form_set |= _forms(raw)
                    self._forms = None

    def values(self) -> set[str]:
        """A copy of the registered values (for tests that scan outputs)."""
        with self._lock:
            return set(self._values)

    def redact(self, text: str) -> str:
        """`text` with every registered value, form and long fragment, and every
        credential-shaped substring, masked."""
        with self._lock:
            if self._forms is None:
                self._forms = sorted(self._form_set, key=len, reverse=True)
            forms, values = self._forms, list(self._values)
        # Every span is found on the text as it came, then all are masked at once: masking one
        # secret first could break the fragment of another that overlaps it (two keys that
        # share their first characters).
        spans: list[tuple[int, int]] = []
        cuts = _cut_ends(text)
        for form in forms:
            spans += _occurrences(text, form)
            spans += _cut_spans(text, form, cuts)
        for value in values:
            spans += _fragment_spans(text, value)
        text = _masked(text, spans)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
        return text

    def redact_any(self, value: Any) -> Any:
        """Redact strings inside dicts, lists and tuples too."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_any(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_any(v) for v in value)
        return value

    @contextmanager
    def logging(self) -> Iterator[None]:
        """Every log record created while the block runs is redacted at its creation, whatever
        logger and handler it goes to (pytest's live logs included)."""
        previous = logging.getLogRecordFactory()
        factory = _redacting_factory(previous, self.redact)
        logging.setLogRecordFactory(factory)
        try:
            yield
        finally:
            if logging.getLogRecordFactory() is factory:
                logging.setLogRecordFactory(previous)


def _occurrences(text: str, form: str) -> list[tuple[int, int]]:
    spans, start = [], text.find(form)
    while start != -1:
        spans.append((start, start + len(form)))
        start = text.find(form, start + len(form))
    return spans


def _fragment_spans(text: str, secret: str) -> list[tuple[int, int]]:
    """Where a prefix or suffix of `secret` long enough to matter shows (a key cut short)."""
    size = max(_FRAGMENT, len(secret) // 3)
    if len(secret) < size + 2:  # short secrets: only the whole value (found already)
        return []
    spans = []
    head, tail = secret[:size], secret[-size:]
    for start, _ in _occurrences(text, head):
        end = start + size
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        spans.append((start, end))
    for start, end in _occurrences(text, tail):
        begin, offset = start, len(secret) - size
        while begin > 0 and offset > 0 and text[begin - 1] == secret[offset - 1]:
            begin, offset = begin - 1, offset - 1
        spans.append((begin, end))
    return spans


#: Where text was cut short (`synthetics.text.safe_text` marks it so): a secret cut there leaves a
#: prefix of itself right before the mark.
_CUT = "…"


def _cut_ends(text: str) -> list[int]:
    """Where `text` was cut: each cut mark's position, and its end."""
    ends, at = [], text.find(_CUT)
    while at != -1:
        ends.append(at)
        at = text.find(_CUT, at + 1)
    return [*ends, len(text)]


def _cut_spans(text: str, secret: str, ends: list[int]) -> list[tuple[int, int]]:
    """The longest prefix of `secret` (6 characters or more, the whole secret excepted) that
    ends at one of `ends`, where the text was cut: each begins with the secret's first 6
    characters, so only where those show is compared (str.find, not a loop over sizes)."""
    spans = []
    head = secret[:_MIN_LENGTH]
    for end in ends:
        start = text.find(head, max(0, end - len(secret) + 1), end)
        while start != -1:
            if text[start:end] == secret[: end - start]:
                spans.append((start, end))
                break
            start = text.find(head, start + 1, end)
    return spans


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the (possibly overlapping) spans replaced by one mask each run."""
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, last = [], 0
    for start, end in merged:
        pieces += [text[last:start], MASK]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _redacting_factory(
    previous: Callable[..., logging.LogRecord], redact: Callable[[str], str]
) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return record

    return factory
