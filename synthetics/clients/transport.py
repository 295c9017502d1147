"""The one transport every request of a run goes through: a total deadline, a body cap, timing
phases and a record of every attempt.

httpx's timeouts are per operation: a server that drips one byte a second, or sends its headers
slowly, never trips a read timeout. Here each request has a *total* deadline (connect, headers and
body together): every socket operation gets at most the time left, and none starts once it is
gone. A run that is stopping sets a `cutoff` that shortens every deadline, so cleanup cannot hang.

Bodies are read eagerly up to `body_limit` bytes; the rest is dropped (the connection is closed,
nothing more is read) and the response says so in `extensions["synthetics"]`.

Phases (milliseconds) follow blackbox_exporter and k6: `dns`, `connect`, `tls`, `wait` (request
sent → first byte of the answer), `transfer` (first byte → body read), and `total`; a request on a
reused connection has no dns/connect/tls.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import httpcore
import httpx

#: Bodies above this are cut: a 50 MB error page never reaches a report.
BODY_LIMIT = 1_000_000
_EVENT_NAMES = ("dns", "connect", "tls", "wait", "transfer")


@dataclass
class Phases:
    """Where one request's time went (ms)."""

    dns: float = 0.0
    connect: float = 0.0
    tls: float = 0.0
    wait: float = 0.0
    transfer: float = 0.0
    total: float = 0.0
    reused: bool = True

    def as_dict(self) -> dict[str, float]:
        """The phases as measurements (`phase_dns_ms`, …)."""
        found = {f"phase_{name}_ms": round(getattr(self, name), 3) for name in _EVENT_NAMES}
        found["phase_total_ms"] = round(self.total, 3)
        return found


@dataclass
class _Budget:
    """The request being sent on this thread: its deadline and its clock readings."""

    deadline: float
    started: float
    phases: Phases = field(default_factory=Phases)
    sent: float | None = None
    first_byte: float | None = None


_LOCAL = threading.local()


def _budget() -> _Budget | None:
    return getattr(_LOCAL, "budget", None)


def _limit(timeout: float | None, error: type[Exception]) -> float | None:
    """The time an operation may take: its own timeout, capped by what is left of the deadline."""
    budget = _budget()
    if budget is None:
        return timeout
    left = budget.deadline - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A network stream whose every operation fits in the request's deadline, and is timed."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, _limit(timeout, httpcore.ReadTimeout))
        budget = _budget()
        if budget is not None and budget.first_byte is None and data:
            budget.first_byte = time.monotonic()
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _limit(timeout, httpcore.WriteTimeout))
        budget = _budget()
        if budget is not None:
            budget.sent = time.monotonic()

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        started = time.monotonic()
        stream = self._inner.start_tls(
            ssl_context, server_hostname, _limit(timeout, httpcore.ConnectTimeout)
        )
        budget = _budget()
        if budget is not None:
            budget.phases.tls = (time.monotonic() - started) * 1000
        return _Stream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """Resolves (timed), then connects to the address within the deadline (timed)."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        budget = _budget()
        started = time.monotonic()
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        resolved = time.monotonic()
        address = str(infos[0][4][0])
        stream = self._inner.connect_tcp(
            address,
            port,
            _limit(timeout, httpcore.ConnectTimeout),
            local_address,
            socket_options,
        )
        if budget is not None:
            budget.phases.reused = False
            budget.phases.dns = (resolved - started) * 1000
            budget.phases.connect = (time.monotonic() - resolved) * 1000
        return _Stream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _httpx_error(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    """httpcore's exception as httpx's of the same name (what httpx itself does)."""
    kind = getattr(httpx, type(exc).__name__, None)
    if isinstance(kind, type) and issubclass(kind, httpx.TransportError):
        return kind(str(exc) or type(exc).__name__, request=request)
    return httpx.TransportError(str(exc) or type(exc).__name__, request=request)


@dataclass(frozen=True)
class Attempt:
    """One try of a request: its status code or error, how long it took, and where."""

    status: int | None
    error: str | None
    elapsed_ms: float
    phases: Phases | None = None
    started: float | None = None  # time.monotonic() when it was sent (overlaps are measurable)


class Recorder:
    """Collects attempts for whoever is measuring (the check being run)."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def extend(self, attempts: list[Attempt]) -> None:
        """Add attempts."""
        self.attempts.extend(attempts)


