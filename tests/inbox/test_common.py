"""Shared helpers: tags, addresses, timestamps, payload fields, redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from synthetics.inbox import InboxError
from synthetics.inbox._common import (
    check_address_template,
    check_http_url,
    check_tag,
    fill_template,
    from_epoch_millis,
    header_addresses,
    is_recent,
    iso_utc,
    parse_timestamp,
    pick_address,
    plus_address,
    redact,
    require,
)

NOON = datetime(2026, 3, 14, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("tag", ["run-ab12-primary", "a", "A_1", "x" * 64])
def test_valid_tags(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-lead", "has space", "a@b", "a+b", "dot.ted", "x" * 65])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(ValueError, match="invalid inbox tag"):
        check_tag(tag)


@pytest.mark.parametrize(
    ("template", "tag", "address"),
    [
        ("synthetic+{tag}@mamapace.dev", "run-1", "synthetic+run-1@mamapace.dev"),
        ("{tag}@example.com", "run-1", "run-1@example.com"),
        ("qa.{tag}@sub.example.com", "r", "qa.r@sub.example.com"),
    ],
)  # fmt: skip
def test_fill_template(template: str, tag: str, address: str) -> None:
    assert fill_template(template, tag) == address


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("synthetic@example.com", "exactly once"),
        ("{tag}{tag}@example.com", "exactly once"),
        ("synthetic+{tag}", "not an email address"),
        ("{tag}@", "not an email address"),
    ],
)
def test_bad_address_templates(template: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_address_template(template)


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://127.0.0.1:54324/", "http://127.0.0.1:54324"), ("https://a.b/x", "https://a.b/x")],
)
def test_check_http_url(url: str, expected: str) -> None:
    assert check_http_url(url) == expected


@pytest.mark.parametrize("url", ["127.0.0.1:54324", "ftp://a", "ws://a"])
def test_check_http_url_rejects(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        check_http_url(url)


def test_plus_address() -> None:
    assert plus_address("monitor@example.com", "run-1") == "monitor+run-1@example.com"
    with pytest.raises(ValueError, match="not an email address"):
        plus_address("monitor", "run-1")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["<a@b.c>"], ["a@b.c"]),
        (['"Name, Jr" <a@b.c>', "d@e.f"], ["a@b.c", "d@e.f"]),
        (["a@b.c, Other <d@e.f>"], ["a@b.c", "d@e.f"]),
        ([], []),
    ],
)
def test_header_addresses(values: list[str], expected: list[str]) -> None:
    assert header_addresses(values) == expected


def test_pick_address_is_exact_and_case_insensitive() -> None:
    candidates = ["synthetic+run-10@x.dev", "Synthetic+Run-1@X.dev"]
    assert pick_address(candidates, "synthetic+run-1@x.dev") == "Synthetic+Run-1@X.dev"
    assert pick_address(candidates, "synthetic+run@x.dev") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-14T12:00:00Z", NOON),
        ("2026-03-14T12:00:00.123456789Z", NOON + timedelta(microseconds=123456)),
        ("2026-03-14T14:00:00+02:00", NOON),
        ("2026-03-14T12:00:00", NOON),
        ("2026-03-14T12:00:00.5-00:30", NOON + timedelta(minutes=30, milliseconds=500)),
        ("not a time", None),
        ("", None),
        (None, None),
        (1710000000, None),
    ],
)
def test_parse_timestamp(value: object, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1773489600000, NOON), (1773489600000.0, NOON), (0, None), (-5, None), (True, None),
     ("1773489600000", None)],
)  # fmt: skip
def test_from_epoch_millis(value: object, expected: datetime | None) -> None:
    assert from_epoch_millis(value) == expected


def test_iso_utc() -> None:
    moment = datetime(2026, 3, 14, 13, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
    assert iso_utc(moment) == "2026-03-14T12:00:00.250Z"
    assert iso_utc(moment, millis=False) == "2026-03-14T12:00:00Z"


@pytest.mark.parametrize(
    ("received", "since", "expected"),
    [
        (NOON, None, True),
        (None, NOON, True),
        (NOON, NOON, True),
        (NOON, NOON + timedelta(microseconds=1), False),
        (NOON + timedelta(seconds=1), NOON, True),
    ],
)
def test_is_recent(received: datetime | None, since: datetime | None, expected: bool) -> None:
    assert is_recent(received, since) is expected


def test_require() -> None:
    assert require({"id": "x"}, "id", "p") == "x"
    with pytest.raises(InboxError, match=r"^p: unexpected answer: no 'id' field$"):
        require({"id": None}, "id", "p")
    with pytest.raises(InboxError, match="expected an object, got list"):
        require([], "id", "p")


def test_redact() -> None:
    assert redact("key=abc123 and abc123", ["abc123", ""]) == "key=*** and ***"
