"""Small pieces every provider shares: tags and addresses, timestamps, payload fields, redaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

from synthetics.inbox.base import InboxError

_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: What a redacted secret is replaced with.
REDACTED = "***"


def check_tag(tag: str) -> str:
    """Return `tag` if it is safe in an email local part (letters, digits, `-`, `_`; ≤ 64)."""
    if not _TAG.fullmatch(tag):
        raise ValueError(f"invalid inbox tag {tag!r}: use letters, digits, '-' and '_' (≤ 64)")
    return tag


def fill_template(template: str, tag: str) -> str:
    """Put a checked tag into an address template such as `synthetic+{tag}@example.com`."""
    return template.replace("{tag}", check_tag(tag))


def check_http_url(url: str) -> str:
    """Validate an http(s) base URL (config validator) and drop its trailing slash."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return url.rstrip("/")


def check_address_template(template: str) -> str:
    """Validate an address template (config validator): one `{tag}`, an address once filled."""
    if template.count("{tag}") != 1:
        raise ValueError("must contain '{tag}' exactly once, e.g. 'synthetic+{tag}@example.com'")
    split_address(template.replace("{tag}", "tag"))
    return template


def split_address(address: str) -> tuple[str, str]:
    """Split `local@domain` at its last `@` (ValueError when there is none)."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    return local, domain


def plus_address(address: str, tag: str) -> str:
    """`user@domain` → `user+tag@domain` (sub-addressing, RFC 5233)."""
    local, domain = split_address(address)
    return f"{local}+{check_tag(tag)}@{domain}"


def same_address(left: str, right: str) -> bool:
    """Whether two bare addresses are the same mailbox (case-insensitive, as providers compare)."""
    return left.strip().casefold() == right.strip().casefold()


def header_addresses(values: Iterable[str]) -> list[str]:
    """The bare addresses in header-style strings (`"Name" <a@b>`, `<a@b>`, `a@b, c@d`)."""
    return [address for _name, address in getaddresses(list(values)) if address]


def pick_address(candidates: Iterable[str], wanted: str) -> str | None:
    """The candidate equal to `wanted` (as the provider spelt it), else None."""
    for candidate in candidates:
        if same_address(candidate, wanted):
            return candidate
    return None


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime (naive values are taken to be UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_timestamp(value: object) -> datetime | None:
    """Parse an RFC 3339 / ISO 8601 timestamp (any fraction length, `Z` or offset) to UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        return None


def from_epoch_millis(value: object) -> datetime | None:
    """A UTC datetime from milliseconds since the epoch (None unless a positive number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def iso_utc(moment: datetime, *, millis: bool = True) -> str:
    """Format a time as UTC ISO 8601 with a `Z` (milliseconds, or whole seconds)."""
    text = as_utc(moment).isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


def is_recent(received_at: datetime | None, since: datetime | None) -> bool:
    """Whether a message counts for `since`: no bound, no provider timestamp, or at/after it."""
    return since is None or received_at is None or received_at >= since


def require(payload: object, key: str, provider: str) -> Any:
    """`payload[key]` from a provider's JSON object, or an InboxError naming what was missing."""
    if not isinstance(payload, Mapping):
        raise InboxError(f"unexpected answer: expected an object, got {type(payload).__name__}",
                         provider=provider)  # fmt: skip
    if key not in payload or payload[key] is None:
        raise InboxError(f"unexpected answer: no {key!r} field", provider=provider)
    return payload[key]


def text_field(payload: Mapping[str, Any], key: str) -> str:
    """An optional string field ('' when absent, null or not a string)."""
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret value replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
