"""Local servers for the inbox tests, and one harness per provider for the shared contract tests.

Mailpit is the project's own sandbox mail server (real SMTP in, Mailpit API out); Inbucket,
Mailosaur, MailSlurp and IMAP are fakes in this package that speak each documented protocol.
Servers start once per session; every test starts with empty mailboxes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from synthetics.inbox import (
    ImapConfig,
    Inbox,
    InbucketConfig,
    MailosaurConfig,
    MailpitConfig,
    MailSlurpConfig,
    build_inbox,
)
from synthetics.sandbox.mail import MailStore, inbox_app
from tests.inbox.fake_imap import FakeImapServer
from tests.inbox.fake_inbucket import inbucket_app
from tests.inbox.fake_mailosaur import MailosaurLog, mailosaur_app
from tests.inbox.fake_mailslurp import MailSlurpState, mailslurp_app
from tests.inbox.fakemail import SENDER, FakeMail, build_message, default_html
from tests.inbox.servers import Running, ShiftableClock, send_smtp, serve

TEMPLATE = "synthetic+{tag}@mamapace-synthetics.dev"
MAILOSAUR_SERVER = "abcd1234"
MAILOSAUR_KEY = "mailosaur-key-5f0c2a9e17d4"
MAILSLURP_KEY = "mailslurp-key-9b3e7d21c4a8"
IMAP_USER = "monitor@example.com"
IMAP_PASSWORD = 'imap-secret "quoted" \\ 7d1f'
PROVIDERS = ["mailpit", "mailpit-polling", "inbucket", "mailosaur", "mailslurp", "imap"]


@dataclass
class Mailpit:
    """The sandbox mail server: its store (with a clock that can be set back) and addresses."""

    running: Running
    store: MailStore
    clock: ShiftableClock


@dataclass
class Harness:
    """One provider under test: its Inbox and a way to get mail into it."""

    name: str
    inbox: Inbox
    deliver: Callable[..., object]  # deliver(to, *, subject=, html=, text=, age=)


@pytest.fixture(scope="session")
def fake_mail() -> FakeMail:
    return FakeMail()


@pytest.fixture(scope="session")
def mailpit() -> Iterator[Mailpit]:
    clock = ShiftableClock()
    store = MailStore(clock=clock)
    with serve(inbox_app(store), smtp_store=store) as running:
        yield Mailpit(running, store, clock)


@pytest.fixture(scope="session")
def inbucket_url(fake_mail: FakeMail) -> Iterator[str]:
    with serve(inbucket_app(fake_mail)) as running:
        yield running.url


@pytest.fixture(scope="session")
def mailosaur(fake_mail: FakeMail) -> Iterator[tuple[str, MailosaurLog]]:
    app, log = mailosaur_app(fake_mail, server_id=MAILOSAUR_SERVER, api_key=MAILOSAUR_KEY)
    with serve(app) as running:
        yield running.url, log


@pytest.fixture(scope="session")
def mailslurp(fake_mail: FakeMail) -> Iterator[tuple[str, MailSlurpState]]:
    app, state = mailslurp_app(fake_mail, api_key=MAILSLURP_KEY)
    with serve(app) as running:
        yield running.url, state


@pytest.fixture(scope="session")
def imap_server(fake_mail: FakeMail) -> Iterator[FakeImapServer]:
    server = FakeImapServer(fake_mail, username=IMAP_USER, password=IMAP_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _empty_mailboxes(fake_mail: FakeMail) -> None:
    fake_mail.clear()


def deliver_smtp(mailpit: Mailpit) -> Callable[..., object]:
    """Delivery into the sandbox over real SMTP, optionally stamped `age` seconds in the past."""

    def deliver(
        to: str, *, subject: str = "Confirm your email address", html: str | None = None,
        text: str = "", age: float = 0.0,
    ) -> None:  # fmt: skip
        message = build_message(
            sender=SENDER, to=[to], subject=subject, html=default_html(html, text), text=text,
            date=mailpit.clock(),
        )  # fmt: skip
        assert mailpit.running.smtp_port is not None
        mailpit.clock.age = age
        try:
            send_smtp(mailpit.running.smtp_port, message)
        finally:
            mailpit.clock.age = 0.0

    return deliver


@pytest.fixture(params=PROVIDERS)
def harness(request: pytest.FixtureRequest, fake_mail: FakeMail) -> Iterator[Harness]:
    """Each provider in turn, against its local server, with empty mailboxes."""
    name: str = request.param
    if name.startswith("mailpit"):
        server: Mailpit = request.getfixturevalue("mailpit")
        server.store.delete()
        config = MailpitConfig(
            url=server.running.url, address_template=TEMPLATE, events=name == "mailpit"
        )
        inbox = build_inbox(config)
        deliver = deliver_smtp(server)
    else:
        deliver = fake_mail.deliver
        if name == "inbucket":
            url = request.getfixturevalue("inbucket_url")
            inbox = build_inbox(InbucketConfig(url=url, address_template=TEMPLATE))
        elif name == "mailosaur":
            url, _log = request.getfixturevalue("mailosaur")
            inbox = build_inbox(
                MailosaurConfig(
                    server_id=MAILOSAUR_SERVER, api_key=SecretStr(MAILOSAUR_KEY), url=url
                )
            )
        elif name == "mailslurp":
            url, _state = request.getfixturevalue("mailslurp")
            inbox = build_inbox(MailSlurpConfig(api_key=SecretStr(MAILSLURP_KEY), url=url))
        else:
            imap: FakeImapServer = request.getfixturevalue("imap_server")
            inbox = build_inbox(imap_config(imap))
    yield Harness(name, inbox, deliver)
    inbox.close()


def imap_config(server: FakeImapServer, **changes: object) -> ImapConfig:
    """An ImapConfig for the fake server (plain TCP)."""
    values: dict[str, object] = {
        "host": "127.0.0.1", "port": server.port, "username": IMAP_USER,
        "password": IMAP_PASSWORD, "address": IMAP_USER, "ssl": False,
    }  # fmt: skip
    values.update(changes)
    return ImapConfig.model_validate(values)
