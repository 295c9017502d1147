"""The test-inbox contract: what a received email is, how its confirmation link is found, and the
one small Protocol every provider implements.

    ReceivedEmail            a message as a provider returned it (id, to, subject, html, text, time)
    find_confirmation_link   the first `/verify?` link of an email (HTML href, else the text part)
    Inbox                    address_for / wait_for_email / delete / check / close
    InboxError               a provider could not be reached, refused us, or answered nonsense

InboxError sits under SyntheticsError (synthetics.errors). Provider and transport errors (httpx,
imaplib, websockets, OSError) are translated into it at the provider boundary, and its message never
carries an API key or password.
"""

from __future__ import annotations

import html as html_module
import re
from dataclasses import dataclass
from datetime import datetime
from html.entities import html5 as html5_entities
from html.parser import HTMLParser
from typing import Protocol, runtime_checkable

from synthetics.errors import SyntheticsError

#: What marks a GoTrue confirmation URL, whatever the template around it says (reference C2).
VERIFY_MARKER = "/verify?"
# A URL in a text part: stop at whitespace and at the brackets text renderings put around links.
_TEXT_URL = re.compile(r"""https?://[^\s<>()"'\[\]]+""", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?"


class InboxError(SyntheticsError):
    """A test inbox could not be reached, rejected the request, or answered something unreadable.

    `provider` names the inbox provider, `status` the HTTP status when there was one, and
    `transient` is true for failures worth retrying (connection errors, timeouts, 502/503/504, 429).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        transient: bool = False,
    ) -> None:
        self.provider = provider
        self.status = status
        self.transient = transient
        super().__init__(message if provider is None else f"{provider}: {message}")


@dataclass(frozen=True)
class ReceivedEmail:
    """One message as a provider returned it."""

    id: str  # provider's message id
    to: str
    subject: str
    html: str
    text: str
    received_at: datetime | None  # provider timestamp (UTC) when it has one


class _Hrefs(HTMLParser):
    """Collects the href of every start tag in document order (comments and scripts skipped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # HTMLParser decodes attribute values with html.unescape, which also turns `&not` in
        # `?a=1&notify=2` into `¬`; browsers leave such references alone inside attributes, so
        # the raw value is taken from the tag text and decoded by the attribute rules below.
        if not any(name == "href" for name, _value in attrs):
            return
        raw = self.get_starttag_text() or ""
        # Walk the attributes as HTMLParser does, so an `href=` inside another value is skipped.
        for match in _ATTRIBUTE.finditer(raw, len(tag) + 1):
            name, value = match.group(1), match.group(2)
            if name.lower() == "href" and value:
                if value[:1] in {'"', "'"} and value[-1:] == value[:1]:
                    value = value[1:-1]
                self.hrefs.append(_unescape_attribute(value).strip())
                return


_ATTRIBUTE = re.compile(r"""([^\s/>"'=][^\s/>=]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")


def _unescape_attribute(value: str) -> str:
    """Decode character references in an attribute value the way HTML5 does."""

    def decode(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference.startswith("#"):
            return html_module.unescape(match.group(0))
        # A named reference is decoded only when it is exactly an entity name; one without `;`
        # (a legacy name such as `amp`) not when `=` follows (HTML5 "character reference state").
        following = value[match.end() : match.end() + 1]
        if reference in html5_entities and (reference.endswith(";") or following != "="):
            return html5_entities[reference]
        return match.group(0)

    return _CHARREF.sub(decode, value)


def _html_links(document: str) -> list[str]:
    """Every href in an HTML document, `&amp;` and other references decoded."""
    parser = _Hrefs()
    parser.feed(document)
    parser.close()
    return parser.hrefs


def _text_links(text: str) -> list[str]:
    """Every http(s) URL in a plain-text body, without trailing sentence punctuation."""
    return [match.group(0).rstrip(_TRAILING_PUNCTUATION) for match in _TEXT_URL.finditer(text)]


def find_confirmation_link(email: ReceivedEmail) -> str | None:
    """The first link whose URL contains '/verify?' (HTML href, unescaped; else the text part)."""
    for link in _html_links(email.html) if email.html else []:
        if VERIFY_MARKER in link:
            return link
    for link in _text_links(email.text):
        if VERIFY_MARKER in link:
            return link
    return None


@runtime_checkable
class Inbox(Protocol):
    """A test inbox: hand out addresses, wait for mail to them, clean up."""

    name: str

    def address_for(self, tag: str) -> str:
        """The address to sign up with for `tag` (letters, digits, `-` and `_`)."""
        ...

    def wait_for_email(
        self, address: str, *, timeout: float, since: datetime | None = None
    ) -> ReceivedEmail | None:
        """The newest message to `address` (at/after `since`) once there; None after timeout.

        `since` without a timezone is taken as UTC. Provider and transport failures raise
        InboxError.
        """
        ...

    def delete(self, email: ReceivedEmail) -> None:
        """Delete a message; one that is already gone is not an error."""
        ...

    def check(self) -> str:
        """Prove the provider is reachable and takes the credentials, changing nothing (no
        message, no inbox, no flag): what it answered, in a few words. Raises InboxError."""
        ...

    def close(self) -> None:
        """Release connections and anything created for this run (idempotent)."""
        ...
