"""A minimal IMAP4rev1 server (RFC 3501) over plain TCP on 127.0.0.1, enough for imaplib.

Commands: CAPABILITY, NOOP, LOGIN, SELECT, EXAMINE (read-only), SEARCH, FETCH, STORE, EXPUNGE,
CLOSE, LOGOUT, and the UID forms of SEARCH/FETCH/STORE. One mailbox, INBOX, holding every message
of a FakeMail. Search keys: ALL, TO, CC, FROM, SUBJECT, HEADER, SINCE, BEFORE, DELETED,
UNDELETED (string keys are case-insensitive substring matches, as RFC 3501 §6.4.4 says). Fetch
items: UID, FLAGS, INTERNALDATE, RFC822, RFC822.SIZE, BODY[] and BODY.PEEK[].
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from email import policy
from email.parser import BytesParser

from tests.inbox.fakemail import FakeMail, Stored

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
Token = str | list["Token"]


class ImapSyntaxError(ValueError):
    """A command line this server cannot parse (answered BAD)."""


def tokenize(line: str) -> list[Token]:
    """Split an IMAP command line into atoms, quoted strings and parenthesised lists."""
    stack: list[list[Token]] = [[]]
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if char == " ":
            i += 1
        elif char == "(":
            stack.append([])
            i += 1
        elif char == ")":
            if len(stack) == 1:
                raise ImapSyntaxError("unbalanced )")
            done = stack.pop()
            stack[-1].append(done)
            i += 1
        elif char == '"':
            i += 1
            value: list[str] = []
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(line[i])
                i += 1
            if i >= n:
                raise ImapSyntaxError("unterminated quoted string")
            stack[-1].append("".join(value))
            i += 1
        elif char == "{":
            raise ImapSyntaxError("literals are not supported by this server")
        else:
            start = i
            depth = 0
            while i < n and (line[i] not in " ()" or depth):
                if line[i] == "[":
                    depth += 1
                elif line[i] == "]":
                    depth -= 1
                i += 1
            stack[-1].append(line[start:i])
    if len(stack) != 1:
        raise ImapSyntaxError("unbalanced (")
    return stack[0]


def internaldate(moment: datetime) -> str:
    """RFC 3501 date-time, in UTC."""
    moment = moment.astimezone(UTC)
    return f"{moment.day:2d}-{MONTHS[moment.month - 1]}-{moment.year} {moment:%H:%M:%S} +0000"


def parse_date(text: str) -> date:
    day, month, year = text.split("-")
    return date(int(year), MONTHS.index(month.title()) + 1, int(day))


def parse_set(text: str, largest: int) -> set[int]:
    """A sequence set (`1`, `2:4`, `5:*`, `1,3`) as numbers, `*` being `largest`."""
    numbers: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition(":")
        first = largest if low == "*" else int(low)
        last = first if not high else (largest if high == "*" else int(high))
        numbers.update(range(min(first, last), max(first, last) + 1))
    return numbers


class FakeImapServer:
    """Serves one INBOX over `mail` to any number of sessions; start() / stop()."""

    def __init__(self, mail: FakeMail, *, username: str, password: str) -> None:
        self.mail = mail
        self.username = username
        self.password = password
        self.commands: list[str] = []
        self._sessions: set[socket.socket] = set()
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def setup(self) -> None:
                super().setup()
                # Responses go out line by line: without this Nagle + delayed ACK add ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle(self) -> None:
                with outer._lock:
                    outer._sessions.add(self.connection)
                try:
                    _Session(outer, self.rfile.readline, self.wfile.write).run()
                except (ConnectionError, OSError):
                    pass
                finally:
                    with outer._lock:
                        outer._sessions.discard(self.connection)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakeImapServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.drop_sessions()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def drop_sessions(self) -> None:
        """Cut every open connection, as a server closing idle sessions does."""
        with self._lock:
            sessions = list(self._sessions)
        for connection in sessions:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Session:
    """One client connection's state and command loop."""

    def __init__(
        self,
        server: FakeImapServer,
        readline: Callable[[], bytes],
        write: Callable[[bytes], object],
    ) -> None:
        self.server = server
        self.readline = readline
        self.write = write
        self.authenticated = False
        self.selected = False
        self.read_only = False
        self.reported_exists = 0

    def send(self, line: str | bytes) -> None:
        data = line.encode() if isinstance(line, str) else line
        self.write(data + b"\r\n")

    def run(self) -> None:
        self.send("* OK [CAPABILITY IMAP4rev1] fake IMAP ready")
        while True:
            raw = self.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.server.commands.append(line.split(" ", 2)[1].upper() if " " in line else line)
            tag, _, rest = line.partition(" ")
            try:
                tokens = tokenize(rest)
                if not tokens or not isinstance(tokens[0], str):
                    raise ImapSyntaxError("missing command")
                if self.dispatch(tag, tokens[0].upper(), tokens[1:]):
                    return
            except (ImapSyntaxError, ValueError, IndexError) as exc:
                self.send(f"{tag} BAD {exc}")

    # Each handler answers the command; True ends the session.
    def dispatch(self, tag: str, command: str, args: list[Token]) -> bool:
        if command == "CAPABILITY":
            self.send("* CAPABILITY IMAP4rev1")
            self.send(f"{tag} OK CAPABILITY completed")
        elif command == "NOOP":
            self.report_exists()
            self.send(f"{tag} OK NOOP completed")
        elif command == "LOGOUT":
            self.send("* BYE logging out")
            self.send(f"{tag} OK LOGOUT completed")
            return True
        elif command == "LOGIN":
            user, password = (str(a) for a in args[:2])
            if user == self.server.username and password == self.server.password:
                self.authenticated = True
                self.send(f"{tag} OK [CAPABILITY IMAP4rev1] LOGIN completed")
            else:
                self.send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
        elif not self.authenticated:
            self.send(f"{tag} BAD not authenticated")
        elif command in ("SELECT", "EXAMINE"):
            self.select(tag, str(args[0]), read_only=command == "EXAMINE")
        elif not self.selected:
            self.send(f"{tag} BAD no mailbox selected")
        elif self.read_only and (
            command in {"STORE", "EXPUNGE"} or (args and str(args[0]).upper() == "STORE")
        ):
            self.send(f"{tag} NO [READ-ONLY] mailbox was opened with EXAMINE")
        elif command == "UID" and args and str(args[0]).upper() in {"SEARCH", "FETCH", "STORE"}:
            self.run_command(tag, str(args[0]).upper(), args[1:], by_uid=True)
        elif command in {"SEARCH", "FETCH", "STORE"}:
            self.run_command(tag, command, args, by_uid=False)
        elif command in {"EXPUNGE", "CLOSE"}:
            self.expunge(silent=command == "CLOSE")
            if command == "CLOSE":
                self.selected = False
            self.send(f"{tag} OK {command} completed")
        else:
            self.send(f"{tag} BAD unknown command {command}")
        return False

    def messages(self) -> list[Stored]:
        return sorted(self.server.mail.messages(), key=lambda m: m.uid)

    def report_exists(self) -> None:
        count = len(self.messages())
        if count != self.reported_exists:
            self.send(f"* {count} EXISTS")
            self.reported_exists = count

    def select(self, tag: str, mailbox: str, *, read_only: bool = False) -> None:
        if mailbox.upper() != "INBOX":
            self.selected = False
            self.send(f"{tag} NO [NONEXISTENT] Unknown Mailbox: {mailbox}")
            return
        messages = self.messages()
        self.selected = True
        self.reported_exists = len(messages)
        next_uid = (messages[-1].uid + 1) if messages else 1
        self.send(r"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)")
        self.send(f"* {len(messages)} EXISTS")
        self.send("* 0 RECENT")
        self.send("* OK [UIDVALIDITY 1] UIDs valid")
        self.send(f"* OK [UIDNEXT {next_uid}] Predicted next UID")
        self.read_only = read_only
        if read_only:  # RFC 3501 6.3.2: the same answers, nothing may be changed
            self.send(f"{tag} OK [READ-ONLY] EXAMINE completed")
        else:
            self.send(f"{tag} OK [READ-WRITE] SELECT completed")

    def run_command(self, tag: str, command: str, args: list[Token], *, by_uid: bool) -> None:
        self.report_exists()
        messages = self.messages()
        prefix = "UID " if by_uid else ""
        if command == "SEARCH":
            matches = [
                (m.uid if by_uid else seq)
                for seq, m in enumerate(messages, 1)
                if self.matches(m, list(args))
            ]
            self.send("* SEARCH" + "".join(f" {n}" for n in matches))
        else:
            wanted = parse_set(
                str(args[0]), messages[-1].uid if by_uid and messages else len(messages)
            )
            for seq, message in enumerate(messages, 1):
                if (message.uid if by_uid else seq) not in wanted:
                    continue
                if command == "FETCH":
                    self.fetch(seq, message, args[1], include_uid=by_uid)
                else:
                    self.store(seq, message, str(args[1]), args[2], include_uid=by_uid)
        self.send(f"{tag} OK {prefix}{command} completed")

    def matches(self, message: Stored, keys: list[Token]) -> bool:
        headers = BytesParser(policy=policy.compat32).parsebytes(message.raw, headersonly=True)
        while keys:
            key = str(keys.pop(0)).upper()
            if key == "ALL":
                continue
            if key in {"TO", "CC", "FROM", "SUBJECT"}:
                field = {"TO": "To", "CC": "Cc", "FROM": "From", "SUBJECT": "Subject"}[key]
                if not self.contains(headers.get_all(field) or [], str(keys.pop(0))):
                    return False
            elif key == "HEADER":
                field, value = str(keys.pop(0)), str(keys.pop(0))
                if not self.contains(headers.get_all(field) or [], value):
                    return False
            elif key in {"SINCE", "BEFORE"}:
                day = parse_date(str(keys.pop(0)))
                arrived = message.received.astimezone(UTC).date()
                if (key == "SINCE" and arrived < day) or (key == "BEFORE" and arrived >= day):
                    return False
            elif key in {"DELETED", "UNDELETED"}:
                if (r"\Deleted" in message.flags) != (key == "DELETED"):
                    return False
            else:
                raise ImapSyntaxError(f"unsupported search key {key}")
        return True

    @staticmethod
    def contains(values: list[str], needle: str) -> bool:
        return any(needle.casefold() in str(value).casefold() for value in values)

    def fetch(self, seq: int, message: Stored, items: Token, *, include_uid: bool) -> None:
        names = [str(i).upper() for i in (items if isinstance(items, list) else [items])]
        if include_uid and "UID" not in names:
            names.insert(0, "UID")
        parts: list[bytes] = []
        for name in names:
            if name == "UID":
                parts.append(f"UID {message.uid}".encode())
            elif name == "FLAGS":
                parts.append(f"FLAGS ({' '.join(sorted(message.flags))})".encode())
            elif name == "INTERNALDATE":
                parts.append(f'INTERNALDATE "{internaldate(message.received)}"'.encode())
            elif name == "RFC822.SIZE":
                parts.append(f"RFC822.SIZE {len(message.raw)}".encode())
            elif name in {"RFC822", "BODY[]", "BODY.PEEK[]"}:
                if name != "BODY.PEEK[]":
                    message.flags.add(r"\Seen")
                label = "BODY[]" if name.startswith("BODY") else "RFC822"
                parts.append(f"{label} {{{len(message.raw)}}}\r\n".encode() + message.raw)
            else:
                raise ImapSyntaxError(f"unsupported fetch item {name}")
        self.send(f"* {seq} FETCH (".encode() + b" ".join(parts) + b")")

    def store(
        self, seq: int, message: Stored, mode: str, flags: Token, *, include_uid: bool
    ) -> None:
        values = {str(f) for f in (flags if isinstance(flags, list) else [flags])}
        action = mode.upper()
        if action.startswith("+FLAGS"):
            message.flags |= values
        elif action.startswith("-FLAGS"):
            message.flags -= values
        elif action.startswith("FLAGS"):
            message.flags = set(values)
        else:
            raise ImapSyntaxError(f"unsupported store mode {mode}")
        if not action.endswith(".SILENT"):
            uid = f" UID {message.uid}" if include_uid else ""
            self.send(f"* {seq} FETCH (FLAGS ({' '.join(sorted(message.flags))}){uid})")

    def expunge(self, *, silent: bool) -> None:
        messages = self.messages()
        doomed = [(seq, m) for seq, m in enumerate(messages, 1) if r"\Deleted" in m.flags]
        for seq, message in reversed(doomed):  # highest first: no renumbering in between
            self.server.mail.remove(message.id)
            if not silent:
                self.send(f"* {seq} EXPUNGE")
        self.reported_exists = len(self.messages())
