"""The sandbox's mail side: an SMTP server that keeps what it receives, and a Mailpit-like inbox.

The sandbox's Auth sends its confirmation emails to `start_smtp`; the checks read them back through
`inbox_app`, which answers like Mailpit's REST API v1 (the inbox of the Supabase CLI stack), so one
Mailpit inbox provider works against the sandbox, the CLI stack and a real Mailpit alike.

    MailStore    thread-safe in-memory mailbox: add, list, search, get (marks read), delete,
                 and subscribe (a queue per waiter, fed each new message)
    SmtpHandler  aiosmtpd handler that stores every accepted DATA in a MailStore
    start_smtp   a real SMTP listener on the running event loop
    inbox_app    the Starlette app: /api/v1/messages, /search, /message/{ID}, /info, /api/events

Mailpit behaviour reproduced (axllent/mailpit server/apiv1, server/smtpd, internal/storage):
22-character base57 IDs, RFC3339Nano `Created`, newest first, `latest` as an ID, Return-Path taken
from MAIL FROM, envelope recipients missing from the headers added as Bcc, a Text body derived from
the HTML when there is none, its search terms, its plain-text 400/404 bodies, and websocket events
`{"Type":"new","Data":<summary>}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors as email_errors
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import Any, TypedDict

from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from synthetics.errors import SandboxError
from synthetics.sandbox.reports import MailboxStats

#: Mailpit's page size when `limit` is absent or invalid.
DEFAULT_LIMIT = 50
#: Mailpit cuts snippets at 200 characters and appends "…" as three dots (≤ 250 in its API docs).
SNIPPET_CHARS = 200
#: shortuuid's alphabet (no 0/1/I/O/l), which Mailpit's IDs are drawn from.
_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ID_LENGTH = 22
_WHITESPACE = re.compile(r"\s+")
_HAS_WORD = re.compile(r"[A-Za-z0-9]")
# Address-header terms, matched as substrings of "name address" of each listed address.
_ADDRESS_TERMS = {"to:": "To", "from:": "From", "cc:": "Cc", "bcc:": "Bcc", "reply-to:": "ReplyTo"}


class MailAddress(TypedDict):
    """One address as Mailpit serialises Go's `mail.Address`."""

    Name: str
    Address: str


class Attachment(TypedDict):
    """One attachment or inline part of a message, without its content."""

    PartID: str
    FileName: str
    ContentType: str
    ContentID: str
    Size: int


class MessageSummary(TypedDict):
    """A message as listed by /api/v1/messages and /api/v1/search (Mailpit's `MessageSummary`)."""

    ID: str
    MessageID: str
    Read: bool
    From: MailAddress
    To: list[MailAddress]
    Cc: list[MailAddress]
    Bcc: list[MailAddress]
    ReplyTo: list[MailAddress]
    Subject: str
    Created: str
    Tags: list[str]
    Size: int
    Attachments: int
    Snippet: str


class Message(TypedDict):
    """A whole message as returned by /api/v1/message/{ID} (Mailpit's `Message`)."""

    ID: str
    MessageID: str
    From: MailAddress
    To: list[MailAddress]
    Cc: list[MailAddress]
    Bcc: list[MailAddress]
    ReplyTo: list[MailAddress]
    ReturnPath: str
    Subject: str
    Date: str
    Tags: list[str]
    Text: str
    HTML: str
    Size: int
    Inline: list[Attachment]
    Attachments: list[Attachment]


@dataclass(frozen=True)
class Page:
    """One page of summaries, newest first, with the counts a Mailpit list answer carries."""

    messages: list[MessageSummary]
    matched: int
    matched_unread: int
    total: int
    unread: int


