"""PostgreSQL, shared by many runners (matrix legs, locations) through psycopg 3.

Concurrent writers need nothing special: each run is one transaction and a repeated run_id is
dropped by `ON CONFLICT DO NOTHING`. Migrations take a transaction-scoped advisory lock, so two
runners opening a new history at once do not both create it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Executable, Table, create_engine, text
from sqlalchemy.dialects.postgresql import insert

#: pg_advisory_xact_lock key for schema migrations ("synthetics" in ASCII, folded to 63 bits).
MIGRATION_LOCK = 0x73796E7468657469


class PostgresBackend:
    """Postgres through psycopg 3 (already the sandbox's driver)."""

    name = "postgres"

    def engine(self, url: str) -> Engine:
        """An engine with psycopg as the driver whatever scheme spelling the URL uses."""
        rest = url.split("://", 1)[1]
        return create_engine(
            "postgresql+psycopg://" + rest,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10, "application_name": "synthetics-history"},
        )

    def lock_schema(self, conn: Connection) -> None:
        """An advisory lock held until this transaction ends."""
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})

    def insert_new(self, table: Table, row: dict[str, Any], key: str) -> Executable:
        """INSERT … ON CONFLICT (key) DO NOTHING RETURNING id."""
        return (insert(table).values(**row).on_conflict_do_nothing(index_elements=[key])).returning(
            table.c.id
        )


POSTGRES = PostgresBackend()
