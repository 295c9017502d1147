"""The sandbox's mail side over real sockets: mail in with smtplib, Mailpit API out with httpx."""

from __future__ import annotations

import asyncio
import json
import re
import smtplib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import httpx
import pytest

from synthetics.errors import SandboxError
from synthetics.sandbox.mail import MailStore, MessageSummary, inbox_app, start_smtp
from tests.servers import serve

CONFIRM_LINK = (
    "http://127.0.0.1:54321/auth/v1/verify"
    "?token=pkce_abc&type=signup&redirect_to=mamapace://auth-callback"
)
AUTH_SENDER = "noreply@mail.app.supabase.io"
USER = "monitor+run1@example.com"
OTHER = "someone@example.org"
SUMMARY_KEYS = {
    "ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo",
    "Subject", "Created", "Tags", "Size", "Attachments", "Snippet",
}  # fmt: skip
MESSAGE_KEYS = {
    "ID", "MessageID", "From", "To", "Cc", "Bcc", "ReplyTo", "ReturnPath", "Subject",
    "Date", "Tags", "Text", "HTML", "Size", "Inline", "Attachments",
}  # fmt: skip


def confirmation_email(to: str = USER) -> EmailMessage:
    """An HTML-only sign-up confirmation shaped like GoTrue's."""
    message = EmailMessage()
    message["From"] = f"Supabase Auth <{AUTH_SENDER}>"
    message["To"] = to
    message["Subject"] = "Confirm your email address"
    message.set_content(
        "<h2>Confirm your signup</h2><p>Follow this link to confirm your user:</p>"
        f'<p><a href="{CONFIRM_LINK}">Confirm email address</a></p>',
        subtype="html",
    )
    return message


def digest_email() -> EmailMessage:
    """A multipart/alternative message with a text and an HTML body."""
    message = EmailMessage()
    message["From"] = "Mamapace <hello@mamapace.app>"
    message["To"] = OTHER
    message["Cc"] = "Team <team@mamapace.app>"
    message["Subject"] = "Weekly digest"
    message["Message-ID"] = "<digest-1@mamapace.app>"
    message.set_content("Hello from Mamapace.\n\nThis   week:\tthree new posts.\n")
    message.add_alternative("<p>Hello from <b>Mamapace</b>.</p>", subtype="html")
    return message


