"""The one place alert channels send HTTP: deadlines, retries honouring Retry-After, redaction.

Every request goes through the project's transport (`synthetics.clients.transport.Transport`,
a total deadline per attempt) on an `httpx.Client` the sender owns or is given. 429 and 5xx
answers and transport failures are retried `retries` times: after `Retry-After` when the answer
has one (seconds or an HTTP date; longer than `max_wait_s` gives up rather than holding the run),
else after an exponential backoff. The wait is the injected `sleep`, so tests run at once.

A failure is a `DeliveryError` naming the channel, the HTTP status and the service's own short
answer, never the URL (a webhook URL or routing key is a secret): every registered secret is
masked in anything quoted back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from synthetics.clients.transport import Transport
from synthetics.errors import SyntheticsError
from synthetics.redact import Redactor
from synthetics.text import one_line

#: Statuses worth another try.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: How much of an answer is quoted in a message.
EXCERPT = 200


class DeliveryError(SyntheticsError):
    """A notification could not be delivered (after retries); never carries the URL."""

    def __init__(self, channel: str, message: str, *, status: int | None = None) -> None:
        self.channel = channel
        self.status = status
        super().__init__(f"{channel}: {message}")


@dataclass(frozen=True)
class Answer:
    """The final HTTP answer of a delivery and how many attempts it took."""

    status: int
    headers: Mapping[str, str]
    text: str
    attempts: int


class Sender:
    """POSTs to alert endpoints with a total deadline per attempt and retries."""

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        retries: int = 2,
        max_wait_s: float = 60.0,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        redactor: Redactor | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.retries = retries
        self.max_wait_s = max_wait_s
        self.backoff_s = backoff_s
        self.redactor = redactor or Redactor()
        self._sleep = sleep
        self._clock = clock
        self._owns = client is None
        self._client = client or httpx.Client(
            transport=Transport(total_timeout=timeout_s), follow_redirects=False
        )
        #: Every wait taken between attempts (seconds), for reports and tests.
        self.waits: list[float] = []

    def close(self) -> None:
        """Close the client if the sender made it."""
        if self._owns:
            self._client.close()

    def post(
        self,
        channel: str,
        url: str,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Iterable[str] = (),
    ) -> Answer:
        """POST `body`; the final answer (any status), or DeliveryError when none came or the
        service kept refusing with a retryable status."""
        self.redactor.add(url, *secrets)
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self._client.post(url, content=body, headers=dict(headers))
            except httpx.TimeoutException as exc:
                problem, status, wait = f"timed out ({type(exc).__name__})", None, None
            except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                problem, status, wait = f"could not connect ({type(exc).__name__})", None, None
            else:
                text = self._text(response)
                if response.status_code not in RETRY_STATUSES:
                    return Answer(response.status_code, response.headers, text, attempts)
                status = response.status_code
                problem = f"answered HTTP {status}" + (f": {text}" if text else "")
                wait = self._retry_after(response.headers.get("retry-after"))
                if wait is not None and wait > self.max_wait_s:
                    raise DeliveryError(
                        channel,
                        f"{problem} and asks to retry after {wait:.0f} s (more than "
                        f"max_wait_s = {self.max_wait_s:g} s); gave up after {attempts} attempt(s)",
                        status=status,
                    )
            if attempts > self.retries:
                raise DeliveryError(
                    channel, f"{problem} (after {attempts} attempt(s))", status=status
                )
            pause = wait if wait is not None else self.backoff_s * 2 ** (attempts - 1)
            self.waits.append(pause)
            self._sleep(pause)

    def _text(self, response: httpx.Response) -> str:
        try:
            raw = response.text
        except (UnicodeDecodeError, LookupError):
            raw = response.content.decode("utf-8", errors="replace")
        return self.redactor.redact(one_line(raw, limit=EXCERPT))

    def _retry_after(self, value: str | None) -> float | None:
        """`Retry-After` as seconds from now (a number or an HTTP date), None when absent/bad."""
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - self._clock()).total_seconds(), 0.0)
