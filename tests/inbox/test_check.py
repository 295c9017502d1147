"""`Inbox.check()`: each provider against its local server proves it is reachable and takes the
credentials, and changes nothing: no message read, deleted or sent, no inbox made, no flag set."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from synthetics.inbox import (
    InboxError,
    InbucketConfig,
    MailosaurConfig,
    MailpitConfig,
    MailSlurpConfig,
    build_inbox,
)
from tests.inbox.conftest import (
    IMAP_PASSWORD,
    MAILOSAUR_KEY,
    MAILOSAUR_SERVER,
    MAILSLURP_KEY,
    TEMPLATE,
    Harness,
    Mailpit,
    imap_config,
)
from tests.inbox.fake_imap import FakeImapServer
from tests.inbox.fake_mailslurp import MailSlurpState
from tests.inbox.fakemail import FakeMail
from tests.inbox.servers import free_port


def _mail_seen(harness: Harness, request: pytest.FixtureRequest) -> list[tuple[str, bool]]:
    """(id, read) of every message the provider's server holds."""
    if harness.name.startswith("mailpit"):
        mailpit: Mailpit = request.getfixturevalue("mailpit")
        return [(m["ID"], m["Read"]) for m in mailpit.store.list().messages]
    fake: FakeMail = request.getfixturevalue("fake_mail")
    return [(m.id, m.read or bool(m.flags)) for m in fake.messages()]


def test_check_answers_and_changes_nothing(
    harness: Harness, request: pytest.FixtureRequest
) -> None:
    harness.deliver(harness.inbox.address_for("run-ab12-primary"))
    before = _mail_seen(harness, request)
    imap: FakeImapServer | None = None
    if harness.name == "imap":
        imap = request.getfixturevalue("imap_server")
        imap.commands.clear()
    slurp: MailSlurpState | None = None
    if harness.name == "mailslurp":
        slurp = request.getfixturevalue("mailslurp")[1]
        inboxes = dict(slurp.inboxes)

    said = harness.inbox.check()

    assert said and "\n" not in said
    assert _mail_seen(harness, request) == before  # nothing read, flagged or deleted
    if imap is not None:
        assert "EXAMINE" in imap.commands and "LOGIN" in imap.commands
        assert not {"SELECT", "STORE", "EXPUNGE", "UID"} & set(imap.commands), imap.commands
    if slurp is not None:
        assert slurp.inboxes == inboxes  # no inbox was created


def test_mailpit_check_counts_the_messages(mailpit: Mailpit) -> None:
    mailpit.store.delete()
    inbox = build_inbox(MailpitConfig(url=mailpit.running.url, address_template=TEMPLATE))
    assert inbox.check().endswith("0 message(s) stored")


@pytest.mark.parametrize(
    "make",
    [
        lambda url: MailosaurConfig(
            server_id=MAILOSAUR_SERVER, api_key=SecretStr("wrong-mailosaur-key-0000"), url=url
        ),
        lambda url: MailosaurConfig(
            server_id="zzzz9999", api_key=SecretStr(MAILOSAUR_KEY), url=url
        ),
    ],
    ids=["wrong key", "wrong server"],
)
def test_mailosaur_check_refuses_what_does_not_open_the_server(
    mailosaur: tuple[str, object], make: object
) -> None:
    url, _log = mailosaur
    config = make(url)  # type: ignore[operator]
    inbox = build_inbox(config)
    with pytest.raises(InboxError) as caught:
        inbox.check()
    assert caught.value.status in (401, 404)
    assert "wrong-mailosaur-key" not in str(caught.value)
    assert MAILOSAUR_KEY not in str(caught.value)


def test_mailslurp_check_refuses_a_wrong_key(mailslurp: tuple[str, MailSlurpState]) -> None:
    url, _state = mailslurp
    inbox = build_inbox(MailSlurpConfig(api_key=SecretStr("wrong-slurp-key-000000"), url=url))
    with pytest.raises(InboxError) as caught:
        inbox.check()
    assert caught.value.status == 401
    assert "wrong-slurp-key" not in str(caught.value)


def test_mailslurp_check_with_the_key_says_the_account(
    mailslurp: tuple[str, MailSlurpState],
) -> None:
    url, _state = mailslurp
    inbox = build_inbox(MailSlurpConfig(api_key=SecretStr(MAILSLURP_KEY), url=url))
    assert inbox.check() == "MailSlurp accepted the API key (account ACTIVE)"


def test_imap_check_refuses_a_wrong_password(imap_server: FakeImapServer) -> None:
    inbox = build_inbox(imap_config(imap_server, password="not-the-password-123"))
    with pytest.raises(InboxError, match="refused the login") as caught:
        inbox.check()
    assert "not-the-password-123" not in str(caught.value)
    assert IMAP_PASSWORD not in str(caught.value)


def test_imap_check_refuses_an_unknown_folder(imap_server: FakeImapServer) -> None:
    inbox = build_inbox(imap_config(imap_server, folder="Synthetics/Runs"))
    with pytest.raises(InboxError, match="folder 'Synthetics/Runs'"):
        inbox.check()


@pytest.mark.parametrize("provider", ["mailpit", "inbucket", "imap"])
def test_check_of_an_unreachable_server_is_a_transient_error(
    provider: str, imap_server: FakeImapServer
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    if provider == "mailpit":
        inbox = build_inbox(MailpitConfig(url=url, address_template=TEMPLATE))
    elif provider == "inbucket":
        inbox = build_inbox(InbucketConfig(url=url, address_template=TEMPLATE))
    else:
        inbox = build_inbox(imap_config(imap_server, port=free_port()))
    with pytest.raises(InboxError) as caught:
        inbox.check()
    assert caught.value.transient
