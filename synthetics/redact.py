"""Keeping secrets out of every output: known values and credential-shaped text become [REDACTED].

A run registers each secret it handles (API keys, passwords, tokens, confirmation links, PKCE
codes) as it meets them; everything written out (messages, evidence, pytest reports, JUnit, HTML,
results.json) passes through `Redactor.redact` first. Patterns catch what was never registered:
JWTs, Bearer headers, and credential parameters in URLs.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from pydantic import SecretStr

MASK = "[REDACTED]"
_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)(bearer\s+)[^\s\"',]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|provider_token|token|token_hash|code|"
        r"code_verifier|apikey|api_key|password)=)[^&#\s\"'<>]+"
    ),
    re.compile(
        r"(?i)(\"(?:access_token|refresh_token|password|code_verifier|api_key)\"\s*:\s*\")[^\"]+"
    ),
)
#: Values shorter than this are not registered: masking "123" everywhere would garble output.
_MIN_LENGTH = 6


class Redactor:
    """Known secret values plus credential patterns, masked in any text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str | SecretStr | None) -> None:
        """Register secret values (None and short values are ignored)."""
        with self._lock:
            for value in values:
                raw = value.get_secret_value() if isinstance(value, SecretStr) else value
                if raw and len(raw) >= _MIN_LENGTH:
                    self._values.add(raw)

    def values(self) -> set[str]:
        """A copy of the registered values (for tests that scan outputs)."""
        with self._lock:
            return set(self._values)

    def redact(self, text: str) -> str:
        """`text` with every registered value and credential-shaped substring masked."""
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
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
