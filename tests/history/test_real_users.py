"""The app's own numbers from a real Postgres: seeded backdated users, the runbook's SQL, the
statement timeout, throwaway users left out, and the figures in the report."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from synthetics.cli import main
from synthetics.errors import HistoryError
from synthetics.history.real_users import read_real_users
from synthetics.rules.real_users import evaluate
from synthetics.sandbox.database import Database
from synthetics.sandbox.traffic import clear_seeded, seed_users
from synthetics.status import Status

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def app_db(postgres: Database) -> Iterator[psycopg.Connection]:
    """The embedded Postgres's auth.users, emptied of seeded rows before and after."""
    with postgres.connect() as conn:
        clear_seeded(conn)
        yield conn
        clear_seeded(conn)


def test_the_runbook_metrics_count_real_users_only(app_db, postgres: Database) -> None:
    seeded = seed_users(app_db, now=NOW, days=8, per_hour=6, synthetic_per_hour=3)
    assert seeded.synthetic == 8 * 24 * 3
    figures = read_real_users(postgres.url, NOW)
    # 7 days of 6 real sign-ups an hour; the throwaways (3 an hour) are not among them.
    assert sum(d.registrations for d in figures.days) == 7 * 24 * 6
    # The last day less the grace hour: 23 hours of real sign-ups.
    assert figures.signups == 23 * 6
    # Cross-check against the rows themselves, told apart by their address, not the metadata.
    expected = app_db.execute(
        "select count(*) filter (where email_confirmed_at is not null),"
        " count(*) filter (where last_sign_in_at is null) from auth.users"
        " where email like 'user-%%' and created_at >= %s - interval '24 hours'"
        " and created_at < %s - interval '1 hour'",
        (NOW, NOW),
    ).fetchone()
    assert (figures.confirmed, figures.never_signed_in) == expected
    assert figures.week_before == figures.recent == 24 * 6
    found = {e.rule: e for e in evaluate(figures)}
    assert all(e.real for e in found.values())
    assert found["real_users.registration_drop"].state == "ok"
    assert found["real_users.registration"].value == pytest.approx(expected[0] / (23 * 6))


def test_a_registration_drop_against_the_week_before_warns(app_db, postgres: Database) -> None:
    seed_users(app_db, now=NOW, days=8, per_hour=10, drop_hours=24, drop_share=0.3)
    figures = read_real_users(postgres.url, NOW)
    assert (figures.recent, figures.week_before) == (24 * 3, 24 * 10)
    drop = next(e for e in evaluate(figures) if e.rule == "real_users.registration_drop")
    assert (drop.state, drop.level) == ("firing", Status.WARNING)
    assert "72 registrations in the last 24 h against 240 a week earlier: down 70 %" in drop.message


def test_too_few_real_users_is_insufficient_data(app_db, postgres: Database) -> None:
    seed_users(app_db, now=NOW, days=1, per_hour=0, synthetic_per_hour=4)
    found = evaluate(read_real_users(postgres.url, NOW))
    assert {e.state for e in found} == {"insufficient_data"}
    assert found[0].message == (
        "insufficient data: 0 real sign-ups in 24 h (less the last 1 h), need 20"
    )


def test_a_locked_table_hits_the_statement_timeout_not_a_hang(app_db, postgres: Database) -> None:
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(postgres.url) as conn, conn.transaction():
            conn.execute("lock table auth.users in access exclusive mode")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with pytest.raises(HistoryError, match=r"within 0\.3 s \(statement_timeout\)"):
            read_real_users(postgres.url, NOW, timeout_s=0.3)
    finally:
        release.set()
        holder.join(10)


def test_an_unreachable_database_never_shows_its_url() -> None:
    url = "postgresql://reader:t0p-secret@127.0.0.1:1/postgres"
    with pytest.raises(HistoryError) as caught:
        read_real_users(url, NOW)
    assert "t0p-secret" not in str(caught.value) and "reader" not in str(caught.value)


def test_the_report_shows_the_real_user_figures(
    app_db, postgres: Database, tmp_path: Path, capsys
) -> None:
    seed_users(app_db, now=NOW, days=8, per_hour=6)
    config = tmp_path / "synthetics.toml"
    config.write_text(
        'default_target = "app"\n'
        "[targets.app]\n"
        'url = "http://127.0.0.1:9"\nanon_key = "anon"\ndb_url = "${APP_DB_URL}"\n'
        '[history]\nurl = "sqlite:///history.sqlite"\n'
    )
    import os

    os.environ["APP_DB_URL"] = postgres.url
    try:
        out = tmp_path / "out"
        assert main(["report", "--config", str(config), "--out", str(out),
                     "--at", NOW.isoformat()]) == 0  # fmt: skip
    finally:
        del os.environ["APP_DB_URL"]
    data = json.loads((out / "report.json").read_text())
    assert sum(d["registrations"] for d in data["real_users"]["days"]) == 7 * 24 * 6
    real = [r for r in data["rules"]["current"] if r["real"]]
    assert {r["rule"] for r in real} == {
        "real_users.signin_failure", "real_users.registration", "real_users.registration_drop",
    }  # fmt: skip
    page = (out / "index.html").read_text()
    assert "Real users (the app's own database" in page
    assert postgres.url not in page and postgres.url not in json.dumps(data)
