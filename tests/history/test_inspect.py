"""`inspect_store`: what a history URL holds, read without creating, migrating or locking."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from synthetics.errors import HistoryError
from synthetics.history.schema import SCHEMA_VERSION
from synthetics.history.store import inspect_store, open_store


def test_nothing_there_is_no_history_and_stays_nothing(url: str, tmp_path: Path) -> None:
    found = inspect_store(url)
    assert found.version is None
    assert not (tmp_path / "nested").exists()  # the SQLite file (and folder) are not made
    if found.backend == "postgres":
        with psycopg.connect(url) as conn:
            row = conn.execute("select to_regclass('synthetics_meta')").fetchone()
        assert row == (None,)  # no table was made either


def test_a_history_says_its_schema_version(url: str) -> None:
    open_store(url).close()
    assert inspect_store(url).version == SCHEMA_VERSION


def test_an_older_history_is_read_not_migrated(url: str) -> None:
    open_store(url).close()
    update = "update synthetics_meta set value = '1' where key = 'schema_version'"
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.split(":///", 1)[1]) as conn:
            conn.execute(update)
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(update)
    assert inspect_store(url).version == 1
    assert inspect_store(url).version == 1  # still: nothing migrated it


def test_an_unreachable_postgres_names_no_password() -> None:
    url = "postgresql://history:hunter2-history-pass@127.0.0.1:1/history"
    with pytest.raises(HistoryError) as caught:
        inspect_store(url)
    assert "hunter2-history-pass" not in str(caught.value)
    assert url not in str(caught.value)
