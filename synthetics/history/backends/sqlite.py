"""The embedded default: one SQLite file, safe for several writers on one machine.

WAL lets readers go on while one writer writes; every transaction starts with `BEGIN IMMEDIATE`
so two writers queue on the busy timeout instead of failing half-way (SQLAlchemy's documented
recipe: the driver's own transaction handling off, BEGIN emitted on the `begin` event).

Switching a new file to WAL is the one step the busy timeout does not cover: two processes
opening a new history together see `database is locked` from `PRAGMA journal_mode=WAL` at once
(about one pair in three). The switch is made under an exclusive `flock` of the file's folder
(not of the file: closing another descriptor of it would drop SQLite's own POSIX locks), so the
second opener waits for the first one's switch and then finds WAL already on.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert

#: How long a writer waits for another to finish (seconds).
BUSY_TIMEOUT_S = 30


class SqliteBackend:
    """SQLite through the standard library's driver."""

    name = "sqlite"

    def engine(self, url: str) -> Engine:
        """An engine on the file (its folder is made), WAL and foreign keys on."""
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            "sqlite+pysqlite:///" + path, connect_args={"timeout": BUSY_TIMEOUT_S}
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None  # we say BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            with _switching(path):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def lock_schema(self, conn: Connection) -> None:
        """BEGIN IMMEDIATE already holds the write lock."""

    def insert_new(self, table: Table, row: dict[str, Any], key: str) -> Executable:
        """INSERT … ON CONFLICT (key) DO NOTHING RETURNING id."""
        return (insert(table).values(**row).on_conflict_do_nothing(index_elements=[key])).returning(
            table.c.id
        )


@contextmanager
def _switching(path: str) -> Iterator[None]:
    """Hold the folder's exclusive flock while the journal mode is switched (a file's only)."""
    if not path or path == ":memory:":
        yield
        return
    folder = os.open(Path(path).parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # held for one PRAGMA; released if the process dies
        yield
    finally:
        os.close(folder)  # closing the descriptor releases the flock


SQLITE = SqliteBackend()
