"""One HTTP call with timing and retries of transient failures; every attempt is recorded.

Transient = connection errors, timeouts, and 502/503/504 answers. They are retried with backoff
(`retries` times). Anything else, including a failed assertion by a check, is never retried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from synthetics.errors import SyntheticsError

TRANSIENT_STATUS = frozenset({502, 503, 504})
Sleep = Callable[[float], None]


class TransportFailure(SyntheticsError):
    """The target could not be reached (after retries); the message names the request."""


class BadResponse(SyntheticsError):
    """The target answered something that is not what the API promises (e.g. not JSON)."""


@dataclass(frozen=True)
class Attempt:
    """One try of a request: its status code or error, and how long it took."""

    status: int | None
    error: str | None
    elapsed_ms: float


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

    def json(self) -> Any:
        """The JSON body, or BadResponse with what came instead."""
        try:
            return self.response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            kind = self.response.headers.get("content-type", "no content type")
            snippet = self.response.text[:120].replace("\n", " ")
            raise BadResponse(
                f"{self.label} answered {self.status} with {kind}, not JSON: {snippet!r}"
            ) from None

    def json_object(self) -> dict[str, Any]:
        """The JSON body, which must be an object."""
        body = self.json()
        if not isinstance(body, dict):
            raise BadResponse(f"{self.label} answered {type(body).__name__}, expected an object")
        return body


class Recorder:
    """Collects attempts for whoever is measuring (the check being run)."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def extend(self, attempts: list[Attempt]) -> None:
        """Add the attempts of one call."""
        self.attempts.extend(attempts)


@dataclass
class Http:
    """Sends requests to one base URL with retries; `recorder` sees every attempt."""

    client: httpx.Client
    retries: int = 2
    backoff_s: float = 0.2
    sleep: Sleep = time.sleep
    recorders: list[Recorder] = field(default_factory=list)

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
    ) -> Call:
        """Send, retrying transient failures; raises TransportFailure when every try failed."""
        label = label or f"{method} {httpx.URL(url).path}"
        attempts: list[Attempt] = []
        try:
            for attempt in range(self.retries + 1):
                if attempt:
                    self.sleep(self.backoff_s * 2 ** (attempt - 1))  # backoff between retries
                started = time.perf_counter()
                try:
                    response = self.client.request(
                        method,
                        url,
                        headers=headers,
                        params=params,
                        json=json_body,
                        follow_redirects=follow_redirects,
                    )
                except httpx.TransportError as exc:
                    elapsed = (time.perf_counter() - started) * 1000
                    attempts.append(Attempt(None, type(exc).__name__, elapsed))
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                attempts.append(Attempt(response.status_code, None, elapsed))
                if response.status_code in TRANSIENT_STATUS and attempt < self.retries:
                    continue
                return Call(label, response, attempts)
            last = attempts[-1]
            raise TransportFailure(
                f"{label} failed {len(attempts)} times; last error: {last.error or last.status}"
            )
        finally:
            for recorder in self.recorders:
                recorder.extend(attempts)


class RecordingTransport(httpx.BaseTransport):
    """A transport that records every request's attempt (status or error, time) for whoever is
    measuring: the requests of a library that owns its own calls (the official client) are timed
    and counted like ours."""

    def __init__(self, recorders: list[Recorder], inner: httpx.BaseTransport | None = None) -> None:
        self.recorders = recorders
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the inner transport and record the attempt."""
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError as exc:
            self._record(Attempt(None, type(exc).__name__, _ms_since(started)))
            raise
        self._record(Attempt(response.status_code, None, _ms_since(started)))
        return response

    def _record(self, attempt: Attempt) -> None:
        for recorder in list(self.recorders):
            recorder.extend([attempt])

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
