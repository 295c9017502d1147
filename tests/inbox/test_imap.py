"""IMAP specifics: INTERNALDATE and message parsing, login, reconnects, delete."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from synthetics.inbox import ImapInbox, InboxError, ReceivedEmail
from synthetics.inbox.imap import imap_date, imap_quote, parse_internaldate, parse_rfc822
from tests.inbox.conftest import IMAP_PASSWORD, IMAP_USER, imap_config
from tests.inbox.fake_imap import FakeImapServer
from tests.inbox.fakemail import FakeMail
from tests.inbox.servers import free_port

ADDRESS = "monitor+run-1@example.com"
NOON = datetime(2026, 3, 14, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'1 (UID 5 INTERNALDATE "14-Mar-2026 12:00:00 +0000" RFC822 {10}', NOON),
        (b'1 (INTERNALDATE "14-Mar-2026 13:30:00 +0130" UID 5)', NOON),
        (b'1 (INTERNALDATE " 4-Mar-2026 07:00:00 -0500")', datetime(2026, 3, 4, 12, tzinfo=UTC)),
        (b'1 (INTERNALDATE "31-Feb-2026 12:00:00 +0000")', None),
        (b'1 (INTERNALDATE "14-Foo-2026 12:00:00 +0000")', None),
        (b"1 (UID 5)", None),
    ],
)
def test_parse_internaldate(line: bytes, expected: datetime | None) -> None:
    assert parse_internaldate(line) == expected


def test_imap_quote_and_date() -> None:
    assert imap_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert imap_date(datetime(2026, 3, 4, tzinfo=UTC)) == "4-Mar-2026"


MULTIPART = (
    b"From: Auth <noreply@mail.app.supabase.io>\r\nTo: " + ADDRESS.encode() + b"\r\n"
    b"Subject: =?utf-8?q?Best=C3=A4tigen?=\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
    b"quoted-printable\r\n\r\nLink: https://h/verify?token=3Dt&type=3Dsignup\r\n"
    b'--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<a href="x">y</a>\r\n--b--\r\n'
)
HTML_ONLY_BCC = (
    b"From: a@b.c\r\nTo: undisclosed-recipients:;\r\nDelivered-To: " + ADDRESS.encode() + b"\r\n"
    b"Subject: Confirm\r\nContent-Type: text/html; charset=x-unknown\r\n\r\n<p>hi</p>\r\n"
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(MULTIPART, ReceivedEmail(
            "7", ADDRESS, "Bestätigen", '<a href="x">y</a>',
            "Link: https://h/verify?token=t&type=signup", NOON), id="multipart-qp-encoded-word"),
        pytest.param(HTML_ONLY_BCC, ReceivedEmail("7", ADDRESS, "Confirm", "<p>hi</p>\r\n", "",
                                                  NOON), id="bcc-delivered-to-unknown-charset"),
    ],
)  # fmt: skip
def test_parse_rfc822(raw: bytes, expected: ReceivedEmail) -> None:
    assert parse_rfc822("7", raw, received_at=NOON, to=ADDRESS) == expected


def test_address_for_plus_addresses_the_mailbox(imap_server: FakeImapServer) -> None:
    inbox = ImapInbox(imap_config(imap_server))
    assert inbox.address_for("run-ab12-primary") == "monitor+run-ab12-primary@example.com"
    inbox.close()


def test_wrong_password_is_an_inbox_error_without_it(imap_server: FakeImapServer) -> None:
    wrong = 'not-the-password "x"'
    inbox = ImapInbox(imap_config(imap_server, password=wrong))
    with pytest.raises(InboxError) as caught:
        inbox.wait_for_email(ADDRESS, timeout=1)
    inbox.close()

    message = str(caught.value)
    assert message.startswith(f"imap: 127.0.0.1:{imap_server.port} refused the login")
    assert "AUTHENTICATIONFAILED" in message
    assert not caught.value.transient
    for text in (message, repr(caught.value), repr(inbox)):
        assert wrong not in text
        assert IMAP_PASSWORD not in text


def test_unknown_folder_is_an_inbox_error(imap_server: FakeImapServer) -> None:
    inbox = ImapInbox(imap_config(imap_server, folder="Synthetics/Runs"))
    with pytest.raises(InboxError, match="refused folder 'Synthetics/Runs'"):
        inbox.wait_for_email(ADDRESS, timeout=1)
    inbox.close()


def test_unreachable_server_is_a_transient_inbox_error(imap_server: FakeImapServer) -> None:
    inbox = ImapInbox(imap_config(imap_server, port=free_port()))
    with pytest.raises(InboxError) as caught:
        inbox.wait_for_email(ADDRESS, timeout=1)
    assert caught.value.transient
    assert "cannot connect to 127.0.0.1" in str(caught.value)


def test_a_dropped_connection_is_reopened(imap_server: FakeImapServer, fake_mail: FakeMail) -> None:
    inbox = ImapInbox(imap_config(imap_server))
    assert inbox.wait_for_email(ADDRESS, timeout=0) is None
    imap_server.drop_sessions()  # as a server closing an idle session does
    fake_mail.deliver(ADDRESS)

    email = inbox.wait_for_email(ADDRESS, timeout=2)
    inbox.close()
    assert email is not None


def test_delete_flags_and_expunges(imap_server: FakeImapServer, fake_mail: FakeMail) -> None:
    inbox = ImapInbox(imap_config(imap_server))
    fake_mail.deliver(ADDRESS)
    keep = fake_mail.deliver("monitor+other@example.com")
    email = inbox.wait_for_email(ADDRESS, timeout=2)
    assert email is not None
    imap_server.commands.clear()

    inbox.delete(email)
    inbox.close()

    assert imap_server.commands[:2] == ["UID", "EXPUNGE"]
    assert [m.id for m in fake_mail.messages()] == [keep.id]


def test_login_uses_the_configured_user(imap_server: FakeImapServer) -> None:
    assert imap_config(imap_server).username == IMAP_USER
