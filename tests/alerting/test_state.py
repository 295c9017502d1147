"""Alert state on a real SQLite file and a real (embedded) PostgreSQL; two writers at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event, inspect

from synthetics.alerting.lifecycle import Policy, advance
from synthetics.alerting.model import AlertState, Observation
from synthetics.alerting.state import (
    AlertStateError,
    DeliveryRecord,
    Snapshot,
    SqlStateStore,
    Transition,
    migrate,
)
from synthetics.sandbox.database import Database
from synthetics.status import Status

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Database]:
    database = Database()
    database.start()
    try:
        yield database
    finally:
        database.stop()


def _sqlite(path: Path) -> Engine:
    """SQLite as the history opens it: WAL, a busy timeout, BEGIN IMMEDIATE."""
    engine = create_engine(f"sqlite+pysqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi: object, record: object) -> None:
        dbapi.isolation_level = None  # type: ignore[attr-defined]
        dbapi.execute("PRAGMA journal_mode=WAL")  # type: ignore[attr-defined]

    @event.listens_for(engine, "begin")
    def _begin(conn: object) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]

    return engine


def _postgres(database: Database) -> Engine:
    name = f"alerts_{uuid.uuid4().hex[:10]}"
    with database.connect() as conn:
        conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))
    return create_engine(f"postgresql+psycopg://postgres@{database.host}:{database.port}/{name}")


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    made = (
        _sqlite(tmp_path / "history.sqlite")
        if request.param == "sqlite"
        else _postgres(request.getfixturevalue("postgres"))
    )
    try:
        yield made
    finally:
        made.dispose()


def failing_step(now: datetime, *, gate: threading.Barrier | None = None):  # type: ignore[no-untyped-def]
    """The lifecycle on one critical email failure; waits at `gate` after reading, so two
    writers both read the same state before either writes."""
    calls: list[Snapshot] = []

    def step(snapshot: Snapshot) -> Transition:
        calls.append(snapshot)
        if gate is not None and len(calls) == 1:
            gate.wait(timeout=30)
        moved = advance(
            snapshot.states,
            [
                Observation(
                    "email.delivery",
                    True,
                    Status.CRITICAL,
                    message="lost",
                    checks=("email.delivery",),
                )
            ],
            target="production",
            now=now,
            policy=Policy(),
            muted_by="",
        )
        return Transition(moved, [*snapshot.recent, (now, Status.CRITICAL)])

    step.calls = calls  # type: ignore[attr-defined]
    return step


def test_the_tables_are_a_migration_the_history_can_run(engine: Engine) -> None:
    with engine.begin() as conn:
        migrate(conn)
        migrate(conn)  # idempotent: the history may call it on a database that has them
    names = set(inspect(engine).get_table_names())
    assert {
        "synthetics_alert_targets",
        "synthetics_alert_states",
        "synthetics_alert_deliveries",
    } <= names


def test_states_and_recent_runs_survive_a_reopen(engine: Engine) -> None:
    store = SqlStateStore(engine)
    for n in range(2):
        store.transition("production", failing_step(T0 + timedelta(minutes=30 * n)))
    again = SqlStateStore(engine)
    (state,) = again.states("production").values()
    assert (state.phase, state.severity, state.failures, state.since) == (
        "firing",
        Status.CRITICAL,
        2,
        T0,
    )
    assert state.notified_severity is Status.CRITICAL and state.checks == ("email.delivery",)
    seen: list[Snapshot] = []
    again.transition(
        "production",
        lambda s: (
            seen.append(s),
            Transition(
                advance(s.states, [], target="production", now=T0, policy=Policy()), s.recent
            ),
        )[1],
    )
    assert [status for _, status in seen[0].recent] == [Status.CRITICAL, Status.CRITICAL]
    assert again.states("staging") == {}


def test_deliveries_and_muted_runs_are_recorded(engine: Engine) -> None:
    store = SqlStateStore(engine)
    rows = [
        DeliveryRecord(
            T0,
            "production",
            "email.delivery",
            "trigger",
            "critical",
            "pager",
            "sent",
            "r1",
            202,
            "Event processed",
        ),
        DeliveryRecord(
            T0,
            "production",
            "email.delivery",
            "trigger",
            "critical",
            "",
            "muted",
            "r2",
            None,
            "db-upgrade",
        ),
        DeliveryRecord(
            T0,
            "production",
            "security",
            "trigger",
            "critical",
            "",
            "muted",
            "r3",
            None,
            "db-upgrade",
        ),
    ]
    store.record(rows)
    assert store.deliveries(target="production") == rows
    assert store.muted_runs(target="production") == ["r2", "r3"]


@pytest.mark.parametrize("attempt", range(3))
def test_two_writers_at_once_page_once(engine: Engine, attempt: int) -> None:
    """Two locations finish a failing run at the same moment, after one earlier failure: both
    read "pending, 1 failure", both compute "fire"; only one may commit that and send."""
    SqlStateStore(engine).transition("production", failing_step(T0))
    # On Postgres both transactions read before either writes (the barrier inside the step);
    # SQLite's BEGIN IMMEDIATE already queues the second writer before it can read.
    gate = threading.Barrier(2) if engine.dialect.name == "postgresql" else None
    results: list[Transition] = []
    errors: list[BaseException] = []
    steps = [failing_step(T0 + timedelta(minutes=30), gate=gate) for _ in range(2)]

    def writer(n: int) -> None:
        try:
            results.append(SqlStateStore(engine, create=False).transition("production", steps[n]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    kinds = sorted(n.kind for r in results for n in r.step.notifications)
    assert kinds == ["trigger"]  # one page, not two
    (state,) = SqlStateStore(engine).states("production").values()
    assert state.failures == 3  # both runs counted: the loser recomputed on the winner's state
    if engine.dialect.name == "postgresql":
        # Both read before either wrote (the barrier), so the loser's compare-and-set failed.
        assert sorted(len(s.calls) for s in steps) == [1, 2]  # type: ignore[attr-defined]


def test_errors_name_the_backend_not_the_url(tmp_path: Path) -> None:
    engine = create_engine(
        "postgresql+psycopg://postgres:Sup3rSecretPw@127.0.0.1:9/x",
        connect_args={"connect_timeout": 2},
    )
    with pytest.raises(AlertStateError) as caught:
        SqlStateStore(engine)
    assert "Sup3rSecretPw" not in str(caught.value) and "postgresql" in str(caught.value)


def test_state_round_trips_every_field(engine: Engine) -> None:
    store = SqlStateStore(engine)
    full = AlertState(
        "production",
        "rpc.*",
        phase="firing",
        severity=Status.WARNING,
        failures=4,
        passes=0,
        since=T0,
        notified_severity=Status.WARNING,
        notified_at=T0 + timedelta(hours=1),
        channels=("oncall", "hook"),
        message="3 of 20 v2 RPCs slower than 1000 ms",
        checks=("rpc.a", "rpc.b"),
        runbook="Plan B",
        first_step="restore",
        updated_at=T0,
    )
    store.transition(
        "production",
        lambda s: Transition(
            type(advance(s.states, [], target="x", now=T0, policy=Policy()))(
                states={"rpc.*": full}
            ),
            [],
        ),
    )
    assert store.states("production") == {"rpc.*": full}