class Transport(httpx.BaseTransport):
    """httpx transport with a total deadline per request, a body cap, phases and recorders."""

    def __init__(
        self,
        *,
        total_timeout: float,
        body_limit: int = BODY_LIMIT,
        recorders: list[Recorder] | None = None,
        cutoff: Callable[[], float | None] = lambda: None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.total_timeout = total_timeout
        self.body_limit = body_limit
        self.recorders = recorders if recorders is not None else []
        self.cutoff = cutoff
        self._verify = verify
        # http:// needs no TLS context; https:// gets its own pool once a request needs one.
        self._plain = _pool(None)
        self._secure: httpcore.ConnectionPool | None = None
        self._lock = threading.Lock()

    def _pool_for(self, scheme: bytes) -> httpcore.ConnectionPool:
        if scheme != b"https":
            return self._plain
        with self._lock:
            if self._secure is None:
                verify = self._verify
                context = verify if isinstance(verify, ssl.SSLContext) else tls_context(verify)
                self._secure = _pool(context)
            return self._secure

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send, read the body up to the cap, all within the deadline; record the attempt."""
        started = time.monotonic()
        deadline = started + self.total_timeout
        cut = self.cutoff()
        if cut is not None:
            deadline = min(deadline, cut)
        budget = _Budget(deadline=deadline, started=started)
        _LOCAL.budget = budget
        try:
            status, headers, body, dropped, extensions = self._send(request)
        except httpx.TransportError as exc:
            self._record(Attempt(None, type(exc).__name__, _ms(started), budget.phases, started))
            raise
        finally:
            _LOCAL.budget = None
        phases = budget.phases
        now = time.monotonic()
        phases.total = (now - started) * 1000
        if budget.sent is not None and budget.first_byte is not None:
            phases.wait = max(budget.first_byte - budget.sent, 0) * 1000
            phases.transfer = (now - budget.first_byte) * 1000
        self._record(Attempt(status, None, phases.total, phases, started))
        return httpx.Response(
            status_code=status,
            headers=headers,
            content=body,
            extensions={
                **extensions,
                "synthetics": {"phases": phases, "dropped": dropped, "limit": self.body_limit},
            },
        )

    def _send(
        self, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool, dict[str, Any]]:
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = self._pool_for(core.url.scheme).handle_request(core)
            chunks: list[bytes] = []
            size, dropped = 0, False
            try:
                for chunk in cast(Iterable[bytes], response.stream):
                    size += len(chunk)
                    if size > self.body_limit:
                        chunks.append(chunk[: len(chunk) - (size - self.body_limit)])
                        dropped = True  # stop reading: the rest never crosses the wire to us
                        break
                    chunks.append(chunk)
            finally:
                response.close()
        except httpcore.TimeoutException as exc:
            raise _httpx_error(exc, request) from None
        except httpcore.ConnectError as exc:
            raise _httpx_error(exc, request) from None
        except httpcore.NetworkError as exc:
            raise _httpx_error(exc, request) from None
        except httpcore.ProtocolError as exc:
            raise _httpx_error(exc, request) from None
        except httpcore.UnsupportedProtocol as exc:
            raise _httpx_error(exc, request) from None
        extensions = {
            k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")
        }
        return response.status, list(response.headers), b"".join(chunks), dropped, extensions

    def _record(self, attempt: Attempt) -> None:
        for recorder in list(self.recorders):
            recorder.extend([attempt])

    def close(self) -> None:
        """Close every connection."""
        self._plain.close()
        with self._lock:
            if self._secure is not None:
                self._secure.close()


def tls_context(verify: bool = True) -> ssl.SSLContext:
    """httpx's context (the CA bundle of SSL_CERT_FILE or SSL_CERT_DIR, else certifi's), made
    when a first https:// request needs it and shared by every transport while those variables
    say the same: loading a bundle costs ~20-40 ms of CPU, which a run against http:// (the
    sandbox) never spends."""
    return _context(verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _context(verify: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify)  # reads the same two variables


def _pool(context: ssl.SSLContext | None) -> httpcore.ConnectionPool:
    return httpcore.ConnectionPool(
        ssl_context=context,
        max_connections=20,
        max_keepalive_connections=10,
        keepalive_expiry=5.0,
        network_backend=_Backend(),
    )


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def dropped(response: httpx.Response) -> bool:
    """Whether the transport cut the response's body at its limit."""
    info = response.extensions.get("synthetics")
    return bool(info and info.get("dropped"))


def phases(response: httpx.Response) -> Phases | None:
    """The response's timing phases (None for a response from elsewhere)."""
    info = response.extensions.get("synthetics")
    found = info.get("phases") if info else None
    return found if isinstance(found, Phases) else None
