"""History backends: what differs between SQLite and Postgres, behind one small Protocol.

    sqlite.SQLITE      the embedded default: a file, WAL, writers serialised by BEGIN IMMEDIATE
    postgres.POSTGRES  shared by many runners (psycopg); an advisory lock guards migrations

A backend makes the engine, locks the schema for a migration and inserts a row unless its key is
taken (returning the new primary key, or None). Everything else is `SqlStore`'s.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Executable, Table

from synthetics.errors import HistoryError


class Backend(Protocol):
    """What one kind of database needs done its own way."""

    name: str

    def engine(self, url: str) -> Engine:
        """An engine for `url`."""
        ...

    def lock_schema(self, conn: Connection) -> None:
        """Keep other writers out while the schema is checked and migrated (this transaction)."""
        ...

    def insert_new(self, table: Table, row: dict[str, Any], key: str) -> Executable:
        """INSERT `row` unless `key` is taken, RETURNING the new id (no row when it was)."""
        ...


def backend_for(url: str) -> Backend:
    """The backend of a history URL's scheme (HistoryError naming the scheme alone).

    Only that backend's module is loaded: SQLAlchemy's PostgreSQL dialect (~0.1 s to import)
    is not what a SQLite history needs at the end of every run.
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from synthetics.history.backends.sqlite import SQLITE

        return SQLITE
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from synthetics.history.backends.postgres import POSTGRES

        return POSTGRES
    raise HistoryError(f"history url scheme {scheme!r} is not sqlite or postgresql")
