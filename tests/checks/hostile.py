"""A hostile Supabase on loopback: a real sandbox behind a proxy that misbehaves on cue.

The proxy forwards every request to the sandbox, except those a `Rule` matches (method and path
prefix): those it answers as the rule says — dripping bytes, stalling its headers, a 50 MB page,
junk text, wrong JSON shapes, dangerous Locations, echoed credentials, or a lost answer.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

JUNK_HTML = b"<html><body><h1>502 Bad Gateway</h1>\x1b[2Jnginx</body></html>"


@dataclass(frozen=True)
class Rule:
    """How the proxy answers requests that match `method` and `path` (a prefix)."""

    method: str
    path: str
    kind: str  # drip, slow_headers, big, body, location, echo, lost
    status: int = 200
    body: bytes = b""
    location: str = ""
    times: int = -1  # how many matching requests it applies to (-1: all)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Proxy

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rule = self.server.match(self.command, self.path)
        if rule is None or rule.kind == "lost":
            upstream = self.server.forward(self.command, self.path, self.headers, body)
            if rule is None:
                self._send(upstream.status_code, upstream.content, dict(upstream.headers))
                return
            self._send(504, b"<html>504 Gateway Time-out</html>", {"content-type": "text/html"})
            return
        # The client may give up (BrokenPipe): what a client under attack should do.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            getattr(self, f"_{rule.kind}")(rule)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection",
                                    "content-encoding"):  # fmt: skip
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, rule: Rule) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        while not self.server.closing.is_set():
            self.wfile.write(b" ")
            self.wfile.flush()
            self.server.closing.wait(0.5)

    def _slow_headers(self, rule: Rule) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for char in b"X-Slow: " + b"a" * 1000:
            if self.server.closing.is_set():
                return
            self.wfile.write(bytes([char]))
            self.wfile.flush()
            self.server.closing.wait(0.5)

    def _big(self, rule: Rule) -> None:
        size = 50 * 1024 * 1024
        self.send_response(rule.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b'{"message": "' + b"x" * 65000 + b'"}'
        sent = 0
        while sent < size:
            part = chunk[: size - sent]
            self.wfile.write(part)
            sent += len(part)

    def _body(self, rule: Rule) -> None:
        kind = "application/json" if rule.body[:1] in b'{["nt0123456789-' else "text/html"
        self._send(rule.status, rule.body, {"content-type": kind})

    def _location(self, rule: Rule) -> None:
        self.send_response(rule.status)
        self.send_header("Location", rule.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _echo(self, rule: Rule) -> None:
        """An error page that shows the caller's credentials back, in every form."""
        key = self.headers.get("apikey", "")
        auth = self.headers.get("Authorization", "")
        forms = [
            key,
            key[:-1],
            key[1:],
            base64.b64encode(key.encode()).decode(),
            f"Basic {base64.b64encode(f'{key}:'.encode()).decode()}",
            auth,
        ]
        message = "; ".join(f"seen {f}" for f in forms).replace('"', "'")
        body = ('{"code": "XX000", "message": "' + message + '", "details": null, '
                '"hint": null}').encode()  # fmt: skip
        self._send(rule.status, body, {"content-type": "application/json"})

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = ""
        self.rules: list[Rule] = []
        self.used: dict[int, int] = {}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.client = httpx.Client(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def match(self, method: str, path: str) -> Rule | None:
        with self.lock:
            for n, rule in enumerate(self.rules):
                exact = rule.path.endswith("$")
                wanted = rule.path.rstrip("$")
                bare = path.split("?", 1)[0]
                hit = bare == wanted if exact else path.startswith(wanted)
                if rule.method == method and hit:
                    used = self.used.get(n, 0)
                    if rule.times < 0 or used < rule.times:
                        self.used[n] = used + 1
                        return rule
        return None

    def forward(self, method: str, path: str, headers: object, body: bytes) -> httpx.Response:
        wanted = {
            k: v
            for k, v in headers.items()  # type: ignore[attr-defined]
            if k.lower() not in ("host", "content-length", "connection", "accept-encoding")
        }
        return self.client.request(method, self.upstream + path, headers=wanted, content=body)

    def script(self, *rules: Rule) -> None:
        with self.lock:
            self.rules = list(rules)
            self.used = {}


@contextmanager
def hostile_proxy() -> Iterator[_Proxy]:
    """A proxy on loopback, serving until the block ends."""
    proxy = _Proxy()
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.closing.set()
        proxy.shutdown()
        proxy.server_close()
        proxy.client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pause = 0.02
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    return True
