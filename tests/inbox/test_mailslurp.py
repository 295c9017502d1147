"""MailSlurp specifics: parsing, inbox lifecycle, chained long polls, authentication."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from synthetics.inbox import InboxError, MailSlurpConfig, MailSlurpInbox, ReceivedEmail
from synthetics.inbox.mailslurp import parse_email, parse_inbox
from tests.inbox.conftest import MAILSLURP_KEY
from tests.inbox.fake_mailslurp import DOMAIN, MailSlurpState, mailslurp_app
from tests.inbox.fakemail import FakeMail
from tests.inbox.servers import serve

NOON = datetime(2026, 3, 14, 12, tzinfo=UTC)
ADDRESS = f"0b9f@{DOMAIN}"


def inbox_for(url: str, key: str = MAILSLURP_KEY) -> MailSlurpInbox:
    return MailSlurpInbox(MailSlurpConfig(api_key=SecretStr(key), url=url))


def email(**fields: Any) -> dict[str, Any]:
    return {"id": "e1", "to": [ADDRESS], "subject": "Confirm",
            "createdAt": "2026-03-14T12:00:00.000Z", **fields}  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(email(body="<a href='x'>y</a>", isHTML=True),
                     ReceivedEmail("e1", ADDRESS, "Confirm", "<a href='x'>y</a>", "", NOON),
                     id="isHTML"),
        pytest.param(email(body="see x", isHTML=False),
                     ReceivedEmail("e1", ADDRESS, "Confirm", "", "see x", NOON), id="text"),
        pytest.param(email(body="<p>y</p>", html=True),
                     ReceivedEmail("e1", ADDRESS, "Confirm", "<p>y</p>", "", NOON),
                     id="newer-html-flag"),
        pytest.param(email(body="<html><body><a href='x'>y</a></body></html>"),
                     ReceivedEmail("e1", ADDRESS, "Confirm",
                                   "<html><body><a href='x'>y</a></body></html>", "", NOON),
                     id="no-flag-looks-like-html"),
        pytest.param(email(body="plain 1 < 2", to=["x@y.z", ADDRESS.upper()], createdAt=None),
                     ReceivedEmail("e1", ADDRESS.upper(), "Confirm", "", "plain 1 < 2", None),
                     id="no-flag-plain"),
    ],
)  # fmt: skip
def test_parse_email(payload: dict[str, Any], expected: ReceivedEmail) -> None:
    assert parse_email(payload, to=ADDRESS) == expected


def test_parse_inbox() -> None:
    assert parse_inbox({"id": "i1", "emailAddress": ADDRESS, "name": None}) == ("i1", ADDRESS)
    with pytest.raises(InboxError, match="no 'emailAddress' field"):
        parse_inbox({"id": "i1"})


def test_inboxes_are_created_per_tag_and_deleted_on_close(
    mailslurp: tuple[str, MailSlurpState],
) -> None:
    url, state = mailslurp
    inbox = inbox_for(url)
    first, second = inbox.address_for("run-ab12-primary"), inbox.address_for("run-ab12-second")

    assert first != second
    assert {first, second} <= set(state.inboxes.values())
    created = {i for i, a in state.inboxes.items() if a in {first, second}}
    assert {state.names[i] for i in created} == {"run-ab12-primary", "run-ab12-second"}

    inbox.close()
    assert not created & set(state.inboxes)


def test_waiting_on_an_address_it_did_not_create_is_a_usage_error(
    mailslurp: tuple[str, MailSlurpState],
) -> None:
    inbox = inbox_for(mailslurp[0])
    with pytest.raises(ValueError, match="was not created by this MailSlurp inbox"):
        inbox.wait_for_email("someone@mailslurp.biz", timeout=1)
    inbox.close()


def test_since_is_sent_to_the_server(mailslurp: tuple[str, MailSlurpState]) -> None:
    url, state = mailslurp
    inbox = inbox_for(url)
    address = inbox.address_for("run-since")
    state.waits.clear()

    inbox.wait_for_email(address, timeout=0.2, since=datetime(2026, 3, 14, 12, 0, 0, 5000, UTC))
    inbox.close()

    assert state.waits[0]["since"] == "2026-03-14T12:00:00.005Z"
    assert int(state.waits[0]["timeout"]) <= 200
    assert "unreadOnly" not in state.waits[0]


def test_long_polls_are_chained_past_the_server_cap(fake_mail: FakeMail) -> None:
    app, state = mailslurp_app(fake_mail, api_key=MAILSLURP_KEY, max_wait_ms=250)
    with serve(app) as running:
        inbox = inbox_for(running.url)
        address = inbox.address_for("run-chain")
        delivered: list[float] = []

        def deliver() -> None:
            fake_mail.deliver(address)
            delivered.append(time.monotonic())

        timer = threading.Timer(0.9, deliver)
        timer.start()
        try:
            found = inbox.wait_for_email(address, timeout=5)
        finally:
            timer.join()
        returned = time.monotonic()
        inbox.close()

    assert found is not None
    assert returned - delivered[0] < 0.1  # a long poll answers as soon as mail is there
    assert len(state.waits) >= 4  # 408 after each 250 ms server-side wait, then asked again


def test_wrong_key_is_an_inbox_error_without_the_key(
    mailslurp: tuple[str, MailSlurpState],
) -> None:
    wrong = "wrong-slurp-key-66aa"
    inbox = inbox_for(mailslurp[0], key=wrong)
    with pytest.raises(InboxError) as caught:
        inbox.address_for("run-1")
    inbox.close()

    assert caught.value.status == 401
    assert str(caught.value).startswith(
        "mailslurp: POST /inboxes answered HTTP 401 (authentication failed, check the credentials)"
    )
    for text in (str(caught.value), repr(caught.value), repr(inbox)):
        assert wrong not in text


def test_failed_cleanup_is_reported_and_retried() -> None:
    outcomes = iter([httpx.Response(503), httpx.Response(204)])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"id": "i1", "emailAddress": ADDRESS})
        return next(outcomes)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    inbox = MailSlurpInbox(MailSlurpConfig(api_key=SecretStr(MAILSLURP_KEY)), client)
    inbox.address_for("run-1")

    with pytest.raises(InboxError, match=r"could not delete 1 inbox\(es\)") as caught:
        inbox.close()
    assert caught.value.transient
    assert repr(inbox) == "MailSlurpInbox(url='https://api.mailslurp.com', inboxes=1)"

    inbox.close()
    assert repr(inbox) == "MailSlurpInbox(url='https://api.mailslurp.com', inboxes=0)"
