"""Mailpit specifics: parsing, the event stream and its polling fallback, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, WebSocketRoute
from starlette.websockets import WebSocket

from synthetics.inbox import InboxError, MailpitConfig, MailpitInbox, ReceivedEmail
from synthetics.inbox.mailpit import events_url, parse_message, summary_matches
from synthetics.sandbox.mail import MailStore, inbox_app
from tests.inbox.conftest import TEMPLATE, Mailpit, deliver_smtp
from tests.inbox.servers import ShiftableClock, free_port, serve

ADDRESS = "synthetic+run-1@mamapace-synthetics.dev"


def who(address: str, name: str = "") -> dict[str, str]:
    return {"Name": name, "Address": address}


@pytest.mark.parametrize(
    ("message", "created", "to", "expected"),
    [
        pytest.param(
            {"ID": "a1", "Subject": "Confirm", "To": [who(ADDRESS)], "HTML": "<p>x</p>",
             "Text": "x", "Date": "2020-01-01T00:00:00Z"},
            "2026-03-14T12:00:00.123456789Z", ADDRESS,
            ReceivedEmail("a1", ADDRESS, "Confirm", "<p>x</p>", "x",
                          datetime(2026, 3, 14, 12, 0, 0, 123456, tzinfo=UTC)),
            id="full-with-summary-created",
        ),
        pytest.param(
            {"ID": "a2", "To": [who("other@x.y"), who(ADDRESS.upper(), "Me")]}, None, ADDRESS,
            ReceivedEmail("a2", ADDRESS.upper(), "", "", "", None),
            id="picks-the-matching-recipient-no-created",
        ),
        pytest.param(
            {"ID": "a3", "To": [], "Subject": None, "HTML": None}, None, ADDRESS,
            ReceivedEmail("a3", ADDRESS, "", "", "", None), id="bcc-only-and-nulls",
        ),
        pytest.param(
            {"ID": "a4", "To": [who("first@x.y")], "Created": "2026-03-14T12:00:00Z"}, None, None,
            ReceivedEmail("a4", "first@x.y", "", "", "", datetime(2026, 3, 14, 12, tzinfo=UTC)),
            id="message-created-fallback",
        ),
    ],
)  # fmt: skip
def test_parse_message(
    message: dict[str, Any], created: str | None, to: str | None, expected: ReceivedEmail
) -> None:
    assert parse_message(message, created=created, to=to) == expected


def test_parse_message_needs_an_id() -> None:
    with pytest.raises(InboxError, match="mailpit: unexpected answer: no 'ID' field"):
        parse_message({"Subject": "x"})


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"To": [who(ADDRESS)]}, True),
        ({"To": [who(ADDRESS.upper())]}, True),
        ({"To": [], "Bcc": [who(ADDRESS)]}, True),
        ({"Cc": [who(ADDRESS)]}, True),
        ({"To": [who(ADDRESS.replace("run-1", "run-10"))]}, False),
        ({"To": [who("x" + ADDRESS)]}, False),
        ({"To": "nonsense"}, False),
        ({}, False),
    ],
)
def test_summary_matches_only_the_exact_address(summary: dict[str, Any], expected: bool) -> None:
    assert summary_matches(summary, ADDRESS) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:54324", "ws://127.0.0.1:54324/api/events"),
        ("https://mail.example.com/mailpit/", "wss://mail.example.com/mailpit/api/events"),
    ],
)
def test_events_url(url: str, expected: str) -> None:
    assert events_url(url) == expected


def test_address_for_fills_the_template() -> None:
    inbox = MailpitInbox(MailpitConfig(url="http://127.0.0.1:1", address_template=TEMPLATE))
    assert inbox.address_for("run-ab12-primary") == (
        "synthetic+run-ab12-primary@mamapace-synthetics.dev"
    )
    with pytest.raises(ValueError, match="invalid inbox tag"):
        inbox.address_for("no spaces")
    inbox.close()


def test_delete_never_sends_an_empty_id_list() -> None:
    # An empty IDs list makes Mailpit delete every message.
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    inbox = MailpitInbox(MailpitConfig(url="http://mailpit", address_template=TEMPLATE), client)
    with pytest.raises(ValueError, match="without an id"):
        inbox.delete(ReceivedEmail("", ADDRESS, "", "", "", None))


def test_events_notice_mail_at_once(mailpit: Mailpit) -> None:
    mailpit.store.delete()
    inbox = MailpitInbox(MailpitConfig(url=mailpit.running.url, address_template=TEMPLATE))
    delivered: list[float] = []

    def deliver() -> None:
        deliver_smtp(mailpit)(ADDRESS)
        delivered.append(time.monotonic())

    timer = threading.Timer(1.0, deliver)  # by then polling would pause 0.2 s between looks
    timer.start()
    try:
        email = inbox.wait_for_email(ADDRESS, timeout=5)
    finally:
        timer.join()
        inbox.close()
    assert email is not None
    assert time.monotonic() - delivered[0] < 0.1


async def _refuse(websocket: WebSocket) -> None:
    await websocket.close(code=1008)  # before accept: the handshake is refused (403)


async def _accept_then_drop(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


@pytest.fixture(params=[_refuse, _accept_then_drop], ids=["refused", "dropped"])
def mailpit_without_events(request: pytest.FixtureRequest) -> Iterator[Mailpit]:
    """The sandbox's Mailpit behind something that breaks websockets."""
    clock = ShiftableClock()
    store = MailStore(clock=clock)
    app = Starlette(
        routes=[WebSocketRoute("/api/events", request.param), Mount("/", app=inbox_app(store))]
    )
    with serve(app, smtp_store=store) as running:
        yield Mailpit(running, store, clock)


def test_without_websocket_it_falls_back_to_polling(mailpit_without_events: Mailpit) -> None:
    server = mailpit_without_events
    inbox = MailpitInbox(MailpitConfig(url=server.running.url, address_template=TEMPLATE))
    delivered: list[float] = []

    def deliver() -> None:
        deliver_smtp(server)(ADDRESS)
        delivered.append(time.monotonic())

    timer = threading.Timer(0.5, deliver)
    timer.start()
    try:
        email = inbox.wait_for_email(ADDRESS, timeout=5)
    finally:
        timer.join()
        inbox.close()
    assert email is not None
    assert time.monotonic() - delivered[0] < 0.3


def test_unreachable_mailpit_is_a_transient_inbox_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    inbox = MailpitInbox(MailpitConfig(url=url, address_template=TEMPLATE))
    with pytest.raises(InboxError) as caught:
        inbox.wait_for_email(ADDRESS, timeout=1)
    inbox.close()
    assert caught.value.transient
    assert str(caught.value).startswith("mailpit: GET /api/v1/search failed: ConnectError")


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(500, text="database is locked"),
         "GET /api/v1/search answered HTTP 500 (Internal Server Error): 'database is locked'"),
        (httpx.Response(200, json={"messages": "x"}), "'messages' is not a list"),
        (httpx.Response(200, json=["x"]), "expected an object, got list"),
        (httpx.Response(200, text="<html>"), "not JSON"),
    ],
)  # fmt: skip
def test_bad_answers_are_inbox_errors(response: httpx.Response, message: str) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    config = MailpitConfig(url="http://mailpit", address_template=TEMPLATE, events=False)
    inbox = MailpitInbox(config, client)
    with pytest.raises(InboxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        inbox.wait_for_email(ADDRESS, timeout=1)
