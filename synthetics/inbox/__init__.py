"""Test inboxes behind one small Protocol, and the one place providers are registered.

    mailpit    what `supabase start` runs today, and the sandbox's inbox
    inbucket   older local Supabase stacks
    mailosaur  hosted (production)
    mailslurp  hosted (production)
    imap       any mailbox with plus-addressing

    inbox = build_inbox(config, http=client)
    address = inbox.address_for("run-ab12-primary")
    email = inbox.wait_for_email(address, timeout=120, since=signed_up_at)
    link = find_confirmation_link(email) if email else None

A new provider is a module with a config model (a `provider` Literal), an Inbox class, and one
line in each of `InboxConfig` and `PROVIDERS` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import httpx
from pydantic import Field

from synthetics.inbox.base import Inbox, InboxError, ReceivedEmail, find_confirmation_link
from synthetics.inbox.imap import ImapConfig, ImapInbox
from synthetics.inbox.inbucket import InbucketConfig, InbucketInbox
from synthetics.inbox.mailosaur import MailosaurConfig, MailosaurInbox
from synthetics.inbox.mailpit import MailpitConfig, MailpitInbox
from synthetics.inbox.mailslurp import MailSlurpConfig, MailSlurpInbox

#: The `[inbox]` table: one provider's config, chosen by its `provider` key.
InboxConfig = Annotated[
    MailpitConfig | InbucketConfig | MailosaurConfig | MailSlurpConfig | ImapConfig,
    Field(discriminator="provider"),
]

#: Makes an Inbox from its config and an optional shared HTTP client (None: it makes its own).
InboxFactory = Callable[[Any, httpx.Client | None], Inbox]

#: provider name → factory; every name in InboxConfig has exactly one entry.
PROVIDERS: dict[str, InboxFactory] = {
    "mailpit": MailpitInbox,
    "inbucket": InbucketInbox,
    "mailosaur": MailosaurInbox,
    "mailslurp": MailSlurpInbox,
    "imap": ImapInbox,
}


def build_inbox(config: InboxConfig, *, http: httpx.Client | None = None) -> Inbox:
    """The Inbox for a provider config; HTTP providers use `http` if given (never closing it)."""
    try:
        factory = PROVIDERS[config.provider]
    except KeyError:
        raise ValueError(f"no inbox provider registered as {config.provider!r}") from None
    return factory(config, http)


__all__ = [
    "PROVIDERS",
    "ImapConfig",
    "ImapInbox",
    "Inbox",
    "InboxConfig",
    "InboxError",
    "InboxFactory",
    "InbucketConfig",
    "InbucketInbox",
    "MailSlurpConfig",
    "MailSlurpInbox",
    "MailosaurConfig",
    "MailosaurInbox",
    "MailpitConfig",
    "MailpitInbox",
    "ReceivedEmail",
    "build_inbox",
    "find_confirmation_link",
]
