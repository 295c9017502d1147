"""Provider configs, the registry and build_inbox; secrets never shown."""

from __future__ import annotations

import typing
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from synthetics.inbox import (
    PROVIDERS,
    ImapConfig,
    ImapInbox,
    Inbox,
    InboxConfig,
    InbucketConfig,
    InbucketInbox,
    MailosaurConfig,
    MailosaurInbox,
    MailpitConfig,
    MailpitInbox,
    MailSlurpConfig,
    MailSlurpInbox,
    build_inbox,
)

ADAPTER: TypeAdapter[Any] = TypeAdapter(InboxConfig)
KEY = "k3y-s3cr3t-value-41f0"
TABLES: dict[str, dict[str, Any]] = {
    "mailpit": {"url": "http://127.0.0.1:54324", "address_template": "s+{tag}@m.dev"},
    "inbucket": {"url": "http://127.0.0.1:54324", "address_template": "s+{tag}@m.dev"},
    "mailosaur": {"server_id": "abcd1234", "api_key": KEY},
    "mailslurp": {"api_key": KEY},
    "imap": {"host": "imap.example.com", "username": "monitor", "password": KEY,
             "address": "monitor@example.com"},
}  # fmt: skip
CLASSES: dict[str, tuple[type[Any], type[Any]]] = {
    "mailpit": (MailpitConfig, MailpitInbox),
    "inbucket": (InbucketConfig, InbucketInbox),
    "mailosaur": (MailosaurConfig, MailosaurInbox),
    "mailslurp": (MailSlurpConfig, MailSlurpInbox),
    "imap": (ImapConfig, ImapInbox),
}


def config(provider: str, **changes: Any) -> Any:
    return ADAPTER.validate_python({"provider": provider, **TABLES[provider], **changes})


def test_registry_covers_exactly_the_config_union() -> None:
    union = typing.get_args(typing.get_args(InboxConfig)[0])
    names = {model.model_fields["provider"].default for model in union}
    assert names == set(PROVIDERS) == set(CLASSES)


@pytest.mark.parametrize("provider", sorted(CLASSES))
def test_table_selects_the_provider_and_builds_its_inbox(provider: str) -> None:
    model, inbox_class = CLASSES[provider]
    parsed = config(provider)
    assert type(parsed) is model
    inbox = build_inbox(parsed)
    try:
        assert type(inbox) is inbox_class
        assert isinstance(inbox, Inbox)
        assert inbox.name == provider
    finally:
        inbox.close()


def test_defaults() -> None:
    mailosaur = config("mailosaur")
    assert (mailosaur.url, mailosaur.domain) == ("https://mailosaur.com", "mailosaur.net")
    assert config("mailslurp").url == "https://api.mailslurp.com"
    imap = config("imap")
    assert (imap.port, imap.ssl, imap.folder) == (993, True, "INBOX")
    assert config("mailpit").events is True


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"provider": "gmail"}, "does not match any of the expected tags"),
        ({"url": "http://x"}, "Unable to extract tag using discriminator 'provider'"),
        ({**TABLES["mailpit"], "provider": "mailpit", "token": "x"}, "Extra inputs"),
        ({"provider": "mailpit", "url": "http://x"}, "address_template\n  Field required"),
        ({"provider": "mailpit", "url": "localhost:54324", "address_template": "{tag}@x.y"},
         "must be an http:// or https:// URL"),
        ({"provider": "inbucket", "url": "http://x", "address_template": "fixed@x.y"},
         "must contain '{tag}' exactly once"),
        ({"provider": "mailosaur", "server_id": "ab@cd", "api_key": KEY},
         "must be a bare identifier or domain"),
        ({**TABLES["imap"], "provider": "imap", "port": 0}, "greater than or equal to 1"),
        ({**TABLES["imap"], "provider": "imap", "address": "monitor"}, "not an email address"),
    ],
)  # fmt: skip
def test_invalid_tables(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")) as caught:
        ADAPTER.validate_python(data)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("provider", ["mailosaur", "mailslurp", "imap"])
def test_secrets_are_never_shown(provider: str) -> None:
    parsed = config(provider)
    inbox = build_inbox(parsed)
    try:
        for text in (repr(parsed), str(parsed), parsed.model_dump_json(), repr(inbox)):
            assert KEY not in text
        assert (
            parsed.model_dump()["password" if provider == "imap" else "api_key"].get_secret_value()
            == KEY
        )
    finally:
        inbox.close()


def test_injected_client_is_used_and_left_open() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json={"messages": []})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    inbox = build_inbox(config("mailpit", events=False), http=client)

    assert inbox.wait_for_email("s+run-1@m.dev", timeout=0) is None
    inbox.close()

    assert calls == ["http://127.0.0.1:54324/api/v1/search?query=to%3A%22s%2Brun-1%40m.dev%22"]
    assert not client.is_closed
    client.close()


def test_own_client_is_closed() -> None:
    inbox = build_inbox(config("inbucket"))
    inbox.close()
    assert inbox._client.is_closed  # type: ignore[attr-defined]
