"""The history store on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from synthetics.errors import HistoryError
from synthetics.history import schema
from synthetics.history.store import SqlStore, open_store
from synthetics.status import Status
from tests.rules.runs import EMAIL_LOST, at, run


def test_a_run_is_kept_with_everything_the_rules_read(store: SqlStore) -> None:
    original = run(5, EMAIL_LOST, trigger="release", faults=("email.drop",))
    original.location = "eu-west"
    original.version = "0.1.0"
    original.thresholds = {"email_sla_s": 30.0}
    original.checks[0].attempts = 3
    assert store.record(original)
    [back] = store.runs()
    assert (back.run_id, back.target, back.trigger, back.location, back.version) == (
        original.run_id, "staging", "release", "eu-west", "0.1.0",
    )  # fmt: skip
    assert back.started_at == original.started_at
    assert back.faults == ["email.drop"] and back.thresholds == {"email_sla_s": 30.0}
    assert back.status is Status.CRITICAL
    by_id = {c.id: c for c in back.checks}
    assert len(by_id) == len(original.checks)
    assert by_id["auth.health"].attempts == 3
    assert by_id["email.delivery"].status is Status.CRITICAL
    assert by_id["auth.session"].blocked_by == "email.delivery"
    assert by_id["rpc.create_post_v2"].measurements == {"latency_ms": 100.0}


def test_recording_a_run_twice_keeps_one_copy(store: SqlStore) -> None:
    assert store.record(run(1)) is True
    assert store.record(run(1)) is False
    assert store.count() == 1
    assert len(store.runs()[0].checks) == len(run(1).checks)


def test_runs_are_selected_by_target_time_and_trigger(store: SqlStore) -> None:
    store.record(run(0, run_id="a"))
    store.record(run(10, run_id="b", trigger="manual"))
    store.record(run(20, run_id="c", target="production"))
    store.record(run(30, run_id="d"))
    assert [r.run_id for r in store.runs()] == ["a", "b", "c", "d"]
    assert [r.run_id for r in store.runs(target="staging")] == ["a", "b", "d"]
    assert [r.run_id for r in store.runs(since=at(10), until=at(30))] == ["b", "c"]
    assert [r.run_id for r in store.runs(triggers=["schedule"], target="staging")] == ["a", "d"]
    assert store.runs(triggers=[]) == []


def test_prune_deletes_old_runs_and_their_checks(store: SqlStore, url: str) -> None:
    for n in range(5):
        store.record(run(n * 60))
    assert store.prune(at(120)) == 2
    assert [r.run_id for r in store.runs()] == ["run-120", "run-180", "run-240"]
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        left = conn.execute(text("select count(distinct run) from synthetics_checks")).scalar()
    engine.dispose()
    assert left == 3


def test_the_schema_is_versioned_and_a_newer_one_is_refused(url: str) -> None:
    first = open_store(url)
    assert first.schema_version == schema.SCHEMA_VERSION
    first.record(run(0))
    first.close()
    again = open_store(url)  # opening an existing history migrates nothing and keeps the runs
    assert again.count() == 1
    again.close()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("update synthetics_meta set value = '99' where key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(HistoryError, match="schema version 99, newer than this synthetics"):
        open_store(url)


def test_two_writers_at_the_same_moment_lose_nothing(url: str) -> None:
    """Two processes open a new history together (both migrate) and write at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    from tests.history.writers import write

    count = 40
    writers = [
        context.Process(target=write, args=(url, name, count, barrier, results))
        for name in ("leg-a", "leg-b")
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    added = dict(results.get(timeout=5) for _ in writers)
    store = open_store(url)
    try:
        runs = store.runs()
    finally:
        store.close()
    ids = [r.run_id for r in runs]
    assert len(ids) == len(set(ids)) == 2 * count + 1
    assert ids.count("shared") == 1
    # Each writer's own runs were all new, and exactly one of them recorded the shared run.
    assert sorted(added.values()) == [count, count + 1]
    assert all(len(r.checks) == len(run(0).checks) for r in runs)


def test_an_unknown_scheme_names_the_scheme_only() -> None:
    with pytest.raises(HistoryError, match="'mysql' is not sqlite or postgresql") as caught:
        open_store("mysql://user:hunter2@db/history")
    assert "hunter2" not in str(caught.value)


def test_a_history_that_cannot_be_reached_never_shows_its_password() -> None:
    url = "postgresql://monitor:s3cret-pw@127.0.0.1:1/history"
    with pytest.raises(HistoryError) as caught:
        open_store(url)
    assert "postgres history" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value) and url not in str(caught.value)


def test_a_store_never_shows_its_url(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        assert repr(store) == "SqlStore(backend='postgres')"
    finally:
        store.close()


def test_old_runs_stay_readable_after_retention_prunes_others(store: SqlStore) -> None:
    store.record(run(0))
    store.record(run(60 * 24 * 100))
    assert store.prune(at(60 * 24 * 100) - timedelta(days=90)) == 1
    assert store.count() == 1
