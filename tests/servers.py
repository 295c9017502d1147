"""Real servers on 127.0.0.1 for tests: uvicorn and SMTP on a loop in a thread, awaited ready."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from synthetics.sandbox.mail import MailStore, server_port, start_smtp

READY_TIMEOUT = 10.0


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that sets an event once startup is over (no fixed sleeps)."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


@dataclass
class Running:
    """A started server: its base URL and, for the Mailpit stand-in, its SMTP port."""

    url: str
    smtp_port: int | None = None


@contextmanager
def serve(app: ASGIApp, *, smtp_store: MailStore | None = None) -> Iterator[Running]:
    """Serve `app` (and SMTP into `smtp_store`, on the same loop) until the block ends."""
    ready = threading.Event()
    failures: list[BaseException] = []
    smtp_ports: list[int] = []
    http_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    http_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    http_socket.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = _ReadyServer(config, ready)
    loop = asyncio.new_event_loop()

    async def run_servers() -> None:
        smtp = None
        if smtp_store is not None:
            smtp = await start_smtp(smtp_store, "127.0.0.1", 0, hostname="localhost")
            smtp_ports.append(server_port(smtp))
        try:
            await server.serve(sockets=[http_socket])
        finally:
            if smtp is not None:
                smtp.close()
                await smtp.wait_closed()

    def run() -> None:
        try:
            loop.run_until_complete(run_servers())
        except BaseException as exc:
            failures.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="inbox-test-server", daemon=True)
    thread.start()
    assert ready.wait(READY_TIMEOUT), "the test server did not start in time"
    assert not failures, failures
    assert server.started, "uvicorn did not start (see its log)"
    port = http_socket.getsockname()[1]
    try:
        yield Running(f"http://127.0.0.1:{port}", smtp_ports[0] if smtp_ports else None)
    finally:
        server.should_exit = True
        thread.join(READY_TIMEOUT)
        http_socket.close()
    assert not thread.is_alive(), "the test server did not stop in time"
    assert not failures, failures
