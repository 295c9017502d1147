"""Mailosaur specifics: parsing, request shape, server pacing, authentication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from synthetics.inbox import InboxError, MailosaurConfig, MailosaurInbox, ReceivedEmail
from synthetics.inbox.mailosaur import delay_hint, newest_match, parse_message
from tests.inbox.conftest import MAILOSAUR_KEY, MAILOSAUR_SERVER
from tests.inbox.fake_mailosaur import MailosaurLog
from tests.inbox.fakemail import FakeMail

ADDRESS = f"run-1@{MAILOSAUR_SERVER}.mailosaur.net"
NOON = datetime(2026, 3, 14, 12, tzinfo=UTC)


def inbox_for(url: str, key: str = MAILOSAUR_KEY) -> MailosaurInbox:
    return MailosaurInbox(
        MailosaurConfig(server_id=MAILOSAUR_SERVER, api_key=SecretStr(key), url=url)
    )


def summary(
    id: str, to: str = ADDRESS, received: str = "2026-03-14T12:00:00.000Z"
) -> dict[str, Any]:
    return {"id": id, "to": [{"name": "", "email": to}], "received": received}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            {**summary("m1"), "subject": "Confirm",
             "html": {"body": "<a href='x'>y</a>", "links": [{"href": "x", "text": "y"}]},
             "text": {"body": "y", "links": []}},
            ReceivedEmail("m1", ADDRESS, "Confirm", "<a href='x'>y</a>", "y", NOON), id="full",
        ),
        pytest.param(
            {"id": "m2", "to": [{"email": "a@b.c"}, {"email": ADDRESS.upper()}],
             "html": {"body": None}, "text": None, "received": "2026-03-14T13:00:00+01:00"},
            ReceivedEmail("m2", ADDRESS.upper(), "", "", "", NOON), id="nulls-and-offset",
        ),
    ],
)  # fmt: skip
def test_parse_message(message: dict[str, Any], expected: ReceivedEmail) -> None:
    assert parse_message(message, to=ADDRESS) == expected


@pytest.mark.parametrize(
    ("items", "since", "expected"),
    [
        ([summary("new"), summary("old", received="2026-03-14T11:00:00Z")], None, "new"),
        ([summary("other", to="run-10@x.mailosaur.net"), summary("mine")], None, "mine"),
        ([summary("m")], NOON, "m"),
        ([summary("m")], NOON + timedelta(milliseconds=1), None),
        ([], None, None),
    ],
)
def test_newest_match(items: list[Any], since: datetime | None, expected: str | None) -> None:
    found = newest_match(items, ADDRESS, since)
    assert (found["id"] if found is not None else None) == expected


@pytest.mark.parametrize(
    ("header", "count", "seconds"),
    [(None, 0, 0.0), ("1000", 0, 1.0), ("250,500,1000", 1, 0.5), ("250,500,1000", 9, 1.0),
     ("fast", 0, 0.0), ("", 0, 0.0)],
)  # fmt: skip
def test_delay_hint(header: str | None, count: int, seconds: float) -> None:
    assert delay_hint(header, count) == seconds


def test_address_for() -> None:
    inbox = inbox_for("https://mailosaur.com")
    assert inbox.address_for("run-ab12-primary") == "run-ab12-primary@abcd1234.mailosaur.net"
    inbox.close()
    config = MailosaurConfig(
        server_id="abcd1234", api_key=SecretStr("k"), domain="mail.example.test"
    )
    assert MailosaurInbox(config).address_for("r") == "r@abcd1234.mail.example.test"


def test_search_request_shape(mailosaur: tuple[str, MailosaurLog], fake_mail: FakeMail) -> None:
    url, log = mailosaur
    log.searches.clear()
    fake_mail.deliver(ADDRESS)
    since = datetime(2026, 3, 14, 12, 0, 0, 750000, tzinfo=UTC)
    inbox = inbox_for(url)

    inbox.wait_for_email(ADDRESS, timeout=0, since=since)
    inbox.close()

    assert log.searches[0] == {
        "params": {"server": MAILOSAUR_SERVER, "page": "0", "itemsPerPage": "20",
                   "receivedAfter": "2026-03-14T12:00:00Z"},
        "criteria": {"sentTo": ADDRESS, "match": "ALL"},
    }  # fmt: skip


def test_wrong_key_is_an_inbox_error_without_the_key(
    mailosaur: tuple[str, MailosaurLog],
) -> None:
    wrong = "wrong-key-0e9d8c7b6a"
    inbox = inbox_for(mailosaur[0], key=wrong)
    with pytest.raises(InboxError) as caught:
        inbox.wait_for_email(ADDRESS, timeout=1)
    inbox.close()

    error = caught.value
    assert (error.status, error.transient) == (401, False)
    assert str(error) == (
        "mailosaur: POST /api/messages/search answered HTTP 401 "
        "(authentication failed, check the credentials)"
    )
    for text in (str(error), repr(error), repr(inbox)):
        assert wrong not in text
        assert MAILOSAUR_KEY not in text


def test_unknown_server_is_an_inbox_error(mailosaur: tuple[str, MailosaurLog]) -> None:
    config = MailosaurConfig(
        server_id="zzzz9999", api_key=SecretStr(MAILOSAUR_KEY), url=mailosaur[0]
    )
    inbox = MailosaurInbox(config)
    with pytest.raises(InboxError, match="answered HTTP 400"):
        inbox.wait_for_email("r@zzzz9999.mailosaur.net", timeout=1)
    inbox.close()
