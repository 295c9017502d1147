"""Alert state in the history database: SQLAlchemy Core tables, a migration, compare-and-set.

    synthetics_alert_targets     one row a target: `version` (the compare-and-set counter) and
                                 the recent runs (start, status) for trends and the gap rule
    synthetics_alert_states      one row an open alert: target, subject, phase, severity,
                                 counters, since, what was announced and to which channels
    synthetics_alert_deliveries  every notification's fate per channel: sent, failed or muted
                                 (with the HTTP status and the service's answer)

`migrate(conn)` creates the tables when missing; the history store calls it as one of its schema
migrations (`schema.MIGRATIONS[1] = synthetics.alerting.state.migrate`, SCHEMA_VERSION 2), and
`SqlStateStore` calls it itself on an engine of its own. Times are epoch milliseconds in BIGINT,
as in the history's tables.

Runners writing at the same moment (two locations watching one target) must not both page.
`SqlStateStore.transition` reads a target's states, runs the pure lifecycle on them and writes
the result in one transaction that ends with `UPDATE … SET version = version + 1 WHERE target =
:t AND version = :seen`: when another runner committed in between, no row matches, the
transaction rolls back and the step is computed again from what that runner wrote, which by then
says the alert was announced. Only the runner whose update matched sends anything. On Postgres
the second UPDATE waits on the first's row lock and then sees the new version; SQLite serialises
writers (the history's engine starts every transaction with BEGIN IMMEDIATE).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from synthetics.alerting.lifecycle import Step
from synthetics.alerting.model import AlertState
from synthetics.errors import SyntheticsError
from synthetics.status import Status

metadata = MetaData()

targets = Table(
    "synthetics_alert_targets",
    metadata,
    Column("target", String(200), primary_key=True),
    Column("version", Integer, nullable=False, default=0),
    Column("recent", Text, nullable=False, default="[]"),
    Column("updated_ms", BigInteger, nullable=False, default=0),
)

states = Table(
    "synthetics_alert_states",
    metadata,
    Column("target", String(200), primary_key=True),
    Column("subject", String(200), primary_key=True),
    Column("phase", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("passes", Integer, nullable=False, default=0),
    Column("since_ms", BigInteger),
    Column("notified_severity", String(16)),
    Column("notified_at_ms", BigInteger),
    Column("channels", Text, nullable=False, default="[]"),
    Column("checks", Text, nullable=False, default="[]"),
    Column("message", Text, nullable=False, default=""),
    Column("runbook", Text, nullable=False, default=""),
    Column("first_step", Text, nullable=False, default=""),
    Column("updated_ms", BigInteger, nullable=False, default=0),
)

deliveries = Table(
    "synthetics_alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("run_id", String(200), nullable=False, default=""),
    Column("target", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),  # sent | failed | muted
    Column("status", Integer),
    Column("detail", Text, nullable=False, default=""),
    Index("synthetics_alert_deliveries_target_at", "target", "at_ms"),
)

#: Runs kept per target for the trend sparkline and the gap rule.
RECENT_RUNS = 48
#: Compare-and-set attempts before giving up (each one means another runner just wrote).
MAX_ATTEMPTS = 20


class AlertStateError(SyntheticsError):
    """The alert state could not be read or written (the message never has the URL)."""


def migrate(conn: Connection) -> None:
    """Create the alert tables that are missing (inside the caller's transaction)."""
    metadata.create_all(conn, checkfirst=True)


def to_ms(moment: datetime | None) -> int | None:
    """Epoch milliseconds (naive times are UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def from_ms(ms: int | None) -> datetime | None:
    """The UTC datetime of epoch milliseconds."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class Snapshot:
    """A target's alert state as one transaction read it."""

    target: str
    states: dict[str, AlertState]
    #: (start, status) of recent runs, oldest first.
    recent: list[tuple[datetime, Status]]
    version: int = 0


@dataclass
class Transition:
    """What a step writes back: the new states and recent runs, and what to send."""

    step: Step
    recent: list[tuple[datetime, Status]] = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryRecord:
    """One notification's fate on one channel."""

    at: datetime
    target: str
    subject: str
    kind: str
    severity: str
    channel: str
    outcome: str
    run_id: str = ""
    status: int | None = None
    detail: str = ""


class StateStore(Protocol):
    """Where the lifecycle's state lives between runs."""

    def transition(self, target: str, step: Callable[[Snapshot], Transition]) -> Transition:
        """Run `step` on the target's state and keep its result, atomically."""
        ...

    def record(self, rows: Sequence[DeliveryRecord]) -> None:
        """Keep delivery outcomes."""
        ...

    def deliveries(self, *, target: str | None = None) -> list[DeliveryRecord]:
        """Delivery outcomes, oldest first."""
        ...


class SqlStateStore:
    """The alert state on a SQLAlchemy engine (the history's, or one of its own)."""

    def __init__(self, engine: Engine, *, create: bool = True) -> None:
        self._engine = engine
        #: How many compare-and-set attempts lost to another writer (for tests and reports).
        self.conflicts = 0
        if create:
            with self._translated(), engine.begin() as conn:
                migrate(conn)

    def __repr__(self) -> str:
        return f"SqlStateStore(dialect={self._engine.dialect.name!r})"  # never the URL

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            original = getattr(exc, "orig", None) or exc
            text = str(original).strip().splitlines()[0] if str(original).strip() else ""
            raise AlertStateError(
                f"alert state ({self._engine.dialect.name}): {type(original).__name__}: {text}"
            ) from None

    def transition(self, target: str, step: Callable[[Snapshot], Transition]) -> Transition:
        """Read, step, compare-and-set; again from the fresh state when another writer won."""
        for _ in range(MAX_ATTEMPTS):
            with self._translated(), self._engine.begin() as conn:
                conn.execute(_insert_new(conn, target))
                row = conn.execute(select(targets).where(targets.c.target == target)).one()
                snapshot = Snapshot(
                    target=target,
                    states=self._states(conn, target),
                    recent=_recent_from(row.recent),
                    version=int(row.version),
                )
                result = step(snapshot)
                now_ms = to_ms(datetime.now(UTC))
                claimed = conn.execute(
                    update(targets)
                    .where(targets.c.target == target, targets.c.version == snapshot.version)
                    .values(
                        version=snapshot.version + 1,
                        recent=_recent_to(result.recent[-RECENT_RUNS:]),
                        updated_ms=now_ms,
                    )
                ).rowcount
                if claimed == 1:
                    conn.execute(delete(states).where(states.c.target == target))
                    rows = [_state_row(s) for s in result.step.states.values()]
                    if rows:
                        conn.execute(insert(states), rows)
                    return result
                conn.rollback()
            self.conflicts += 1
        raise AlertStateError(
            f"alert state of {target!r} kept changing under {MAX_ATTEMPTS} attempts to update it"
        )

    def states(self, target: str) -> dict[str, AlertState]:
        """The open alerts of `target`."""
        with self._translated(), self._engine.connect() as conn:
            return self._states(conn, target)

    def _states(self, conn: Connection, target: str) -> dict[str, AlertState]:
        query = select(states).where(states.c.target == target).order_by(states.c.subject)
        return {row.subject: _state_from(row) for row in conn.execute(query)}

    def record(self, rows: Sequence[DeliveryRecord]) -> None:
        """Append delivery outcomes."""
        if not rows:
            return
        values = [
            {
                "at_ms": to_ms(r.at),
                "run_id": r.run_id,
                "target": r.target,
                "subject": r.subject,
                "kind": r.kind,
                "severity": r.severity,
                "channel": r.channel,
                "outcome": r.outcome,
                "status": r.status,
                "detail": r.detail,
            }
            for r in rows
        ]
        with self._translated(), self._engine.begin() as conn:
            conn.execute(insert(deliveries), values)

    def deliveries(self, *, target: str | None = None) -> list[DeliveryRecord]:
        """Delivery outcomes, oldest first (the report's "muted by maintenance" reads these)."""
        query = select(deliveries).order_by(deliveries.c.at_ms, deliveries.c.id)
        if target is not None:
            query = query.where(deliveries.c.target == target)
        with self._translated(), self._engine.connect() as conn:
            return [
                DeliveryRecord(
                    at=from_ms(r.at_ms) or datetime.fromtimestamp(0, UTC),
                    target=r.target,
                    subject=r.subject,
                    kind=r.kind,
                    severity=r.severity,
                    channel=r.channel,
                    outcome=r.outcome,
                    run_id=r.run_id,
                    status=r.status,
                    detail=r.detail,
                )
                for r in conn.execute(query)
            ]

    def muted_runs(self, *, target: str | None = None) -> list[str]:
        """Run ids whose notifications a maintenance window muted, oldest first."""
        found = [r.run_id for r in self.deliveries(target=target) if r.outcome == "muted"]
        return list(dict.fromkeys(found))

    def close(self) -> None:
        """Release pooled connections."""
        self._engine.dispose()


def _insert_new(conn: Connection, target: str) -> Any:
    """INSERT the target's row unless it is there (each dialect's ON CONFLICT DO NOTHING)."""
    values = {"target": target, "version": 0, "recent": "[]", "updated_ms": 0}
    # Each dialect's module is loaded when its database is used (PostgreSQL's takes ~0.1 s).
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(targets).values(**values).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(targets).values(**values).on_conflict_do_nothing()
    raise AlertStateError(f"alert state does not support {conn.dialect.name}")


def _recent_from(text: str) -> list[tuple[datetime, Status]]:
    found = []
    for ms, status in json.loads(text or "[]"):
        moment = from_ms(int(ms))
        if moment is not None:
            found.append((moment, Status(status)))
    return found


def _recent_to(recent: Sequence[tuple[datetime, Status]]) -> str:
    return json.dumps([[to_ms(at), status.value] for at, status in recent])


def _state_row(state: AlertState) -> dict[str, Any]:
    return {
        "target": state.target,
        "subject": state.subject,
        "phase": state.phase,
        "severity": state.severity.value,
        "failures": state.failures,
        "passes": state.passes,
        "since_ms": to_ms(state.since),
        "notified_severity": state.notified_severity.value if state.notified_severity else None,
        "notified_at_ms": to_ms(state.notified_at),
        "channels": json.dumps(list(state.channels)),
        "checks": json.dumps(list(state.checks)),
        "message": state.message,
        "runbook": state.runbook,
        "first_step": state.first_step,
        "updated_ms": to_ms(state.updated_at) or 0,
    }


def _state_from(row: Any) -> AlertState:
    return AlertState(
        target=row.target,
        subject=row.subject,
        phase=row.phase,
        severity=Status(row.severity),
        failures=int(row.failures),
        passes=int(row.passes),
        since=from_ms(row.since_ms),
        notified_severity=Status(row.notified_severity) if row.notified_severity else None,
        notified_at=from_ms(row.notified_at_ms),
        channels=tuple(json.loads(row.channels)),
        checks=tuple(json.loads(row.checks)),
        message=row.message,
        runbook=row.runbook,
        first_step=row.first_step,
        updated_at=from_ms(row.updated_ms),
    )
