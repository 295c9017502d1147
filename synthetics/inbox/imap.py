"""IMAP: any mailbox that takes plus-addressing (`monitor+<tag>@example.com`), via stdlib imaplib.

RFC 3501 over one connection, opened on first use: LOGIN, SELECT the folder, then per poll NOOP
(so the server reports new mail) and `UID SEARCH TO "<addr>" [SINCE <date>]`; candidates are read
newest UID first with `UID FETCH <uid> (UID INTERNALDATE RFC822)` and parsed with the `email`
package. IMAP's TO search matches substrings, so the To/Cc/Delivered-To/X-Original-To headers are
checked for the exact address. INTERNALDATE (the server's arrival time, whole seconds) is the
timestamp. Delete is `UID STORE <uid> +FLAGS.SILENT (\\Deleted)` then EXPUNGE.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl as ssl_module
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from synthetics.inbox._common import (
    as_utc,
    header_addresses,
    is_recent,
    pick_address,
    plus_address,
    redact,
    split_address,
)
from synthetics.inbox._wait import Backoff, deadline_after, poll
from synthetics.inbox.base import InboxError, ReceivedEmail

PROVIDER = "imap"
#: Socket timeout for connecting and for each command (s).
COMMAND_TIMEOUT = 10.0
#: Headers that may name the recipient: the visible ones, then what MTAs add for the envelope.
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"'
)
_UID = re.compile(rb"\bUID (\d+)")
T = TypeVar("T")


class ImapConfig(BaseModel):
    """`[inbox]` for an IMAP mailbox."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["imap"] = "imap"
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    username: str
    password: SecretStr
    #: The mailbox's own address; sign-ups use `local+tag@domain` of it.
    address: str
    ssl: bool = True
    folder: str = "INBOX"

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        split_address(value)
        return value

    def local_part(self, tag: str) -> str | None:
        """The local part of the address a run signs up with for `tag` (`local+tag`)."""
        return split_address(plus_address(self.address, tag))[0]


def imap_quote(value: str) -> str:
    """An IMAP quoted string (RFC 3501 `quoted`)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_date(moment: datetime) -> str:
    """An IMAP `date` (`1-Feb-2026`) for SEARCH SINCE."""
    return f"{moment.day}-{_MONTHS[moment.month - 1]}-{moment.year}"


def parse_internaldate(fetch_header: bytes) -> datetime | None:
    """The INTERNALDATE in a FETCH response line, as UTC (None when absent or malformed)."""
    match = _INTERNALDATE.search(fetch_header)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, off_h, off_m = (
        part.decode("ascii") for part in match.groups()
    )
    if month.title() not in _MONTHS:
        return None
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    try:
        local = datetime(
            int(year),
            _MONTHS.index(month.title()) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(-offset if sign == "-" else offset),
        )
    except ValueError:
        return None
    return as_utc(local)


def _part_text(part: object) -> str:
    """A body part's text, tolerating unknown charsets and broken encodings."""
    if not isinstance(part, EmailMessage):
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def recipients(message: EmailMessage) -> list[str]:
    """Every address the message names as its recipient (see RECIPIENT_HEADERS)."""
    values: list[str] = []
    for header in RECIPIENT_HEADERS:
        values.extend(str(value) for value in message.get_all(header) or [])
    return header_addresses(values)


def read_message(raw: bytes) -> EmailMessage:
    """Parse raw RFC 822 bytes."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
    return message


def parse_rfc822(
    uid: str, raw: bytes, *, received_at: datetime | None, to: str | None = None
) -> ReceivedEmail:
    """A fetched message (its UID, RFC822 bytes and INTERNALDATE) as a ReceivedEmail."""
    message = read_message(raw)
    named = recipients(message)
    chosen = pick_address(named, to) if to else None
    return ReceivedEmail(
        id=uid,
        to=chosen or (named[0] if named else to or ""),
        subject=str(message.get("Subject", "")),
        html=_part_text(message.get_body(preferencelist=("html",))),
        text=_part_text(message.get_body(preferencelist=("plain",))),
        received_at=received_at,
    )


def _check(action: str, response: tuple[str, Sequence[object]]) -> list[object]:
    """The data of an OK response; an IMAP4.error with the server's words otherwise."""
    status, data = response
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise imaplib.IMAP4.error(f"{action} answered {status}: {detail}")
    return list(data)


