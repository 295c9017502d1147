"""A one-run sandbox in a child process of its own, forked as `synthetics run` begins.

In the run's own process the sandbox shares one interpreter with pytest, the checks and the
outputs: loading its code (psycopg, uvicorn, starlette, the Auth and REST services) and serving
the checks' requests took turns with them. Forked, it loads and serves on the machine's other
core (bench/run.py). What crosses the pipe is plain data (synthetics.sandbox.reports), so the
run's process does not load the services' code itself.

The child is the sandbox's only owner: it starts it, answers the run's questions over a pipe,
and stops it when the run says so or when the pipe closes, that is, when the run's process is
gone for any reason, SIGKILL included. It ignores SIGINT and SIGTERM, which a terminal or a CI
runner sends to the whole process group: the run's process handles them, stops the checks,
deletes its users through the sandbox, and only then stops it. The run never waits for the child
without a deadline: at the end of its stop it kills a child that did not finish.

Fork only where it is safe and cheap: on Linux, from a process with no other thread yet
(`can_fork`); elsewhere the run keeps the sandbox in its own process (targets.SandboxLauncher).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synthetics.errors import SandboxError
from synthetics.sandbox.reports import LoadReport, SandboxInfo

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

#: How long the run waits for a stopping sandbox's process before it kills it.
STOP_TIMEOUT_S = 30.0
#: The signals a process group gets that the child leaves to the run.
GROUP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def can_fork() -> bool:
    """Whether this process may fork the sandbox: Linux, and no thread but this one (a fork
    copies locks that other threads may hold)."""
    return sys.platform == "linux" and threading.active_count() == 1


# What the child sends; every time is time.perf_counter(), one monotonic clock across a fork.
@dataclass
class _Ready:
    info: SandboxInfo
    load_report: LoadReport | None
    next_report: LoadReport | None
    at: float
    start_s: float  # the start itself, as SandboxLauncher measures it (its code loaded before)


@dataclass
class _Failed:
    error: BaseException
    at: float
    load_report: LoadReport | None = None  # what loading the app's SQL did before it failed
    next_report: LoadReport | None = None


@dataclass
class _Stopped:
    at: float


def portable(exc: BaseException) -> BaseException:
    """`exc` if it survives a pickle round trip unchanged, else a SandboxError with its words."""
    try:
        copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own object, round-tripped
    except Exception:
        copy = None
    if type(copy) is type(exc) and str(copy) == str(exc):
        return exc
    return SandboxError(str(exc))


class _Mail:
    """The child's mailbox counters, asked for over the pipe."""

    def __init__(self, ask: Any) -> None:
        self._ask = ask

    def stats(self) -> Any:
        return self._ask("stats")


class ChildSandbox:
    """What the run sees of the sandbox in the child: its info and load reports, and its
    mailbox's counters on request (a sandbox whose start failed has no info)."""

    def __init__(self, report: _Ready | _Failed, ask: Any) -> None:
        self.info = report.info if isinstance(report, _Ready) else None
        self.load_report = report.load_report
        self.next_report = report.next_report
        self.mail = _Mail(ask)


def _serve(conn: Connection, run_plan: Any) -> None:
    """The child: start the sandbox, report, answer, stop at "stop" or when the pipe closes."""
    from synthetics.targets import SandboxLauncher

    # Not claimed anew: PostgreSQL and the cluster's folder carry the run's own mark (inherited),
    # so a later run's sweep removes them once the run is gone, whichever of us was killed.
    launcher = SandboxLauncher(run_plan, once=True).begin()
    try:
        info = launcher.wait()
        sandbox = launcher.sandbox
        ready = _Ready(
            info, sandbox.load_report, sandbox.next_report, time.perf_counter(), launcher.elapsed_s
        )
        conn.send(ready)
        # The collector stayed paused through the start (synthetics.heap): what the run's start
        # and the sandbox's made lives until the end; the requests' garbage is collected.
        gc.freeze()
        gc.enable()
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message != "stats":
                break
            conn.send(sandbox.mail.stats())
    except BaseException as exc:
        failed = _Failed(portable(exc), time.perf_counter())
        if launcher.sandbox is not None:  # made, and its start failed
            failed.load_report = launcher.sandbox.load_report
            failed.next_report = launcher.sandbox.next_report
        with contextlib.suppress(OSError, ValueError, pickle.PicklingError):  # nobody to tell
            conn.send(failed)
    finally:
        launcher.stop()
        with contextlib.suppress(OSError, ValueError):
            conn.send(_Stopped(time.perf_counter()))


