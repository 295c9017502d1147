"""Reading the sandbox's inbox in tests: wait for a message to an address, pull out its link."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import httpx

_LINK = re.compile(r'href="([^"]*/verify\?[^"]*)"')


def wait_for_message(inbox_url: str, address: str, timeout: float = 10.0) -> dict[str, Any]:
    """The newest full message to `address`, polling with backoff until `timeout`."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    with httpx.Client(base_url=inbox_url) as client:
        while True:
            found = client.get("/api/v1/search", params={"query": f"to:{address}"}).json()
            if found["messages"]:
                message: dict[str, Any] = client.get(
                    f"/api/v1/message/{found['messages'][0]['ID']}"
                ).json()
                return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no email to {address} within {timeout} s")
            time.sleep(delay)  # polling against a deadline, with backoff
            delay = min(delay * 2, 0.2)


def count_messages(inbox_url: str, address: str) -> int:
    """How many messages to `address` the inbox holds right now."""
    found = httpx.get(f"{inbox_url}/api/v1/search", params={"query": f"to:{address}"}).json()
    return int(found["messages_count"])


def confirmation_link(message: dict[str, Any]) -> str:
    """The `/verify?` link of a confirmation email, unescaped from its HTML."""
    match = _LINK.search(message["HTML"])
    assert match, "no /verify? link in the email"
    return html.unescape(match.group(1))


def wait_for_messages(
    inbox_url: str, address: str, count: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Once `address` has at least `count` messages: all of them, full, newest first."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    with httpx.Client(base_url=inbox_url) as client:
        while True:
            found = client.get("/api/v1/search", params={"query": f"to:{address}"}).json()
            if len(found["messages"]) >= count:
                return [client.get(f"/api/v1/message/{m['ID']}").json() for m in found["messages"]]
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {count} emails to {address} within {timeout} s")
            time.sleep(delay)  # polling against a deadline, with backoff
            delay = min(delay * 2, 0.2)
