"""The history's one schema (SQLAlchemy Core), its version, and the migrations that reach it.

    synthetics_meta     key/value: `schema_version`
    synthetics_runs     one row a run: run_id (unique: importing twice keeps one), target,
                        trigger, location, version, start/finish (epoch ms, UTC), status,
                        interrupted, faults and thresholds (JSON text)
    synthetics_checks   one row a check of a run: status, reason, blocked_by, attempts,
                        duration, measurements (JSON text), message

Times are epoch milliseconds in a BIGINT so SQLite and Postgres compare and index them alike.
Tables carry a `synthetics_` prefix so the history can live in a database shared with other
things. `MIGRATIONS[n]` takes a database at version n to n + 1; `migrate` applies the missing
ones inside the caller's transaction, which the backend has locked against other writers.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from synthetics.errors import HistoryError

metadata = MetaData()

meta = Table(
    "synthetics_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "synthetics_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(200), nullable=False, unique=True),
    Column("target", String(200), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("location", String(200), nullable=False, default=""),
    Column("version", String(64), nullable=False, default=""),
    Column("started_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("interrupted", Boolean, nullable=False, default=False),
    Column("faults", Text, nullable=False, default="[]"),
    Column("thresholds", Text, nullable=False, default="{}"),
    Column("recorded_ms", BigInteger, nullable=False),
    Index("synthetics_runs_target_started", "target", "started_ms"),
    Index("synthetics_runs_started", "started_ms"),
)

checks = Table(
    "synthetics_checks",
    metadata,
    Column(
        "run",
        Integer,
        ForeignKey("synthetics_runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("check_id", String(200), primary_key=True),
    Column("grp", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(64)),
    Column("blocked_by", String(200)),
    Column("attempts", Integer, nullable=False, default=1),
    Column("duration_ms", Float, nullable=False, default=0.0),
    Column("measurements", Text, nullable=False, default="{}"),
    Column("message", Text, nullable=False, default=""),
)

#: The version this code writes and reads.
SCHEMA_VERSION = 2


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[runs, checks])


def _add_alert_state(conn: Connection) -> None:
    """v2: the alert lifecycle's state lives with the runs (synthetics.alerting.state)."""
    from synthetics.alerting import state

    state.migrate(conn)


#: MIGRATIONS[n] takes a database at version n to n + 1 (0 = empty).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {0: _create_v1, 1: _add_alert_state}


def current_version(conn: Connection) -> int:
    """The schema version recorded in the database (0 when it has no history yet)."""
    meta.create(conn, checkfirst=True)
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


def migrate(conn: Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; refuses a database written by a newer version."""
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"the history is at schema version {version}, newer than this synthetics "
            f"({SCHEMA_VERSION}): upgrade synthetics to read it"
        )
    start = version
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](conn)
        version += 1
    if version != start:
        if start == 0:
            conn.execute(meta.insert().values(key="schema_version", value=str(version)))
        else:
            conn.execute(
                meta.update().where(meta.c.key == "schema_version").values(value=str(version))
            )
    return version