@dataclass
class MailSandbox:
    """The running mail side: its store, its SMTP port and an HTTP client on its inbox API."""

    store: MailStore
    smtp_port: int
    api: httpx.Client
    events_url: str

    def send(self, message: EmailMessage, *, to: list[str] | None = None) -> None:
        """Deliver a message over real SMTP (envelope recipients default to the headers')."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as smtp:
            smtp.send_message(message, to_addrs=to)

    def summaries(self) -> list[MessageSummary]:
        """The inbox listing, newest first."""
        response = self.api.get("/api/v1/messages")
        response.raise_for_status()
        messages: list[MessageSummary] = response.json()["messages"]
        return messages


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    """SMTP and the inbox API on one event loop in a background thread, as the sandbox runs them."""
    store = MailStore()
    with serve(inbox_app(store), smtp_store=store) as running:
        assert running.smtp_port is not None
        with httpx.Client(base_url=running.url, timeout=10) as api:
            events = running.url.replace("http://", "ws://") + "/api/events"
            yield MailSandbox(store, running.smtp_port, api, events)


def test_smtp_accepts_with_mailpit_reply(mail: MailSandbox) -> None:
    with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail(AUTH_SENDER)
        smtp.rcpt(USER)
        assert smtp.data(bytes(confirmation_email())) == (250, b"Message accepted for delivery")
    assert mail.store.stats().total == 1


def test_list_is_mailpit_shaped_and_newest_first(mail: MailSandbox) -> None:
    mail.send(confirmation_email())
    mail.send(digest_email())

    body = mail.api.get("/api/v1/messages").json()

    assert {k: v for k, v in body.items() if k != "messages"} == {
        "total": 2,
        "unread": 2,
        "count": 2,
        "messages_count": 2,
        "messages_unread": 2,
        "start": 0,
        "tags": [],
    }
    digest, confirmation = body["messages"]
    assert [digest["Subject"], confirmation["Subject"]] == [
        "Weekly digest",
        "Confirm your email address",
    ]
    for summary in (digest, confirmation):
        assert set(summary) == SUMMARY_KEYS
        assert re.fullmatch(r"[A-Za-z0-9]{22}", summary["ID"])
        assert summary["Created"].endswith("Z")
        assert summary["Read"] is False
        assert summary["Tags"] == []
        assert summary["Attachments"] == 0
        assert summary["Size"] > 0
        assert not summary["MessageID"].startswith("<")
    assert datetime.fromisoformat(digest["Created"]) >= datetime.fromisoformat(
        confirmation["Created"]
    )
    assert confirmation["From"] == {"Name": "Supabase Auth", "Address": AUTH_SENDER}
    assert confirmation["To"] == [{"Name": "", "Address": USER}]
    assert confirmation["MessageID"].endswith("@mailpit")  # smtplib sent none; Mailpit adds one
    assert confirmation["Snippet"] == (
        "Confirm your signup Follow this link to confirm your user: Confirm email address"
    )
    assert digest["MessageID"] == "digest-1@mamapace.app"
    assert digest["Cc"] == [{"Name": "Team", "Address": "team@mamapace.app"}]
    assert digest["Snippet"] == "Hello from Mamapace. This week: three new posts."


def test_list_pages_with_start_and_limit(mail: MailSandbox) -> None:
    mail.send(confirmation_email())
    mail.send(digest_email())

    body = mail.api.get("/api/v1/messages", params={"start": 1, "limit": 1}).json()

    assert (body["start"], body["count"], body["messages_count"]) == (1, 1, 2)
    assert [m["Subject"] for m in body["messages"]] == ["Confirm your email address"]


def test_search_to_matches_the_recipient_only(mail: MailSandbox) -> None:
    mail.send(confirmation_email())
    mail.send(digest_email())

    hit = mail.api.get("/api/v1/search", params={"query": f"to:{USER}"}).json()
    miss = mail.api.get("/api/v1/search", params={"query": "to:nobody@example.com"}).json()

    assert [m["Subject"] for m in hit["messages"]] == ["Confirm your email address"]
    assert (hit["messages_count"], hit["total"]) == (1, 2)
    assert miss["messages"] == []
    assert (miss["messages_count"], miss["count"], miss["total"]) == (0, 0, 2)


@pytest.mark.parametrize("query", ["", "   "])
def test_search_without_query_is_400(mail: MailSandbox, query: str) -> None:
    response = mail.api.get("/api/v1/search", params={"query": query})

    assert response.status_code == 400
    assert response.text == "Error: no search query"


def test_message_by_id_has_the_confirmation_link(mail: MailSandbox) -> None:
    mail.send(confirmation_email())
    (summary,) = mail.summaries()

    message = mail.api.get(f"/api/v1/message/{summary['ID']}").json()

    assert set(message) == MESSAGE_KEYS
    assert message["ID"] == summary["ID"]
    assert message["Subject"] == "Confirm your email address"
    assert f'href="{CONFIRM_LINK}"' in message["HTML"]
    # No text part: like Mailpit, Text is the HTML's text, with the link target kept.
    assert "Confirm email address" in message["Text"]
    assert CONFIRM_LINK in message["Text"]
    assert message["ReturnPath"] == AUTH_SENDER
    assert (message["Inline"], message["Attachments"]) == ([], [])
    assert datetime.fromisoformat(message["Date"]).tzinfo is not None


def test_message_by_id_keeps_both_bodies(mail: MailSandbox) -> None:
    mail.send(digest_email())

    message = mail.api.get("/api/v1/message/latest").json()

    # SMTP carries CRLF line ends and, like Mailpit, the body is returned as received.
    assert message["Text"] == "Hello from Mamapace.\r\n\r\nThis   week:\tthree new posts.\r\n"
    assert "<b>Mamapace</b>" in message["HTML"]


def test_reading_a_message_marks_it_read(mail: MailSandbox) -> None:
    mail.send(confirmation_email())
    mail.send(digest_email())
    digest_id = mail.summaries()[0]["ID"]

    mail.api.get(f"/api/v1/message/{digest_id}").raise_for_status()

    body = mail.api.get("/api/v1/messages").json()
    assert [m["Read"] for m in body["messages"]] == [True, False]
    assert body["unread"] == 1
    unread = mail.api.get("/api/v1/search", params={"query": "is:unread"}).json()
    assert [m["Subject"] for m in unread["messages"]] == ["Confirm your email address"]


def test_latest_is_the_newest_or_the_newest_matching(mail: MailSandbox) -> None:
    mail.send(confirmation_email())
    mail.send(digest_email())

    newest = mail.api.get("/api/v1/message/latest").json()
    for_user = mail.api.get("/api/v1/message/latest", params={"query": f"to:{USER}"}).json()

    assert newest["Subject"] == "Weekly digest"
    assert for_user["Subject"] == "Confirm your email address"


def test_latest_of_an_empty_inbox_is_404(mail: MailSandbox) -> None:
    response = mail.api.get("/api/v1/message/latest")

    assert (response.status_code, response.text) == (404, "Message not found")


def test_unknown_message_is_404(mail: MailSandbox) -> None:
    response = mail.api.get("/api/v1/message/NoSuchMessageIdHere123")

    assert (response.status_code, response.text) == (404, "404 page not found")


def test_delete_by_ids_then_all(mail: MailSandbox) -> None:
    mail.send(confirmation_email())
    mail.send(digest_email())
    digest_id = mail.summaries()[0]["ID"]

    by_id = mail.api.request("DELETE", "/api/v1/messages", json={"IDs": [digest_id]})

    assert (by_id.status_code, by_id.text) == (200, "ok")
    assert [m["Subject"] for m in mail.summaries()] == ["Confirm your email address"]
    assert mail.api.get(f"/api/v1/message/{digest_id}").status_code == 404

    everything = mail.api.request("DELETE", "/api/v1/messages")

    assert (everything.status_code, everything.text) == (200, "ok")
    assert mail.api.get("/api/v1/messages").json()["total"] == 0


def test_envelope_sets_return_path_and_hidden_recipients_become_bcc(mail: MailSandbox) -> None:
    mail.send(digest_email(), to=[OTHER, "hidden@example.com"])

    message = mail.api.get("/api/v1/message/latest").json()

    assert message["ReturnPath"] == "hello@mamapace.app"
    assert message["Bcc"] == [{"Name": "", "Address": "hidden@example.com"}]
    bcc = mail.api.get("/api/v1/search", params={"query": "bcc:hidden@example.com"}).json()
    to = mail.api.get("/api/v1/search", params={"query": "to:hidden@example.com"}).json()
    assert (bcc["messages_count"], to["messages_count"]) == (1, 0)


def test_info_and_health(mail: MailSandbox) -> None:
    mail.send(confirmation_email())

    info = mail.api.get("/api/v1/info").json()

    assert (info["Messages"], info["Unread"], info["RuntimeStats"]["SMTPAccepted"]) == (1, 1, 1)
    assert mail.api.get("/livez").status_code == 200
    assert mail.api.get("/readyz").status_code == 200
    assert mail.api.get("/api/v1/nothing-here").text == "404 page not found"


def test_events_websocket_pushes_each_new_message(mail: MailSandbox) -> None:
    ws_client = pytest.importorskip("websockets.sync.client")

    with ws_client.connect(mail.events_url, open_timeout=10) as events:
        mail.send(confirmation_email())
        event = json.loads(events.recv(timeout=10))

    assert event["Type"] == "new"
    assert set(event["Data"]) == SUMMARY_KEYS
    assert event["Data"]["Subject"] == "Confirm your email address"
    assert event["Data"]["ID"] == mail.summaries()[0]["ID"]


# The store on its own: search semantics as a table, without sockets.


@pytest.fixture
def store() -> MailStore:
    """A store holding the confirmation (older) and the digest (newer)."""
    store = MailStore()
    store.add(bytes(confirmation_email()))
    store.add(bytes(digest_email()))
    return store


CONFIRM, DIGEST = "Confirm your email address", "Weekly digest"


@pytest.mark.parametrize(
    ("query", "subjects"),
    [
        (f"to:{USER.upper()}", [CONFIRM]),  # case-insensitive
        ("to:monitor", [CONFIRM]),  # substring
        ("from:mamapace", [DIGEST]),
        ("from:supabase", [CONFIRM]),  # display name counts
        ("cc:team@", [DIGEST]),
        ('subject:"your email"', [CONFIRM]),  # quoted value keeps its space
        ('"weekly digest"', [DIGEST]),
        ("mamapace", [DIGEST, CONFIRM]),  # bare word: the confirmation's link mentions it
        ("pkce_abc", [CONFIRM]),  # bare word found in the HTML body
        ("confirm weekly", []),  # terms are ANDed
        ("-from:mamapace", [CONFIRM]),
        ("!subject:weekly", [CONFIRM]),
        ("is:unread", [DIGEST, CONFIRM]),
        ("is:read", []),
        ("has:attachment", []),
        ("!!! ---", [DIGEST, CONFIRM]),  # terms without letters or digits are ignored
        ("to:", [DIGEST, CONFIRM]),  # a prefix without a value is ignored
    ],
)
def test_search_terms(store: MailStore, query: str, subjects: list[str]) -> None:
    page = store.search(query)

    assert [m["Subject"] for m in page.messages] == subjects
    assert page.matched == len(subjects)


def test_get_marks_read_and_read_terms_follow(store: MailStore) -> None:
    latest = store.get("latest")

    assert latest is not None
    assert latest["Subject"] == DIGEST
    assert [m["Subject"] for m in store.search("is:read").messages] == [DIGEST]
    assert store.stats().unread == 1


def test_snippet_is_one_line_and_short() -> None:
    message = EmailMessage()
    message["To"] = USER
    message.set_content(("word \n\t" * 200) + "end")
    store = MailStore()

    snippet = store.add(bytes(message))["Snippet"]

    assert len(snippet) <= 250
    assert snippet.endswith("...")
    assert "\n" not in snippet
    assert "  " not in snippet


def test_subscribers_get_messages_added_from_other_threads() -> None:
    store = MailStore()

    async def wait_for_one() -> MessageSummary:
        queue = store.subscribe()
        try:
            adder = threading.Thread(target=store.add, args=(bytes(confirmation_email()),))
            adder.start()
            summary = await asyncio.wait_for(queue.get(), timeout=10)
            adder.join()
            return summary
        finally:
            store.unsubscribe(queue)

    summary = asyncio.run(wait_for_one())

    assert summary["Subject"] == CONFIRM


def test_start_smtp_on_a_taken_port_is_a_sandbox_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(SandboxError, match="cannot listen for SMTP"):
            asyncio.run(start_smtp(MailStore(), "127.0.0.1", port))
