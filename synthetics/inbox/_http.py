"""The one place HTTP inbox providers send requests: an injected httpx.Client, translated errors.

Every httpx failure and every unexpected status becomes an InboxError naming the provider, the
method and path (never the query, headers or credentials), with `transient` set for what is worth
retrying. Secret values are scrubbed from anything quoted back from a response.

HttpInbox is what every HTTP provider's Inbox shares: its config, the client (made, and then
closed, only when none is injected), the HttpApi over it and the polling backoff. A provider
subclasses it and keeps its own API headers/auth (`_new_api`), parsing, finding and waiting.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import httpx

from synthetics.inbox._common import fill_template, redact
from synthetics.inbox._wait import Backoff
from synthetics.inbox.base import InboxError

#: Statuses that say "try again later" rather than "this is wrong".
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
#: How much of an error body is quoted in a message.
EXCERPT_CHARS = 200
#: Timeouts of the client a provider makes when none is injected.
DEFAULT_TIMEOUT = httpx.Timeout(10.0)

_STATUS_HINTS = {
    401: "authentication failed, check the credentials",
    403: "permission denied",
    404: "not found",
}


def new_client() -> httpx.Client:
    """The client a provider uses when it was not given one (it then closes it in close())."""
    return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)


class HttpApi:
    """Requests to one provider's REST API through a shared httpx.Client."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        client: httpx.Client,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._headers = dict(headers or {})
        self._auth = auth
        self._secrets = tuple(s for s in secrets if s)

    def __repr__(self) -> str:
        return f"HttpApi(provider={self.provider!r}, base_url={self.base_url!r})"

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        ok: Collection[int] = (200,),
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request; return the response if its status is in `ok`, else raise InboxError."""
        where = f"{method} {path}"
        try:
            response = self._client.request(
                method,
                self.base_url + path,
                params=params,
                json=json,
                headers=self._headers,
                auth=self._auth if self._auth is not None else httpx.USE_CLIENT_DEFAULT,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.TimeoutException as exc:
            raise self._error(f"{where} timed out ({type(exc).__name__})", transient=True) from None
        except httpx.TransportError as exc:
            raise self._error(
                f"{where} failed: {type(exc).__name__}: {exc}", transient=True
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict) as exc:
            raise self._error(f"{where} failed: {type(exc).__name__}: {exc}") from None
        if response.status_code not in ok:
            raise self._status_error(where, response)
        return response

    def json(self, response: httpx.Response) -> Any:
        """The decoded JSON body of a response, or an InboxError saying it was not JSON."""
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._error(
                f"{response.request.method} {response.request.url.path} answered with a body "
                f"that is not JSON ({type(exc).__name__}): {self._excerpt(response)!r}"
            ) from None

    def _status_error(self, where: str, response: httpx.Response) -> InboxError:
        status = response.status_code
        hint = _STATUS_HINTS.get(status, response.reason_phrase or "unexpected status")
        excerpt = self._excerpt(response)
        detail = f": {excerpt!r}" if excerpt else ""
        return self._error(
            f"{where} answered HTTP {status} ({hint}){detail}",
            status=status,
            transient=status in TRANSIENT_STATUSES,
        )

    def _excerpt(self, response: httpx.Response) -> str:
        try:
            text = response.text
        except (httpx.HTTPError, httpx.StreamError, UnicodeDecodeError, LookupError):
            return ""
        one_line = " ".join(text.split())
        return redact(one_line, self._secrets)[:EXCERPT_CHARS]

    def _error(
        self, message: str, *, status: int | None = None, transient: bool = False
    ) -> InboxError:
        return InboxError(
            redact(message, self._secrets),
            provider=self.provider,
            status=status,
            transient=transient,
        )


class HttpConfig(Protocol):
    """What HttpInbox needs of a provider's config: the API's base URL."""

    @property
    def url(self) -> str: ...


class TemplateConfig(HttpConfig, Protocol):
    """A config whose addresses come from an address template (`synthetic+{tag}@…`)."""

    @property
    def address_template(self) -> str: ...


ConfigT = TypeVar("ConfigT", bound=HttpConfig)
TemplateConfigT = TypeVar("TemplateConfigT", bound=TemplateConfig)


class HttpInbox(Generic[ConfigT]):
    """The plumbing of an HTTP provider's Inbox; subclasses set `name` and add the rest."""

    name: str

    def __init__(
        self,
        config: ConfigT,
        http: httpx.Client | None = None,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self._config = config
        self._owns_client = http is None
        self._client = http if http is not None else new_client()
        self._api = self._new_api(self._client)
        self._backoff = backoff or Backoff()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._config.url!r})"

    def _new_api(self, client: httpx.Client) -> HttpApi:
        """The provider's API over `client` (override to add headers, auth and secrets)."""
        return HttpApi(self.name, self._config.url, client)

    def close(self) -> None:
        """Close the HTTP client if this inbox made it."""
        if self._owns_client:
            self._client.close()


class TemplateHttpInbox(HttpInbox[TemplateConfigT]):
    """An HttpInbox whose addresses are the config's address template filled with a tag."""

    def address_for(self, tag: str) -> str:
        """The configured template filled with `tag`."""
        return fill_template(self._config.address_template, tag)
