"""A sandbox cluster's server process: started, awaited until it accepts connections, its log
kept.

    Postmaster.start(command, settings=…, log=…, …)      the server, accepting connections
    postmaster.reap(timeout)                             once it was told to stop

`pg_ctl -w start` looks for a starting server's readiness every 100 ms, which made each start
~0.1 s longer than PostgreSQL's own (~20 ms from a template copy). Here the server is a child of
ours whose log comes through a pipe: the start returns at the line that says it accepts
connections, and fails as soon as the server exits instead, without waiting out a timeout. The
log is copied to its file line by line as it comes, as `pg_ctl -l` would have written it.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO

#: What PostgreSQL logs once it accepts connections (its messages are English: lc_messages=C).
READY = b"database system is ready to accept connections"
#: The server's own settings that make that line come, and come through our pipe, whatever the
#: cluster's configuration files say (the command line wins over them).
LOG_SETTINGS = (
    "lc_messages=C",
    "logging_collector=off",
    "log_destination=stderr",
    "log_min_messages=warning",
)
#: After a failed start, how long an immediate shutdown may take before the server is killed.
_QUIT_S = 5.0


class ServerExited(subprocess.SubprocessError):
    """The server ended before it accepted connections."""


class Postmaster:
    """One running server (see the module's docstring)."""

    def __init__(self, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        self.process = process
        #: Whether the server said it accepts connections.
        self.accepting = False
        self._said = threading.Event()  # it accepts connections, or its log ended
        assert process.stderr is not None
        self._copier = threading.Thread(
            target=self._copy,
            args=(process.stderr, log),
            name="synthetics-postgres-log",
            daemon=True,
        )
        self._copier.start()

    @classmethod
    def start(
        cls,
        command: list[str],
        *,
        settings: Iterable[str] = (),
        log: Path,
        user: str | None,
        timeout: float,
    ) -> Postmaster:
        """Run `command` (the build's `postgres` and its arguments) with `settings` and
        LOG_SETTINGS (each `-c NAME=VALUE`), and return once it accepts connections;
        ServerExited or subprocess.TimeoutExpired otherwise, the server gone."""
        options = [arg for setting in (*settings, *LOG_SETTINGS) for arg in ("-c", setting)]
        out = log.open("ab")
        try:
            process = subprocess.Popen(  # noqa: S603 - the build's own program, an argument list
                [*command, *options],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                user=user,
                cwd=tempfile.gettempdir(),
                # Its own session: a signal to the run's process group (a CI cancel) must not
                # stop the database under the run's cleanup; the run stops it itself.
                start_new_session=True,
            )
        except BaseException:
            out.close()
            raise
        server = cls(process, out)
        try:
            server._await(timeout)
        except BaseException:
            server._end()
            raise
        return server

    def _copy(self, stream: IO[bytes], out: IO[bytes]) -> None:
        # The server's processes share this pipe: it ends when the last of them has exited.
        try:
            with stream:
                for line in stream:
                    with contextlib.suppress(OSError):  # a full disk loses lines, not the server
                        out.write(line)
                        out.flush()
                    if not self.accepting and READY in line:
                        self.accepting = True
                        self._said.set()
        finally:
            with contextlib.suppress(OSError):
                out.close()
            self._said.set()

    def _await(self, timeout: float) -> None:
        if not self._said.wait(timeout):
            raise subprocess.TimeoutExpired(self.process.args, timeout)
        if not self.accepting:  # its log ended: every process of the server has exited
            code = self.process.wait(_QUIT_S)
            raise ServerExited(f"postgres exited {code} before it accepted connections")

    def _end(self) -> None:
        """Stop a server that failed to start: an immediate shutdown, else a kill."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(_QUIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.reap(_QUIT_S)

    def reap(self, timeout: float) -> None:
        """Collect the exited server (told to stop by its pid file's signal or by pg_ctl) and the
        rest of its log."""
        self.process.wait(timeout)
        self._copier.join(timeout)