def _child(ours: Connection, theirs: Connection, run_plan: Any, mask: set[int]) -> None:
    """The forked process's whole life; it never returns into the run's code."""
    code = 1
    try:
        ours.close()  # else the run's end never closes for us: its death would go unseen
        for signum in GROUP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _serve(theirs, run_plan)
        code = 0
    finally:
        os._exit(code)


class ChildLauncher:
    """SandboxLauncher's interface for a one-run sandbox forked into its own process."""

    once = True

    def __init__(self, run_plan: Any) -> None:
        self.plan = run_plan
        self.sandbox: ChildSandbox | None = None
        #: As SandboxLauncher's: from the database's start until the services answer (the
        #: same measure in both, for bench/run.py's critical path); `since_fork_s` adds the
        #: fork and the child's loading of the sandbox's code, which overlap the run's start.
        self.elapsed_s = 0.0
        self.since_fork_s = 0.0
        self.stop_s = 0.0
        self._conn: Connection | None = None
        self._pid: int | None = None
        self._started = 0.0
        self._stop_sent = 0.0
        self._error: BaseException | None = None
        self._lock = threading.Lock()  # one question at a time on the pipe

    def begin(self) -> ChildLauncher:
        """Fork the child and return at once; it starts the sandbox meanwhile (OSError when the
        system cannot fork)."""
        from multiprocessing import Pipe  # loaded only by a run that forks

        ours, theirs = Pipe()
        for stream in (sys.stdout, sys.stderr):  # else what is buffered is written twice
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
        # Until the child ignores them, a group's SIGINT or SIGTERM would reach the run's
        # handlers in it: they wait, blocked, across the fork.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
        try:
            self._started = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                _child(ours, theirs, self.plan, mask)
            theirs.close()
            self._pid, self._conn = pid, ours
        except OSError:
            ours.close()
            theirs.close()
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return self

    def _receive(self, conn: Connection) -> Any:
        try:
            return conn.recv()
        except (EOFError, OSError):
            raise SandboxError("the sandbox's process ended unexpectedly") from None

    def wait(self) -> Any:
        """The running sandbox's info (raises what the start raised)."""
        with self._lock:
            if self.sandbox is None and self._error is None:  # no word from the child yet
                if self._conn is None:
                    raise SandboxError("the sandbox was stopped before it was ready")
                try:
                    message = self._receive(self._conn)
                except SandboxError as exc:
                    message = _Failed(exc, time.perf_counter())
                self.since_fork_s = message.at - self._started
                if isinstance(message, _Ready):
                    self.sandbox = ChildSandbox(message, self._ask)
                    self.elapsed_s = message.start_s
                else:
                    if not isinstance(message, _Failed):  # its failure could not be sent
                        message = _Failed(SandboxError("the sandbox did not start"), message.at)
                    self._error = message.error
                    if message.load_report is not None or message.next_report is not None:
                        self.sandbox = ChildSandbox(message, self._ask)
                    self.elapsed_s = self.since_fork_s
        if self._error is not None:
            raise self._error
        assert self.sandbox is not None
        return self.sandbox.info

    def _ask(self, question: str) -> Any:
        with self._lock:
            if self._conn is None or self._stop_sent:
                raise SandboxError("the sandbox is stopping")
            self._conn.send(question)
            answer = self._receive(self._conn)
        if isinstance(answer, (_Ready, _Failed, _Stopped)):
            raise SandboxError(f"the sandbox's process answered {type(answer).__name__}")
        return answer

    def stop_soon(self) -> None:
        """Tell the child to stop its sandbox (`stop()` waits for it)."""
        with self._lock:
            if self._stop_sent or self._conn is None:
                return
            self._stop_sent = time.perf_counter()
            with contextlib.suppress(OSError, ValueError):  # it is gone already
                self._conn.send("stop")

    def stop(self) -> None:
        """Stop the sandbox and wait for its process to end; one that has not ended within
        STOP_TIMEOUT_S is killed."""
        if self._pid is None:
            return
        self.stop_soon()
        with self._lock:
            conn, self._conn = self._conn, None
        deadline = time.monotonic() + STOP_TIMEOUT_S
        try:
            # Until the child's end of the pipe closes (it exits right after) or the deadline.
            while conn is not None and conn.poll(max(0.0, deadline - time.monotonic())):
                message = conn.recv()
                if isinstance(message, _Stopped):
                    self.stop_s = message.at - self._stop_sent
        except (EOFError, OSError):
            pass
        finally:
            if conn is not None:
                conn.close()
            pid, self._pid = self._pid, None
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