@dataclass
class _Record:
    """A stored message: the raw bytes plus everything parsed from them once, at arrival."""

    id: str
    raw: bytes
    created: datetime
    message_id: str
    subject: str
    sender: MailAddress
    to: list[MailAddress]
    cc: list[MailAddress]
    bcc: list[MailAddress]
    reply_to: list[MailAddress]
    return_path: str
    date: datetime
    text: str
    html: str
    snippet: str
    inline: list[Attachment]
    attachments: list[Attachment]
    search_text: str
    read: bool = False
    tags: list[str] = field(default_factory=list)


def _utcnow() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """Return a Mailpit-style message ID: 22 random characters of the shortuuid alphabet."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def rfc3339nano(moment: datetime) -> str:
    """Format a time the way Go's JSON encoder does (RFC3339Nano: fraction trimmed, `Z` for UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    offset = moment.utcoffset()
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML body, optionally with link targets after link text."""

    _SKIP = frozenset({"script", "style", "head", "title"})
    _BLOCK = frozenset({"p", "div", "br", "tr", "li", "ul", "ol", "table", "hr"}) | {
        f"h{level}" for level in range(1, 7)
    }

    def __init__(self, *, links: bool) -> None:
        super().__init__(convert_charrefs=True)
        self._links = links
        self._skipping = 0
        self._parts: list[str] = []
        self._href: str | None = None
        self._anchor_start = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self._parts.append("\n")
        elif tag == "a":
            self._href = dict(attrs).get("href") or None
            self._anchor_start = len(self._parts)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self._parts.append("\n")
        elif tag == "a" and self._href is not None:
            label = "".join(self._parts[self._anchor_start :]).strip()
            # Like html2text in Mailpit's parser: keep the target, or a text reader loses the link.
            if self._links and self._href != label and not self._href.startswith("#"):
                self._parts.append(f" ( {self._href} )")
            self._href = None

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._parts.append(data)

    def text(self) -> str:
        """The collected text, one line per block, spaces collapsed and blank lines dropped."""
        lines = (_WHITESPACE.sub(" ", line).strip() for line in "".join(self._parts).split("\n"))
        return "\n".join(line for line in lines if line)


def html_to_text(html: str, *, links: bool = True) -> str:
    """Return the visible text of an HTML body (with `( href )` after each link when `links`)."""
    parser = _HtmlText(links=links)
    parser.feed(html)
    parser.close()
    return parser.text()


def make_snippet(text: str, html: str) -> str:
    """Return a Mailpit-style snippet: text body (else the HTML's text), one line, ≤ 203 chars."""
    source = text if text.strip() else html_to_text(html, links=False)
    # U+FEFF survives str.split(); Mailpit turns it into a space before collapsing whitespace.
    one_line = _WHITESPACE.sub(" ", source.replace("\ufeff", " ")).strip()
    if len(one_line) <= SNIPPET_CHARS:
        return one_line
    return one_line[:SNIPPET_CHARS] + "..."


def _addresses(message: EmailMessage, name: str) -> list[MailAddress]:
    """The addresses in every `name` header, decoded; a broken header yields what could be read."""
    found: list[MailAddress] = []
    try:
        headers = message.get_all(name) or []
        for header in headers:
            for address in getattr(header, "addresses", ()):
                found.append({"Name": address.display_name, "Address": address.addr_spec})
    except (email_errors.MessageError, ValueError, IndexError):
        # The stdlib header parser can raise on badly broken headers; a mailbox still accepts them.
        pass
    return found


def _header(message: EmailMessage, name: str) -> str:
    """One header as text ('' when absent or unreadable)."""
    try:
        value = message.get(name)
    except (email_errors.MessageError, ValueError, IndexError):
        return ""
    return "" if value is None else str(value).strip()


def _part_text(part: EmailMessage) -> str:
    """A text part's decoded content, falling back to lenient UTF-8 for unknown charsets."""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, email_errors.MessageError, ValueError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _part_size(part: EmailMessage) -> int:
    """A leaf part's decoded size in bytes."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return len(payload)
    return len(part.as_bytes())


def _leaf_parts(part: EmailMessage, part_id: str = "") -> Iterator[tuple[str, EmailMessage]]:
    """Every non-multipart part with an enmime-style part ID ("1", "1.2", …)."""
    # Not is_multipart(): that is also true of message/rfc822, which must stay one (attached) part.
    if part.get_content_maintype() != "multipart":
        yield (part_id or "0"), part
        return
    for index, child in enumerate(part.iter_parts(), start=1):
        if isinstance(child, EmailMessage):
            yield from _leaf_parts(child, f"{part_id}.{index}" if part_id else str(index))


def _parts(
    message: EmailMessage, bodies: Collection[EmailMessage]
) -> tuple[list[Attachment], list[Attachment]]:
    """The (inline, attachments) of a message, skipping its text and HTML bodies."""
    inline: list[Attachment] = []
    attachments: list[Attachment] = []
    for part_id, part in _leaf_parts(message):
        if any(part is body for body in bodies):
            continue
        described: Attachment = {
            "PartID": part_id,
            "FileName": part.get_filename() or "",
            "ContentType": part.get_content_type(),
            "ContentID": _header(part, "Content-ID").strip("<>"),
            "Size": _part_size(part),
        }
        if not described["FileName"]:
            described["FileName"] = described["ContentID"]
        if part.get_content_disposition() == "attachment":
            attachments.append(described)
        elif described["FileName"]:
            # Mailpit lists unnamed, id-less leftovers nowhere; named ones count as inline.
            inline.append(described)
    return inline, attachments


def _address_text(addresses: Collection[MailAddress]) -> str:
    """Addresses flattened for substring search, lower-cased."""
    return " ".join(f"{a['Name']} {a['Address']}" for a in addresses).lower()


def _with_envelope(raw: bytes, mail_from: str | None, rcpt_tos: Collection[str]) -> bytes:
    """Prepend what Mailpit's SMTP daemon adds: Return-Path, a missing Message-Id, hidden Bcc."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    added: list[str] = []
    if mail_from is not None and _header(parsed, "Return-Path").strip("<>") != mail_from:
        # Prepended, so it is the first Return-Path and the one a reader sees.
        added.append(f"Return-Path: <{mail_from}>")
    if not _header(parsed, "Message-ID").strip("<>"):
        added.append(f"Message-Id: <{new_id()}@mailpit>")
    listed = {a["Address"].lower() for h in ("To", "Cc", "Bcc") for a in _addresses(parsed, h)}
    hidden = [rcpt for rcpt in rcpt_tos if rcpt.lower() not in listed]
    if hidden:
        # A Bcc'd recipient is in no header on the wire; without this it would show nowhere.
        existing = [a["Address"] for a in _addresses(parsed, "Bcc")]
        added.append("Bcc: " + ", ".join([*existing, *hidden]))
    if not added:
        return raw
    return "".join(f"{line}\r\n" for line in added).encode("utf-8") + raw


def _parse(raw: bytes, message_id: str, created: datetime) -> _Record:
    """Parse raw RFC 5322 bytes into a record (never raises on a malformed message)."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(message, EmailMessage):  # pragma: no cover - policy.default always gives one
        raise TypeError("email parser returned a legacy Message")
    senders = _addresses(message, "From")
    # Mailpit keeps an unparsable From as its Name rather than dropping it.
    unparsed: MailAddress = {"Name": _header(message, "From"), "Address": ""}
    sender = senders[0] if senders else unparsed
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    bodies = [p for p in (text_part, html_part) if isinstance(p, EmailMessage)]
    text = _part_text(text_part) if isinstance(text_part, EmailMessage) else ""
    html = _part_text(html_part) if isinstance(html_part, EmailMessage) else ""
    snippet = make_snippet(text, html)
    if not text and html:
        # Mailpit's MIME parser (enmime) fills Text from the HTML when a message has no text part.
        text = html_to_text(html)
    inline, attachments = _parts(message, bodies)
    date = created
    try:
        header = message.get("Date")
        parsed_date = getattr(header, "datetime", None)
    except (email_errors.MessageError, ValueError, IndexError):
        parsed_date = None
    if isinstance(parsed_date, datetime):
        date = parsed_date if parsed_date.tzinfo else parsed_date.replace(tzinfo=UTC)
    record = _Record(
        id=message_id,
        raw=raw,
        created=created,
        message_id=_header(message, "Message-ID").strip("<>"),
        subject=_header(message, "Subject"),
        sender=sender,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        bcc=_addresses(message, "Bcc"),
        reply_to=_addresses(message, "Reply-To"),
        return_path=_header(message, "Return-Path").strip("<>") or sender["Address"],
        date=date,
        text=text,
        html=html,
        snippet=snippet,
        inline=inline,
        attachments=attachments,
        search_text="",
    )
    record.search_text = " ".join(
        [
            record.subject,
            _address_text([record.sender, *record.to, *record.cc, *record.bcc, *record.reply_to]),
            record.message_id,
            text,
            html_to_text(html) if html else "",
            *(a["FileName"] for a in [*inline, *attachments]),
        ]
    ).lower()
    return record


def _search_terms(query: str) -> list[str]:
    """Split a query on spaces outside double quotes, dropping the quotes (Mailpit's ArgsParser)."""
    terms: list[str] = []
    current: list[str] = []
    quoted = False
    for char in query:
        if char == '"':
            quoted = not quoted
        elif char.isspace() and not quoted:
            if current:
                terms.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        terms.append("".join(current))
    return terms


def _term_matches(record: _Record, term: str) -> bool | None:
    """Whether one search term matches a record; None when the term has no value to match."""
    lowered = term.lower()
    for prefix, key in _ADDRESS_TERMS.items():
        if lowered.startswith(prefix):
            wanted = lowered[len(prefix) :].strip()
            if not wanted:
                return None
            addresses = {
                "To": record.to,
                "From": [record.sender],
                "Cc": record.cc,
                "Bcc": record.bcc,
                "ReplyTo": record.reply_to,
            }[key]
            return wanted in _address_text(addresses)
    if lowered.startswith("addressed:"):
        wanted = lowered[len("addressed:") :].strip()
        everyone = [record.sender, *record.to, *record.cc, *record.bcc, *record.reply_to]
        return (wanted in _address_text(everyone)) if wanted else None
    if lowered.startswith("subject:"):
        wanted = lowered[len("subject:") :]
        return (wanted in record.subject.lower()) if wanted else None
    if lowered.startswith("message-id:"):
        wanted = lowered[len("message-id:") :].strip()
        return (wanted in record.message_id.lower()) if wanted else None
    if lowered.startswith("tag:"):
        wanted = term[len("tag:") :].strip()
        return (wanted in record.tags) if wanted else None
    if lowered == "is:read":
        return record.read
    if lowered == "is:unread":
        return not record.read
    if lowered in {"has:attachment", "has:attachments"}:
        return bool(record.attachments)
    if lowered in {"has:inline", "has:inlines"}:
        return bool(record.inline)
    return lowered in record.search_text


def _matcher(query: str) -> Callable[[_Record], bool]:
    """Compile a Mailpit search query into a predicate: terms ANDed, `-`/`!` negates a term."""
    compiled: list[tuple[str, bool]] = []
    for term in _search_terms(query):
        negate = len(term) > 1 and term[0] in "-!"
        body = term[1:] if negate else term
        if _HAS_WORD.search(body):
            compiled.append((body, negate))

    def matches(record: _Record) -> bool:
        for body, negate in compiled:
            result = _term_matches(record, body)
            if result is not None and result == negate:
                return False
        return True

    return matches


class MailStore:
    """Thread-safe in-memory mailbox with Mailpit's message model.

    SMTP (on the event loop), the HTTP API (on the loop) and tests (on other threads) all touch it,
    so every read and write holds one lock; subscribers are fed through their own loop.
    """

    def __init__(self, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # Insertion order is arrival order; newest first is simply reversed().
        self._records: dict[str, _Record] = {}
        self._subscribers: dict[asyncio.Queue[MessageSummary], asyncio.AbstractEventLoop] = {}
        self._accepted = 0
        self._accepted_size = 0
        self._deleted = 0
        self._started = time.monotonic()

    def add(
        self, raw: bytes, *, mail_from: str | None = None, rcpt_tos: Collection[str] = ()
    ) -> MessageSummary:
        """Store one raw message (with its SMTP envelope, if any) and return its summary."""
        if mail_from is not None or rcpt_tos:
            raw = _with_envelope(raw, mail_from, rcpt_tos)
        record = _parse(raw, new_id(), self._clock())
        with self._lock:
            while record.id in self._records:  # 57**22 makes this all but impossible; stay correct
                record.id = new_id()
            self._records[record.id] = record
            self._accepted += 1
            self._accepted_size += len(raw)
            summary = _summary(record)
            subscribers = list(self._subscribers.items())
        for queue, loop in subscribers:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, copy.deepcopy(summary))
            except RuntimeError:
                # That subscriber's loop is closed, so nobody will ever read its queue.
                self.unsubscribe(queue)
        return summary

    def list(self, start: int = 0, limit: int = DEFAULT_LIMIT) -> Page:
        """Return one page of all messages, newest first (`limit` ≤ 0 means no limit)."""
        return self._page(lambda _record: True, start, limit)

    def search(self, query: str, start: int = 0, limit: int = DEFAULT_LIMIT) -> Page:
        """Return one page of the messages matching a Mailpit search query, newest first."""
        return self._page(_matcher(query), start, limit)

    def get(self, message_id: str, *, query: str = "") -> Message | None:
        """Return a whole message and mark it read; `latest` means the newest (matching `query`)."""
        with self._lock:
            if message_id == "latest":
                matches = _matcher(query)
                record = next((r for r in reversed(self._records.values()) if matches(r)), None)
            else:
                record = self._records.get(message_id)
            if record is None:
                return None
            record.read = True
            return _message(record)

    def delete(self, ids: Collection[str] | None = None) -> int:
        """Delete the given messages (unknown IDs are ignored), or all when `ids` is empty."""
        with self._lock:
            if not ids:
                removed = len(self._records)
                self._records.clear()
            else:
                removed = sum(self._records.pop(i, None) is not None for i in set(ids))
            self._deleted += removed
            return removed

    def stats(self) -> MailboxStats:
        """Return mailbox totals and counters."""
        with self._lock:
            return MailboxStats(
                total=len(self._records),
                unread=sum(not r.read for r in self._records.values()),
                accepted=self._accepted,
                accepted_size=self._accepted_size,
                deleted=self._deleted,
                uptime_s=time.monotonic() - self._started,
            )

    def subscribe(self) -> asyncio.Queue[MessageSummary]:
        """Return a queue fed the summary of every message added from now on (call on a loop)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[MessageSummary] = asyncio.Queue()
        with self._lock:
            self._subscribers[queue] = loop
        return queue

    def unsubscribe(self, queue: asyncio.Queue[MessageSummary]) -> None:
        """Stop feeding a queue returned by `subscribe`."""
        with self._lock:
            self._subscribers.pop(queue, None)

    def _page(self, matches: Callable[[_Record], bool], start: int, limit: int) -> Page:
        """Select, count and slice under one lock so the counts agree with the page."""
        with self._lock:
            selected = [r for r in reversed(self._records.values()) if matches(r)]
            start = max(start, 0)
            window = selected[start : start + limit] if limit > 0 else selected[start:]
            return Page(
                messages=[_summary(r) for r in window],
                matched=len(selected),
                matched_unread=sum(not r.read for r in selected),
                total=len(self._records),
                unread=sum(not r.read for r in self._records.values()),
            )


def _address_copy(address: MailAddress) -> MailAddress:
    """A fresh copy of one address, so callers can never mutate what the store holds."""
    return {"Name": address["Name"], "Address": address["Address"]}


def _summary(record: _Record) -> MessageSummary:
    """A record as Mailpit's MessageSummary (fresh lists, safe to hand out)."""
    return {
        "ID": record.id,
        "MessageID": record.message_id,
        "Read": record.read,
        "From": _address_copy(record.sender),
        "To": [_address_copy(a) for a in record.to],
        "Cc": [_address_copy(a) for a in record.cc],
        "Bcc": [_address_copy(a) for a in record.bcc],
        "ReplyTo": [_address_copy(a) for a in record.reply_to],
        "Subject": record.subject,
        "Created": rfc3339nano(record.created),
        "Tags": list(record.tags),
        "Size": len(record.raw),
        "Attachments": len(record.attachments),
        "Snippet": record.snippet,
    }


def _message(record: _Record) -> Message:
    """A record as Mailpit's Message."""
    return {
        "ID": record.id,
        "MessageID": record.message_id,
        "From": _address_copy(record.sender),
        "To": [_address_copy(a) for a in record.to],
        "Cc": [_address_copy(a) for a in record.cc],
        "Bcc": [_address_copy(a) for a in record.bcc],
        "ReplyTo": [_address_copy(a) for a in record.reply_to],
        "ReturnPath": record.return_path,
        "Subject": record.subject,
        "Date": rfc3339nano(record.date),
        "Tags": list(record.tags),
        "Text": record.text,
        "HTML": record.html,
        "Size": len(record.raw),
        "Inline": copy.deepcopy(record.inline),
        "Attachments": copy.deepcopy(record.attachments),
    }


class SmtpHandler:
    """aiosmtpd handler: every message accepted over SMTP goes into a MailStore."""

    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message as received on the wire and accept it."""
        # original_content is the undecoded bytes; content is the same unless SMTPUTF8 decoding ran.
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        # A store failure propagates: aiosmtpd answers "500 Error: …" and the sender sees it.
        self.store.add(raw, mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


async def start_smtp(
    store: MailStore, host: str, port: int, *, hostname: str | None = None
) -> asyncio.Server:
    """Listen for SMTP on host:port (0 picks a free port) on the running loop, into `store`."""
    loop = asyncio.get_running_loop()
    handler = SmtpHandler(store)
    # aiosmtpd would otherwise call socket.getfqdn() (a DNS lookup) for every connection.
    name = hostname or socket.gethostname()

    def protocol() -> SMTP:
        return SMTP(handler, hostname=name, ident="synthetics sandbox SMTP", loop=loop)

    try:
        return await loop.create_server(protocol, host, port)
    except OSError as exc:
        raise SandboxError(f"cannot listen for SMTP on {host}:{port}: {exc}") from exc


def server_port(server: asyncio.Server) -> int:
    """Return the TCP port an asyncio server is bound to (what port 0 turned into)."""
    if not server.sockets:
        raise SandboxError("server has no listening socket")
    return int(server.sockets[0].getsockname()[1])


def _start_limit(request: Request) -> tuple[int, int]:
    """Mailpit's paging: start defaults to 0 (only > 0 counts), limit to 50 (any n ≥ 0 counts)."""
    start, limit = 0, DEFAULT_LIMIT
    with contextlib.suppress(ValueError):
        start = max(int(request.query_params.get("start", "")), 0)
    with contextlib.suppress(ValueError):
        wanted = int(request.query_params.get("limit", ""))
        limit = wanted if wanted > -1 else limit
    return start, limit


def _page_body(page: Page, start: int) -> dict[str, Any]:
    """The JSON body Mailpit answers a list or search with."""
    return {
        "total": page.total,
        "unread": page.unread,
        "count": len(page.messages),
        "messages_count": page.matched,
        "messages_unread": page.matched_unread,
        "start": start,
        "tags": [],
        "messages": page.messages,
    }


def _not_found(text: str | None = None) -> PlainTextResponse:
    """Mailpit's plain-text 404."""
    return PlainTextResponse(text or "404 page not found", status_code=404)


def inbox_app(store: MailStore) -> Starlette:
    """Return the Mailpit-compatible HTTP + websocket API over `store`."""

    async def list_messages(request: Request) -> Response:
        start, limit = _start_limit(request)
        return JSONResponse(_page_body(store.list(start, limit), start))

    async def search(request: Request) -> Response:
        query = request.query_params.get("query", "").strip()
        if not query:
            return PlainTextResponse("Error: no search query", status_code=400)
        start, limit = _start_limit(request)
        return JSONResponse(_page_body(store.search(query, start, limit), start))

    async def get_message(request: Request) -> Response:
        message_id = str(request.path_params["id"])
        query = request.query_params.get("query", "").strip()
        message = store.get(message_id, query=query)
        if message is None:
            # Mailpit answers an unresolvable `latest` with its lookup error, not the generic 404.
            return _not_found("Message not found" if message_id == "latest" else None)
        return JSONResponse(message)

    async def delete_messages(request: Request) -> Response:
        ids: list[str] = []
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("IDs"), list):
            ids = [i for i in body["IDs"] if isinstance(i, str)]
            if len(ids) != len(body["IDs"]):
                ids = []  # Mailpit: a body that does not decode deletes everything, so do we
        store.delete(ids)
        return PlainTextResponse("ok")

    async def info(request: Request) -> Response:
        stats = store.stats()
        return JSONResponse(
            {
                "Version": "sandbox",
                "LatestVersion": "",
                "Database": "memory",
                "DatabaseSize": 0,
                "Messages": stats.total,
                "Unread": stats.unread,
                "Tags": {},
                "RuntimeStats": {
                    "Uptime": int(stats.uptime_s),
                    "Memory": 0,
                    "MessagesDeleted": stats.deleted,
                    "SMTPAccepted": stats.accepted,
                    "SMTPAcceptedSize": stats.accepted_size,
                    "SMTPRejected": 0,
                    "SMTPIgnored": 0,
                },
            }
        )

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("")

    async def events(websocket: WebSocket) -> None:
        # Subscribe before accepting: once a client's handshake completes, no new mail is missed.
        queue = store.subscribe()
        try:
            await websocket.accept()
            await _push_events(websocket, queue)
        finally:
            store.unsubscribe(queue)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _not_found()

    return Starlette(
        routes=[
            Route("/api/v1/messages", list_messages, methods=["GET"]),
            Route("/api/v1/messages", delete_messages, methods=["DELETE"]),
            Route("/api/v1/search", search, methods=["GET"]),
            Route("/api/v1/message/{id}", get_message, methods=["GET"]),
            Route("/api/v1/info", info, methods=["GET"]),
            Route("/livez", healthy, methods=["GET"]),
            Route("/readyz", healthy, methods=["GET"]),
            WebSocketRoute("/api/events", events),
        ],
        exception_handlers={404: not_found},
    )


async def _push_events(websocket: WebSocket, queue: asyncio.Queue[MessageSummary]) -> None:
    """Send `{"Type":"new","Data":summary}` per new message until the client goes away."""

    async def until_disconnect() -> None:
        # Reading is the only way to notice a close while no mail arrives.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    closed = asyncio.ensure_future(until_disconnect())
    try:
        while True:
            arrival = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({arrival, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                arrival.cancel()
                return
            try:
                await websocket.send_json({"Type": "new", "Data": arrival.result()})
            except WebSocketDisconnect:
                return
    finally:
        closed.cancel()
