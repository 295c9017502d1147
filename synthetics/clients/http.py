"""One HTTP call with retries of transient failures; every attempt is kept with the call.

Transient = connection errors, timeouts, and 502/503/504 answers. They are retried with backoff
(`retries` times). Anything else, including a failed assertion by a check, is never retried.
Deadlines, the body cap, timing phases and the recording of attempts for the running check live
in the transport (`clients.transport`); this layer adds retries and reads answers defensively: a
URL a target handed us that cannot be requested, or a body that is not what the API promises, is
a `BadResponse`, never a crash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from synthetics.clients.transport import Attempt, Recorder, dropped, phases
from synthetics.errors import SyntheticsError
from synthetics.text import one_line

__all__ = [
    "TRANSIENT_STATUS",
    "Attempt",
    "BadResponse",
    "Call",
    "Http",
    "Recorder",
    "TransportFailure",
]

TRANSIENT_STATUS = frozenset({502, 503, 504})
Sleep = Callable[[float], None]


class TransportFailure(SyntheticsError):
    """The target could not be reached (after retries); the message names the request."""


class BadResponse(SyntheticsError):
    """The target answered something that is not what the API promises (e.g. not JSON)."""


@dataclass
class Call:
    """A request's final response with all its attempts."""

    label: str
    response: httpx.Response
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def status(self) -> int:
        """HTTP status of the final answer."""
        return self.response.status_code

    @property
    def elapsed_ms(self) -> float:
        """Duration of the final (answered) attempt."""
        return self.attempts[-1].elapsed_ms

    @property
    def truncated(self) -> bool:
        """Whether the body was over the transport's limit (the rest was dropped)."""
        return dropped(self.response)

    def json(self) -> Any:
        """The JSON body, or BadResponse with what came instead."""
        if self.truncated:
            raise BadResponse(
                f"{self.label} answered {self.status} with a body over the size limit (the rest "
                "was dropped, unread)"
            )
        try:
            return self.response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            kind = self.response.headers.get("content-type", "no content type")
            snippet = one_line(self.response.content[:120], limit=120)
            raise BadResponse(
                f"{self.label} answered {self.status} with {one_line(kind, limit=80)}, not JSON: "
                f"{snippet!r}"
            ) from None

    def json_object(self) -> dict[str, Any]:
        """The JSON body, which must be an object."""
        body = self.json()
        if not isinstance(body, dict):
            raise BadResponse(f"{self.label} answered {type(body).__name__}, expected an object")
        return body

    def measurements(self) -> dict[str, float]:
        """The final attempt's latency and its timing phases."""
        found = {"latency_ms": self.elapsed_ms}
        timing = phases(self.response)
        if timing is not None:
            found |= timing.as_dict()
        return found


@dataclass
class Http:
    """Sends requests with retries of transient failures."""

    client: httpx.Client
    retries: int = 2
    backoff_s: float = 0.2
    sleep: Sleep = time.sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        label: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        follow_redirects: bool = False,
        retries: int | None = None,
    ) -> Call:
        """Send, retrying transient failures; raises TransportFailure when every try failed and
        BadResponse when `url` (often from the target: a Location, an emailed link) cannot be
        requested at all."""
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise BadResponse(f"cannot request {one_line(url, limit=120)!r}: {exc}") from None
        if target.scheme not in ("http", "https") or not target.host:
            raise BadResponse(f"cannot request {one_line(url, limit=120)!r}: not an http(s) URL")
        label = label or f"{method} {target.path}"
        attempts: list[Attempt] = []
        tries = (self.retries if retries is None else retries) + 1
        for attempt in range(tries):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))  # backoff between retries
            started = time.perf_counter()
            try:
                response = self.client.request(
                    method,
                    target,
                    headers=headers,
                    params=params,
                    json=json_body,
                    follow_redirects=follow_redirects,
                )
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise BadResponse(f"{label}: {exc}") from None
            except httpx.TransportError as exc:
                elapsed = (time.perf_counter() - started) * 1000
                attempts.append(Attempt(None, type(exc).__name__, elapsed))
                continue
            attempts.append(
                Attempt(
                    response.status_code,
                    None,
                    (time.perf_counter() - started) * 1000,
                    phases(response),
                )
            )
            if response.status_code in TRANSIENT_STATUS and attempt < tries - 1:
                continue
            return Call(label, response, attempts)
        last = attempts[-1]
        raise TransportFailure(
            f"{label} failed {len(attempts)} times; last error: {last.error or last.status}"
        )
