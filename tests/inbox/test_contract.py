"""What every provider promises, each against its local server (see conftest.harness).

Timing bounds are the point of these tests: a wait must notice a delivery within 0.3 s (the
backoff cap is 0.2 s; Mailpit's websocket and MailSlurp's long poll are immediate), and a wait
with nothing to find must end close to its timeout, not long after.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from synthetics.inbox import Inbox, find_confirmation_link
from tests.inbox.conftest import Harness
from tests.inbox.fakemail import CONFIRM_URL

#: How late a delivery may be noticed (s).
NOTICE_WITHIN = 0.3
#: How long after its timeout a fruitless wait may return (s).
TIMEOUT_SLACK = 0.3


def test_builds_a_protocol_inbox(harness: Harness) -> None:
    assert isinstance(harness.inbox, Inbox)
    assert harness.inbox.name == harness.name.removesuffix("-polling")


def test_returns_as_soon_as_the_mail_arrives(harness: Harness) -> None:
    address = harness.inbox.address_for("run-ab12-primary")
    delivered: list[float] = []

    def deliver_later() -> None:
        harness.deliver(address)
        delivered.append(time.monotonic())

    timer = threading.Timer(0.5, deliver_later)
    started = time.monotonic()
    timer.start()
    try:
        email = harness.inbox.wait_for_email(address, timeout=5)
    finally:
        timer.join()
    returned = time.monotonic()

    assert email is not None
    assert delivered, "the delivery did not happen"
    assert returned - started >= 0.5
    assert returned - delivered[0] < NOTICE_WITHIN
    assert email.to.casefold() == address.casefold()
    assert email.subject == "Confirm your email address"
    assert email.id
    assert find_confirmation_link(email) == CONFIRM_URL
    assert email.received_at is not None
    assert email.received_at.tzinfo is not None
    assert abs(email.received_at - datetime.now(UTC)) < timedelta(seconds=5)


def test_mail_already_there_is_returned_at_once(harness: Harness) -> None:
    address = harness.inbox.address_for("run-ab12-early")
    harness.deliver(address, subject="Already here")

    started = time.monotonic()
    email = harness.inbox.wait_for_email(address, timeout=5)

    assert email is not None
    assert email.subject == "Already here"
    assert time.monotonic() - started < NOTICE_WITHIN


def test_nothing_arriving_returns_none_at_the_timeout(harness: Harness) -> None:
    address = harness.inbox.address_for("run-ab12-silent")

    started = time.monotonic()
    email = harness.inbox.wait_for_email(address, timeout=0.6)
    elapsed = time.monotonic() - started

    assert email is None
    assert 0.6 <= elapsed < 0.6 + TIMEOUT_SLACK


def test_newest_of_several_is_returned(harness: Harness) -> None:
    address = harness.inbox.address_for("run-ab12-twice")
    harness.deliver(address, subject="First", age=3)
    harness.deliver(address, subject="Second")

    email = harness.inbox.wait_for_email(address, timeout=2)

    assert email is not None
    assert email.subject == "Second"


def test_since_ignores_older_mail_and_waits_for_new(harness: Harness) -> None:
    address = harness.inbox.address_for("run-ab12-since")
    harness.deliver(address, subject="From an earlier run", age=5)
    since = datetime.now(UTC) - timedelta(seconds=2)

    assert harness.inbox.wait_for_email(address, timeout=0.4, since=since) is None

    timer = threading.Timer(0.3, lambda: harness.deliver(address, subject="This run"))
    timer.start()
    try:
        email = harness.inbox.wait_for_email(address, timeout=5, since=since)
    finally:
        timer.join()
    assert email is not None
    assert email.subject == "This run"


def test_only_the_exact_address_counts(harness: Harness) -> None:
    # Providers search by substring (Mailpit, IMAP) or share a mailbox (Inbucket's local part).
    wanted = harness.inbox.address_for("run-1")
    harness.deliver(harness.inbox.address_for("run-10"), subject="Someone else's")

    assert harness.inbox.wait_for_email(wanted, timeout=0.4) is None

    harness.deliver(wanted, subject="Mine")
    email = harness.inbox.wait_for_email(wanted, timeout=2)
    assert email is not None
    assert email.subject == "Mine"


def test_delete_removes_the_message(harness: Harness) -> None:
    address = harness.inbox.address_for("run-ab12-delete")
    harness.deliver(address)
    email = harness.inbox.wait_for_email(address, timeout=2)
    assert email is not None

    harness.inbox.delete(email)

    assert harness.inbox.wait_for_email(address, timeout=0.3) is None
    harness.inbox.delete(email)  # already gone: not an error


def test_text_only_mail_and_a_custom_template(harness: Harness) -> None:
    address = harness.inbox.address_for("run-ab12-text")
    text = f"Bienvenue ! Activez votre compte :\n{CONFIRM_URL}\n\nL'équipe Mamapace."
    harness.deliver(address, subject="Activez votre compte", text=text)

    email = harness.inbox.wait_for_email(address, timeout=2)

    assert email is not None
    assert email.subject == "Activez votre compte"
    assert find_confirmation_link(email) == CONFIRM_URL


def test_close_is_idempotent(harness: Harness) -> None:
    harness.inbox.address_for("run-ab12-close")
    harness.inbox.close()
    harness.inbox.close()
