"""The history store: one Protocol, one SQL implementation over SQLAlchemy Core, two backends.

    Store        record(run) / runs(target, since, until, triggers) / prune(older_than) / close
    SqlStore     the schema of `schema.py` on any SQLAlchemy engine the backend hands it
    open_store   `sqlite:///PATH` → backends.sqlite, `postgresql://…` → backends.postgres
    inspect_store  what a history URL holds (its schema version), read only: `synthetics doctor`

Writers at the same moment are safe: a run is one transaction (the run row and all its checks,
or nothing); a second copy of a run_id is dropped by the database (`ON CONFLICT DO NOTHING`), so
importing a run twice keeps one copy and two matrix legs never clash. SQLite serialises writers
(`BEGIN IMMEDIATE`, WAL, a busy timeout); Postgres takes an advisory lock only to migrate.

SQLAlchemy's and the drivers' errors become `HistoryError` here, with the URL and its password
taken out: a history URL is a secret.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from synthetics.errors import HistoryError
from synthetics.history import schema
from synthetics.history.backends import Backend, backend_for
from synthetics.results import CheckResult, RunResult
from synthetics.status import Status


class Store(Protocol):
    """Where runs are kept (the run-finishing pipeline records into it; rules read from it)."""

    def record(self, run: RunResult) -> bool:
        """Keep `run`; False when a run with its run_id is already there (nothing changes)."""
        ...

    def runs(
        self,
        *,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        triggers: Collection[str] | None = None,
    ) -> list[RunResult]:
        """Runs started in [since, until), oldest first (checks without evidence)."""
        ...

    def prune(self, older_than: datetime) -> int:
        """Delete runs started before `older_than`; how many went."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


_STATUSES = {s.value: s for s in Status}


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of `moment` (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)


