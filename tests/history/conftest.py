"""A real SQLite file and a real PostgreSQL (the embedded one) for the history tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from synthetics.history.store import SqlStore, open_store
from synthetics.sandbox.database import Database


@pytest.fixture(scope="session")
def postgres() -> Iterator[Database]:
    """One embedded Postgres for the session."""
    database = Database()
    database.start()
    try:
        yield database
    finally:
        database.stop()


@pytest.fixture
def postgres_url(postgres: Database) -> str:
    """A fresh, empty database of its own for one test."""
    name = f"history_{uuid.uuid4().hex[:10]}"
    with postgres.connect() as conn:
        conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))
    return f"postgresql://postgres@{postgres.host}:{postgres.port}/{name}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A history file that does not exist yet (its folder neither)."""
    return f"sqlite:///{tmp_path}/nested/history.sqlite"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def store(url: str) -> Iterator[SqlStore]:
    """An open store on each backend."""
    opened = open_store(url)
    try:
        yield opened
    finally:
        opened.close()