class ImapInbox:
    """The Inbox for an IMAP mailbox with plus-addressing."""

    name = PROVIDER

    def __init__(
        self,
        config: ImapConfig,
        http: httpx.Client | None = None,  # unused: IMAP is not HTTP; kept for one factory shape
        *,
        backoff: Backoff | None = None,
        ssl_context: ssl_module.SSLContext | None = None,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self._config = config
        self._backoff = backoff or Backoff()
        self._ssl_context = ssl_context
        self._command_timeout = command_timeout
        self._connection: imaplib.IMAP4 | None = None
        # UID → (message, recipients); UIDs are stable while a connection's UIDVALIDITY is.
        self._seen: dict[int, tuple[ReceivedEmail, list[str]]] = {}

    def __repr__(self) -> str:
        config = self._config
        return (
            f"ImapInbox(host={config.host!r}, port={config.port}, "
            f"username={config.username!r}, folder={config.folder!r})"
        )

    def address_for(self, tag: str) -> str:
        """`local+tag@domain` of the configured mailbox address."""
        return plus_address(self._config.address, tag)

    def wait_for_email(
        self, address: str, *, timeout: float, since: datetime | None = None
    ) -> ReceivedEmail | None:
        """Poll the folder until a message to `address` arrives; None after `timeout` s."""
        deadline = deadline_after(timeout)
        # INTERNALDATE has whole seconds: a message from the same second as `since` counts.
        after = as_utc(since).replace(microsecond=0) if since is not None else None
        return poll(lambda: self._find(address, after), deadline=deadline, backoff=self._backoff)

    def delete(self, email: ReceivedEmail) -> None:
        """Flag the message \\Deleted and expunge (a UID that is gone already is ignored)."""

        def store_and_expunge(connection: imaplib.IMAP4) -> None:
            _check("STORE", connection.uid("STORE", email.id, "+FLAGS.SILENT", r"(\Deleted)"))
            _check("EXPUNGE", connection.expunge())

        self._run("delete", store_and_expunge)
        if email.id.isdigit():
            self._seen.pop(int(email.id), None)

    def close(self) -> None:
        """Log out (best effort: a connection that is already gone is fine)."""
        connection, self._connection = self._connection, None
        self._seen.clear()
        if connection is None:
            return
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            connection.logout()

    def check(self) -> str:
        """LOGIN, then EXAMINE the folder (read-only: no flag changes, \\Recent kept), LOGOUT."""
        config = self._config
        connection = self._open()
        try:
            data = _check("EXAMINE", connection.select(imap_quote(config.folder), readonly=True))
        except imaplib.IMAP4.error as exc:
            raise self._error(f"folder {config.folder!r}: {exc}") from None
        except (imaplib.IMAP4.abort, OSError) as exc:
            raise self._error(f"EXAMINE failed: {type(exc).__name__}: {exc}", True) from None
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                connection.logout()
        count = data[0].decode("ascii", "replace") if data and isinstance(data[0], bytes) else "?"
        return (
            f"{config.host}:{config.port} took the login; {config.folder} holds {count} message(s)"
        )

    def _find(self, address: str, since: datetime | None) -> ReceivedEmail | None:
        """Search once; the newest message to exactly `address` at/after `since`."""

        def search(connection: imaplib.IMAP4) -> list[int]:
            _check("NOOP", connection.noop())
            criteria = ["TO", imap_quote(address)]
            if since is not None:
                # SINCE compares dates in the server's zone; a day early is safe either way.
                criteria += ["SINCE", imap_date(since - timedelta(days=1))]
            data = _check("SEARCH", connection.uid("SEARCH", *criteria))
            found = b" ".join(d for d in data if isinstance(d, bytes))
            return sorted((int(uid) for uid in found.split()), reverse=True)

        for uid in self._run("search", search):
            seen = self._seen.get(uid) or self._fetch(uid)
            if seen is None:
                continue  # expunged in between
            email, named = seen
            if pick_address(named, address) is None:
                continue
            if not is_recent(email.received_at, since):
                return None  # the newest match is too old, so every older one is too
            return _retarget(email, named, address)
        return None

    def _fetch(self, uid: int) -> tuple[ReceivedEmail, list[str]] | None:
        def fetch(connection: imaplib.IMAP4) -> list[object]:
            return _check("FETCH", connection.uid("FETCH", str(uid), "(UID INTERNALDATE RFC822)"))

        for item in self._run("fetch", fetch):
            if isinstance(item, tuple) and len(item) == 2:
                header, raw = item
                if not (isinstance(header, bytes) and isinstance(raw, bytes)):
                    continue
                uid_match = _UID.search(header)
                if uid_match is not None and int(uid_match.group(1)) != uid:
                    continue
                message = read_message(raw)
                email = parse_rfc822(str(uid), raw, received_at=parse_internaldate(header))
                seen = (email, recipients(message))
                self._seen[uid] = seen
                return seen
        return None

    def _connect(self) -> imaplib.IMAP4:
        """A logged-in connection with the folder selected."""
        connection = self._open()
        config = self._config
        where = f"{config.host}:{config.port}"
        try:
            _check("SELECT", connection.select(imap_quote(config.folder)))
        except imaplib.IMAP4.abort as exc:
            _shutdown(connection)
            raise self._error(f"{where} dropped the connection: {exc}", True) from None
        except imaplib.IMAP4.error as exc:
            _shutdown(connection)
            raise self._error(f"{where} refused folder {config.folder!r}: {exc}") from None
        except OSError as exc:
            _shutdown(connection)
            raise self._error(f"{where}: {type(exc).__name__}: {exc}", True) from None
        return connection

    def _open(self) -> imaplib.IMAP4:
        """A connection that has logged in (no folder selected)."""
        config = self._config
        where = f"{config.host}:{config.port}"
        try:
            if config.ssl:
                context = self._ssl_context or ssl_module.create_default_context()
                connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    config.host, config.port, ssl_context=context, timeout=self._command_timeout
                )
            else:
                connection = imaplib.IMAP4(config.host, config.port, timeout=self._command_timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            message = f"cannot connect to {where}: {type(exc).__name__}: {exc}"
            raise self._error(message, True) from None
        try:
            connection.login(config.username, config.password.get_secret_value())
        except imaplib.IMAP4.abort as exc:
            _shutdown(connection)
            raise self._error(f"{where} dropped the connection: {exc}", True) from None
        except imaplib.IMAP4.error as exc:
            _shutdown(connection)
            raise self._error(f"{where} refused the login: {exc}") from None
        except OSError as exc:
            _shutdown(connection)
            raise self._error(f"{where}: {type(exc).__name__}: {exc}", True) from None
        return connection

    def _run(self, action: str, command: Callable[[imaplib.IMAP4], T]) -> T:
        """Run IMAP commands on the connection (opened or reopened once if it had dropped)."""
        reused = self._connection is not None
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = self._connect()
                self._seen.clear()
            try:
                return command(self._connection)
            except (imaplib.IMAP4.abort, OSError) as exc:
                _shutdown(self._connection)
                self._connection = None
                if attempt == 1 and reused:
                    continue  # an idle connection the server closed: one fresh try
                raise self._error(f"{action} failed: {type(exc).__name__}: {exc}", True) from None
            except imaplib.IMAP4.error as exc:
                raise self._error(f"{action} failed: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, message: str, transient: bool = False) -> InboxError:
        secret = self._config.password.get_secret_value()
        return InboxError(redact(message, [secret]), provider=PROVIDER, transient=transient)


def _retarget(email: ReceivedEmail, named: list[str], address: str) -> ReceivedEmail:
    """The email with `to` set to the address it was found for, as the message spells it."""
    chosen = pick_address(named, address) or address
    if chosen == email.to:
        return email
    return ReceivedEmail(
        id=email.id,
        to=chosen,
        subject=email.subject,
        html=email.html,
        text=email.text,
        received_at=email.received_at,
    )


def _shutdown(connection: imaplib.IMAP4 | None) -> None:
    """Drop a connection without the LOGOUT dance (it may be dead already)."""
    if connection is None:
        return
    with contextlib.suppress(OSError):
        connection.shutdown()
