"""Inbucket specifics: mailbox naming, parsing, choosing the newest match, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from synthetics.inbox import InboxError, InbucketConfig, InbucketInbox, ReceivedEmail
from synthetics.inbox.inbucket import mailbox_name, newest_match, parse_message
from tests.inbox.conftest import TEMPLATE
from tests.inbox.fakemail import FakeMail
from tests.inbox.servers import free_port

ADDRESS = "synthetic+run-1@mamapace-synthetics.dev"
NOON_MS = 1773489600000
NOON = datetime(2026, 3, 14, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        ("synthetic+run-1@mamapace-synthetics.dev", "synthetic"),
        ("Synthetic+Run-1@Example.com", "synthetic"),
        ("monitor@example.com", "monitor"),
        ("first.last+a+b@example.com", "first.last"),
    ],
)
def test_mailbox_name_follows_inbucket_local_naming(address: str, mailbox: str) -> None:
    assert mailbox_name(address) == mailbox


def header(
    id: str, to: str = ADDRESS, millis: int | None = NOON_MS, **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"mailbox": "synthetic", "id": id, "to": [f"<{to}>"], **extra}
    if millis is not None:
        entry["posix-millis"] = millis
    return entry


@pytest.mark.parametrize(
    ("entries", "since", "expected"),
    [
        pytest.param([header("1"), header("2", millis=NOON_MS + 5)], None, "2", id="newest"),
        pytest.param([header("2", millis=NOON_MS + 5), header("1")], None, "2",
                     id="newest-whatever-the-order"),
        pytest.param([header("1", millis=None), header("2", millis=None)], None, "2",
                     id="no-times-last-listed"),
        pytest.param([header("1", millis=None, date="2026-03-14T13:00:00+01:00")], None, "1",
                     id="date-fallback"),
        pytest.param([header("1"), header("2", to=ADDRESS.replace("run-1", "run-10"),
                                           millis=NOON_MS + 9)], None, "1",
                     id="other-plus-address-same-mailbox"),
        pytest.param([header("1")], NOON, "1", id="since-inclusive"),
        pytest.param([header("1")], datetime(2026, 3, 14, 12, 0, 1, tzinfo=UTC), None,
                     id="too-old"),
        pytest.param([header("1", to="someone@else.dev")], None, None, id="no-match"),
        pytest.param(["junk", {"id": "x"}], None, None, id="junk-entries"),
    ],
)  # fmt: skip
def test_newest_match(entries: list[Any], since: datetime | None, expected: str | None) -> None:
    found = newest_match(entries, ADDRESS, since)
    assert (found["id"] if found is not None else None) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            {**header("m1"), "subject": "Confirm", "body": {"text": "t", "html": "<a>h</a>"}},
            ReceivedEmail("m1", ADDRESS, "Confirm", "<a>h</a>", "t", NOON), id="full",
        ),
        pytest.param(
            {"id": "m2", "to": ['"Me" <' + ADDRESS.upper() + ">"], "body": None,
             "date": "2026-03-14T12:00:00Z"},
            ReceivedEmail("m2", ADDRESS.upper(), "", "", "", NOON), id="named-recipient-no-body",
        ),
    ],
)  # fmt: skip
def test_parse_message(message: dict[str, Any], expected: ReceivedEmail) -> None:
    assert parse_message(message, to=ADDRESS) == expected


def test_address_for_fills_the_template() -> None:
    inbox = InbucketInbox(InbucketConfig(url="http://127.0.0.1:1", address_template=TEMPLATE))
    assert inbox.address_for("run-7") == "synthetic+run-7@mamapace-synthetics.dev"
    inbox.close()


def test_reads_the_local_part_mailbox(inbucket_url: str, fake_mail: FakeMail) -> None:
    seen: list[str] = []
    client = httpx.Client(event_hooks={"request": [lambda request: seen.append(request.url.path)]})
    inbox = InbucketInbox(InbucketConfig(url=inbucket_url, address_template=TEMPLATE), client)
    fake_mail.deliver(ADDRESS)

    email = inbox.wait_for_email(ADDRESS, timeout=2)
    assert email is not None
    inbox.delete(email)
    client.close()

    assert seen == [
        "/api/v1/mailbox/synthetic",
        f"/api/v1/mailbox/synthetic/{email.id}",
        f"/api/v1/mailbox/synthetic/{email.id}",
    ]
    assert fake_mail.messages() == []


def test_unreachable_inbucket_is_a_transient_inbox_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    inbox = InbucketInbox(InbucketConfig(url=url, address_template=TEMPLATE))
    with pytest.raises(InboxError) as caught:
        inbox.wait_for_email(ADDRESS, timeout=1)
    inbox.close()
    assert caught.value.transient
    assert str(caught.value).startswith("inbucket: GET /api/v1/mailbox/synthetic failed")


def test_a_mailbox_that_is_not_a_list_is_an_inbox_error() -> None:
    response = httpx.Response(200, json={"error": "x"})
    client = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    inbox = InbucketInbox(InbucketConfig(url="http://inbucket", address_template=TEMPLATE), client)
    with pytest.raises(InboxError, match="inbucket: unexpected answer: the mailbox is not a list"):
        inbox.wait_for_email(ADDRESS, timeout=1)
