"""The embedded Postgres: fresh and kept data directories, clean stops."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from synthetics.errors import DatabaseError
from synthetics.sandbox.database import Database


def test_a_kept_data_directory_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    first = Database(data_dir=data_dir)
    first.start()
    try:
        assert first.fresh
        with first.connect() as conn:
            conn.execute("create table public.kept (x int)")
            conn.execute("insert into public.kept values (42)")
    finally:
        first.stop()
    assert (data_dir / "PG_VERSION").exists()

    second = Database(data_dir=data_dir)
    second.start()
    try:
        assert not second.fresh
        with second.connect() as conn:
            assert conn.execute("select x from public.kept").fetchone() == (42,)
            roles = {r[0] for r in conn.execute("select rolname from pg_roles").fetchall()}
        assert {"anon", "authenticated", "service_role", "authenticator"} <= roles
    finally:
        second.stop()


def test_a_temporary_cluster_leaves_nothing_behind() -> None:
    database = Database()
    database.start()
    url = database.url
    pgdata = database._pgdata
    assert pgdata is not None and pgdata.exists()
    database.stop()
    assert not pgdata.parent.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    database.stop()  # stopping twice is harmless


def test_a_taken_port_is_a_database_error(tmp_path: Path) -> None:
    running = Database()
    running.start()
    try:
        clash = Database(data_dir=tmp_path / "other", port=running.port)
        with pytest.raises(DatabaseError, match="failed to start"):
            clash.start()
    finally:
        running.stop()


def test_clusters_from_a_template_start_bootstrapped_and_empty(tmp_path: Path) -> None:
    cache = tmp_path / "templates"
    first = Database(template_cache=cache)
    first.start()
    try:
        with first.connect() as conn:
            conn.execute("create table public.scratch (x int)")
            assert conn.execute("select to_regprocedure('public.get_my_profile_v2()')").fetchone()
    finally:
        first.stop()
    assert len(list(cache.glob("pg-*"))) == 1  # built once, reused below

    second = Database(template_cache=cache)
    second.start()
    try:
        assert second.fresh
        with second.connect() as conn:
            assert conn.execute("select to_regclass('public.scratch')").fetchone() == (None,)
            assert conn.execute("select count(*) from auth.users").fetchone() == (0,)
            roles = {r[0] for r in conn.execute("select rolname from pg_roles").fetchall()}
        assert {"anon", "authenticated", "service_role"} <= roles
    finally:
        second.stop()