class SqlStore:
    """The history in a SQL database (SQLite or Postgres, chosen by the backend)."""

    def __init__(self, engine: Engine, backend: Backend, *, secret: str = "") -> None:
        self._engine = engine
        #: The engine, for state that lives with the runs (the alert lifecycle's).
        self.engine = engine
        self._backend = backend
        self._secret = secret
        with self._write() as conn:
            self._backend.lock_schema(conn)
            self.schema_version = schema.migrate(conn)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgres`."""
        return self._backend.name

    def __repr__(self) -> str:
        return f"SqlStore(backend={self.backend!r})"  # never the URL

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._translated(), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise HistoryError(self._describe(exc)) from None

    def _describe(self, exc: SQLAlchemyError) -> str:
        original = getattr(exc, "orig", None) or exc
        # The driver's own sentence, first line only: SQLAlchemy's adds the SQL and parameters.
        text = str(original).strip().splitlines()[0] if str(original).strip() else ""
        for secret in _secrets(self._secret):
            text = text.replace(secret, "<secret>")
        return f"{self.backend} history: {type(original).__name__}: {text}"

    def record(self, run: RunResult) -> bool:
        """Keep `run` and its checks in one transaction; False when it was already there."""
        finished = run.finished_at or run.started_at
        row: dict[str, Any] = {
            "run_id": run.run_id,
            "target": run.target,
            "trigger": run.trigger,
            "location": run.location,
            "version": run.version,
            "started_ms": to_ms(run.started_at),
            "finished_ms": to_ms(finished),
            "status": run.status.value,
            "interrupted": run.interrupted,
            "faults": json.dumps(list(run.faults)),
            "thresholds": json.dumps(dict(run.thresholds)),
            "recorded_ms": to_ms(datetime.now(UTC)),
        }
        with self._write() as conn:
            key = conn.execute(self._backend.insert_new(schema.runs, row, "run_id")).scalar()
            if key is None:
                return False
            rows = [_check_row(key, c) for c in _unique(run.checks)]
            if rows:
                conn.execute(schema.checks.insert(), rows)
        return True

    def runs(
        self,
        *,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        triggers: Collection[str] | None = None,
    ) -> list[RunResult]:
        """Runs started in [since, until), oldest first, each with its checks."""
        r, c = schema.runs, schema.checks
        conditions = []
        if target is not None:
            conditions.append(r.c.target == target)
        if since is not None:
            conditions.append(r.c.started_ms >= to_ms(since))
        if until is not None:
            conditions.append(r.c.started_ms < to_ms(until))
        if triggers is not None:
            conditions.append(r.c.trigger.in_(list(triggers)))
        order = (r.c.started_ms, r.c.id)
        found: dict[int, RunResult] = {}
        with self._translated(), self._engine.connect() as conn:
            for row in conn.execute(select(r).where(*conditions).order_by(*order)):
                found[row.id] = RunResult(
                    run_id=row.run_id,
                    target=row.target,
                    started_at=from_ms(row.started_ms),
                    finished_at=from_ms(row.finished_ms),
                    interrupted=bool(row.interrupted),
                    trigger=row.trigger,
                    location=row.location,
                    version=row.version,
                    faults=json.loads(row.faults),
                    thresholds=json.loads(row.thresholds),
                )
            if not found:
                return []
            columns = (
                c.c.run, c.c.check_id, c.c.grp, c.c.status, c.c.duration_ms,
                c.c.attempts, c.c.measurements, c.c.message, c.c.blocked_by, c.c.reason,
            )  # fmt: skip
            query = select(*columns).join(r, r.c.id == c.c.run).where(*conditions)
            for row in conn.execute(query.order_by(c.c.run)):
                key, check_id, grp, status, took, tries, measured, message, blocked, reason = row
                found[key].checks.append(
                    CheckResult(
                        id=check_id,
                        group=grp,
                        status=_STATUSES[status],
                        duration_ms=took,
                        attempts=tries,
                        measurements=json.loads(measured) if measured != "{}" else {},
                        message=message,
                        blocked_by=blocked,
                        reason=reason,
                    )
                )
        return list(found.values())

    def count(self) -> int:
        """How many runs the history holds."""
        with self._translated(), self._engine.connect() as conn:
            return len(conn.execute(select(schema.runs.c.id)).all())

    def prune(self, older_than: datetime) -> int:
        """Delete runs (and their checks) started before `older_than`."""
        r, c = schema.runs, schema.checks
        old = select(r.c.id).where(r.c.started_ms < to_ms(older_than))
        with self._write() as conn:
            conn.execute(delete(c).where(c.c.run.in_(old)))
            return int(conn.execute(delete(r).where(r.c.started_ms < to_ms(older_than))).rowcount)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()


def _secrets(url: str) -> list[str]:
    """The URL and its password, longest first, to take out of error messages."""
    found = [url] if url else []
    try:
        password = make_url(url).password if url else None
    except ArgumentError:
        password = None
    if password:
        found.append(str(password))
    return found


def _unique(checks: list[CheckResult]) -> list[CheckResult]:
    """One row per check id (the last result wins if a file repeats an id)."""
    return list({c.id: c for c in checks}.values())


def _check_row(run_key: int, check: CheckResult) -> dict[str, Any]:
    return {
        "run": run_key,
        "check_id": check.id,
        "grp": check.group,
        "status": check.status.value,
        "reason": check.reason,
        "blocked_by": check.blocked_by,
        "attempts": check.attempts,
        "duration_ms": check.duration_ms,
        "measurements": json.dumps(check.measurements),
        "message": check.message,
    }


def open_store(url: str) -> SqlStore:
    """The store at `url` (`sqlite:///PATH` or `postgresql://…`), migrated to this version.

    Raises HistoryError (without the URL) when it cannot be opened.
    """
    backend = backend_for(url)
    try:
        engine = backend.engine(url)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise HistoryError(
            f"{backend.name} history cannot be opened: {type(exc).__name__}"
        ) from None
    return SqlStore(engine, backend, secret=url)


@dataclass(frozen=True)
class Inspection:
    """What a history URL holds, as read without changing it."""

    backend: str
    #: The SQLite file (None for Postgres: its URL is a secret).
    path: Path | None
    #: The schema version written there; None when there is no history yet.
    version: int | None


_VERSION_SQL = f"select value from {schema.meta.name} where key = 'schema_version'"


def inspect_store(url: str) -> Inspection:
    """Read the schema version at `url` without creating, migrating or locking anything.

    A missing SQLite file is not created (version None); Postgres is read in a READ ONLY
    transaction. HistoryError (never the URL) when it cannot be read."""
    backend = backend_for(url)
    if backend.name == "sqlite":
        return _inspect_sqlite(url)
    rest = url.split("://", 1)[1]
    try:
        with psycopg.connect(f"postgresql://{rest}", connect_timeout=10) as conn:
            conn.read_only = True
            found = conn.execute("select to_regclass(%s)", (schema.meta.name,)).fetchone()
            if found is None or found[0] is None:
                return Inspection("postgres", None, None)
            row = conn.execute(_VERSION_SQL).fetchone()
    except psycopg.Error as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        for secret in _secrets(url):
            text = text.replace(secret, "<secret>")
        raise HistoryError(f"postgres history: {type(exc).__name__}: {text}") from None
    return Inspection("postgres", None, int(row[0]) if row else None)


def _inspect_sqlite(url: str) -> Inspection:
    raw = url.split(":///", 1)[1] if ":///" in url else ""
    if not raw or raw == ":memory:":
        return Inspection("sqlite", None, None)
    path = Path(raw)
    if not path.exists():
        return Inspection("sqlite", path, None)
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = conn.execute(
                "select name from sqlite_master where type = 'table' and name = ?",
                (schema.meta.name,),
            ).fetchall()
            row = conn.execute(_VERSION_SQL).fetchone() if tables else None
    except sqlite3.Error as exc:
        raise HistoryError(f"sqlite history {path}: {type(exc).__name__}: {exc}") from None
    return Inspection("sqlite", path, int(row[0]) if row else None)
