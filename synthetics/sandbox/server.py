"""The sandbox as one object: Postgres, then Auth + REST + gateway, SMTP and the inbox API.

`Sandbox.start()` returns once every port answers; all network services share one asyncio loop in
a background thread, so the same object serves `synthetics sandbox` in the foreground and the
project's tests in-process on free ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import uvicorn
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from synthetics.errors import ConfigError, SandboxError
from synthetics.sandbox.auth import AuthService, Clock, utcnow
from synthetics.sandbox.database import Database, sandbox_database
from synthetics.sandbox.faults import (
    DATABASE_FAULTS,
    Fault,
    FaultState,
    parse_fault,
    sync_database,
)
from synthetics.sandbox.gateway import FaultsEndpoint, api_app
from synthetics.sandbox.mail import MailStore, inbox_app, start_smtp
from synthetics.sandbox.mailer import Mailer
from synthetics.sandbox.reports import LoadReport
from synthetics.sandbox.reports import SandboxInfo as SandboxInfo
from synthetics.sandbox.rest import RestService
from synthetics.sandbox.settings import SandboxSettings
from synthetics.sandbox.settings import settings_for_port as settings_for_port
from synthetics.sandbox.site import site_app


def _listen(host: str, port: int, what: str) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets of that protocol,
    # and without it every response waits out the 40 ms delayed-ACK timer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SandboxError(
            f"cannot listen on {host}:{port} for the {what} ({exc.strerror}); "
            "is another Supabase stack running? `--port 0` picks free ports"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class Sandbox:
    """A local Supabase: start it, use `info`, stop it (or use it as a context manager)."""

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        *,
        faults: Iterable[str | Fault] = (),
        data_dir: Path | None = None,
        clock: Clock = utcnow,
        use_template: bool = True,
        database: Database | None = None,
    ) -> None:
        settings = settings or SandboxSettings()
        migrations = settings.migrations
        if migrations is not None:
            # The app's config.toml is the project's own Auth configuration.
            settings = replace(settings, auth=migrations.auth_settings(settings.auth))
        self.settings = settings
        self.faults = FaultState()
        parsed = [f if isinstance(f, Fault) else parse_fault(f) for f in faults]
        #: The cluster: made here, or given (`sandbox_database(settings)`), maybe already started
        #: while this module loaded (SandboxLauncher); `start()` starts it if it is not running.
        self.database = database or sandbox_database(
            settings, data_dir=data_dir, use_template=use_template
        )
        self._refuse_schema_faults(parsed)
        self.faults.replace(parsed)
        self.mail = MailStore()
        self.clock = clock
        self._info: SandboxInfo | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.rest: RestService | None = None
        #: The schema faults the database holds now (None: unknown, sync on the next change).
        self._db_faults: frozenset[str] | None = None

    @property
    def load_report(self) -> LoadReport | None:
        """What loading the app's own SQL did (None with the bundled schema)."""
        return self.database.load_report

    @property
    def next_report(self) -> LoadReport | None:
        """What applying the next migration files did (None without them)."""
        return self.database.next_report

    def _refuse_schema_faults(self, faults: Iterable[Fault]) -> None:
        """Faults that rewrite the bundled schema's functions and grants have no meaning on the
        app's own SQL, and switching them off would undo what next files changed (it re-runs
        the bundled hardening)."""
        if not self.database.custom:
            return
        option = "--migrations" if self.settings.migrations is not None else "--next"
        for fault in faults:
            if fault.name in DATABASE_FAULTS:
                raise ConfigError(
                    f"fault {fault.name} edits the bundled schema; with {option} the SQL's "
                    "own functions and privileges are what the checks see",
                    key="--fault",
                )

    @property
    def info(self) -> SandboxInfo:
        """Connection details; only valid once started."""
        if self._info is None:
            raise SandboxError("the sandbox is not running")
        return self._info

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> SandboxInfo:
        """Start everything and return once every service accepts requests."""
        host = self.settings.host
        sockets = {
            "api": _listen(host, self.settings.api_port, "API"),
            "inbox": _listen(host, self.settings.inbox_port, "inbox API"),
        }
        try:
            sockets["site"] = _listen(host, self.settings.site_port, "app's site")
        except SandboxError:
            for sock in sockets.values():
                sock.close()
            raise
        try:
            if not self.database.running:
                self.database.start()
        except SandboxError:
            for sock in sockets.values():
                sock.close()
            raise
        self._thread = threading.Thread(
            target=self._thread_main, args=(sockets,), name="synthetics-sandbox", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            error = self._error
            self.stop()
            raise SandboxError(f"the sandbox did not start: {error or 'timed out'}")
        return self.info

    def stop(self) -> None:
        """Stop the services, then the database; safe to call twice."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.database.stop()
        self._info = None

    def set_faults(self, specs: Iterable[str | Fault]) -> None:
        """Replace the active faults at run time (what the faults endpoint does)."""
        parsed = [f if isinstance(f, Fault) else parse_fault(f) for f in specs]
        self._refuse_schema_faults(parsed)
        self.faults.replace(parsed)
        self._call(self._faults_changed())

    def _call(self, coro: Any) -> Any:
        if self._loop is None:
            raise SandboxError("the sandbox is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    # -- inside the sandbox thread ----------------------------------------------------------

    def _thread_main(self, sockets: dict[str, socket.socket]) -> None:
        try:
            asyncio.run(self._main(sockets))
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _main(self, sockets: dict[str, socket.socket]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        settings, host, db = self.settings, self.settings.host, self.database
        api_port = sockets["api"].getsockname()[1]
        inbox_port = sockets["inbox"].getsockname()[1]
        site_port = sockets["site"].getsockname()[1]
        api_url = f"http://{host}:{api_port}"
        pools = [
            AsyncConnectionPool(
                db.url_for(user),
                min_size=size,
                max_size=size * 4,
                kwargs={"autocommit": True, "row_factory": dict_row},
                open=False,
            )
            for user, size in (("supabase_auth_admin", 2), ("authenticator", 2))
        ]
        auth_pool, rest_pool = pools
        servers: list[uvicorn.Server] = []
        smtp: asyncio.Server | None = None
        mailer: Mailer | None = None
        try:
            for pool in pools:
                await pool.open(wait=True, timeout=20)
            smtp = await start_smtp(self.mail, host, settings.smtp_port)
            smtp_port = int(smtp.sockets[0].getsockname()[1])
            mailer = Mailer(host, smtp_port, self.faults)
            auth = AuthService(
                settings=settings.auth,
                jwt_secret=settings.jwt_secret,
                pool=auth_pool,
                mailer=mailer,
                faults=self.faults,
                external_url=f"{(settings.external_url or api_url).rstrip('/')}/auth/v1",
                clock=self.clock,
            )
            self.rest = RestService(
                pool=rest_pool, jwt_secret=settings.jwt_secret, faults=self.faults
            )
            # A new cluster from the template is hardened; a kept one may hold anything.
            self._db_faults = frozenset() if db.fresh else None
            await self._faults_changed()
            endpoint = FaultsEndpoint(
                faults=self.faults, jwt_secret=settings.jwt_secret, on_change=self._faults_changed
            )
            apps = {
                "api": api_app(
                    auth=auth.router(),
                    rest=self.rest.router(),
                    faults_endpoint=endpoint,
                    keys={settings.anon_key, settings.service_role_key},
                    faults=self.faults,
                ),
                "inbox": inbox_app(self.mail),
                "site": site_app(settings.site, self.faults),
            }
            tasks = []
            for name, app in apps.items():
                config = uvicorn.Config(
                    app, log_level="warning", access_log=False, lifespan="off", ws="auto"
                )
                server = uvicorn.Server(config)
                servers.append(server)
                tasks.append(asyncio.create_task(server.serve(sockets=[sockets[name]])))
            await self._until_started(servers, tasks)
            self._info = SandboxInfo(
                api_url=api_url,
                inbox_url=f"http://{host}:{inbox_port}",
                db_url=db.url,
                anon_key=settings.anon_key,
                service_role_key=settings.service_role_key,
                jwt_secret=settings.jwt_secret,
                smtp_host=host,
                smtp_port=smtp_port,
                site_url=f"http://{host}:{site_port}",
            )
            self._ready.set()
            await self._stop.wait()
            await self._close_servers(servers, tasks)
        finally:
            if mailer is not None:
                await mailer.close()
            if smtp is not None:
                smtp.close()
                await smtp.wait_closed()
            for pool in pools:
                await pool.close()
            for sock in sockets.values():
                sock.close()

    @staticmethod
    async def _until_started(
        servers: list[uvicorn.Server], tasks: list[asyncio.Task[None]]
    ) -> None:
        deadline = time.monotonic() + 20
        delay = 0.002
        while not all(s.started for s in servers):
            failed = [t for t in tasks if t.done()]
            if failed:
                raise SandboxError(f"a server stopped while starting: {failed[0].exception()}")
            if time.monotonic() > deadline:
                raise SandboxError("the HTTP servers did not start within 20 s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    @staticmethod
    async def _close_servers(
        servers: list[uvicorn.Server], tasks: list[asyncio.Task[None]]
    ) -> None:
        """Stop the HTTP servers now: what uvicorn's own shutdown does, without its waits.

        Told to exit, a uvicorn server notices on its next 0.1 s tick, then sleeps 0.1 s more
        for its connections to close and polls every 0.1 s while any is open: ~0.15 s of each
        sandbox's stop, long after the run's last request. Here the listeners close, every
        connection is asked to close as uvicorn asks it (an idle one closes at once, one
        still answering closes once its response is out), and the servers' tasks end; what a
        connection still runs then is cancelled when the sandbox's event loop ends.
        """
        for server in servers:
            server.should_exit = True
            for listener in getattr(server, "servers", []):
                listener.close()
            for connection in list(server.server_state.connections):
                connection.shutdown()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _faults_changed(self) -> None:
        """Bring the database and the schema cache in line with the fault state.

        A fresh cluster (a copy of the hardened template) with no schema fault is in line
        already: re-running the hardening on every start would cost most of a second.
        """
        wanted = frozenset(n for n in DATABASE_FAULTS if self.faults.has(n))
        in_line = self._db_faults is not None and wanted == self._db_faults
        if not self.database.custom and not in_line:
            conn = await psycopg.AsyncConnection.connect(self.database.url, autocommit=True)
            async with conn:
                await sync_database(conn, self.faults)
            self._db_faults = wanted
        else:
            # The faults endpoint cannot switch schema faults on over the app's own SQL (or
            # next files): syncing them would re-run the bundled hardening over it.
            for name in DATABASE_FAULTS:
                self.faults.remove(name)
        if self.rest is not None:
            await self.rest.reload_schema_cache()
