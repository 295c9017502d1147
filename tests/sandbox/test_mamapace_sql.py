"""Mamapace's own SQL, from the mirror of its repository, loaded into the sandbox.

The repository has no licence, so none of its SQL is committed here: the test reads the mirror
(present on the project's machines and in CI) and skips, saying so, where it is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from synthetics.errors import MigrationError
from synthetics.sandbox.database import Database
from synthetics.sandbox.migrations import MAMAPACE_CHECKOUT_ORDER, resolve
from tests.sandbox.test_migrations import MACHINE, needs_machine_postgres

CLI = (sys.executable, "-m", "synthetics.cli")
MIRROR = Path("/work/.mirror/kkk9131+mamapace/repo")
MAMAPACE_ORDER = list(MAMAPACE_CHECKOUT_ORDER)
#: What real PostgreSQL rejects in this SQL, and why (SQLSTATE → the reason it is expected).
EXPECTED = {
    "42601": "syntax error: CREATE POLICY has no IF NOT EXISTS",
    "42P13": "CREATE OR REPLACE of a v2 function with another result row (20_add_attachments)",
    "42P01": "user_profiles_public: a view no file creates (made in the dashboard)",
    "42P17": "an index on posted_at::date: timestamptz → date is not immutable",
}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mirror's `supabase/` folder at HEAD, unpacked into a temporary directory."""
    if not (MIRROR / "HEAD").exists():
        pytest.skip(f"the Mamapace mirror is not on this machine ({MIRROR})")
    archive = subprocess.run(
        ["git", "--git-dir", str(MIRROR), "archive", "--format=tar", "HEAD", "supabase"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    root = tmp_path_factory.mktemp("mamapace")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return root


@needs_machine_postgres
def test_mamapace_loads_except_what_postgres_itself_rejects(checkout: Path) -> None:
    migrations = resolve(MAMAPACE_ORDER, cwd=checkout, continue_on_error=True)
    assert len(migrations.files) == 38
    assert MACHINE is not None
    database = Database(install=MACHINE, migrations=migrations)
    database.start()
    try:
        report = database.load_report
        assert report is not None
        unexpected = [str(f) for f in report.failures if f.sqlstate not in EXPECTED]
        assert unexpected == []
        by_file = {(f.file, f.sqlstate) for f in report.failures}
        assert ("supabase/sql/06_posts.sql", "42601") in by_file
        assert ("supabase/sql/20_add_attachments.sql", "42P13") in by_file
        with database.connect() as conn:
            v2 = conn.execute(
                "select count(distinct proname) from pg_proc where proname like '%\\_v2'"
            ).fetchone()
            assert v2 is not None and v2[0] >= 20
            published = conn.execute(
                "select count(*) from pg_publication_tables where pubname = 'supabase_realtime'"
            ).fetchone()
            assert published == (9,)
            buckets = conn.execute("select id from storage.buckets order by id").fetchall()
            assert buckets == [("avatars",), ("chat-images",), ("post-images",), ("room-images",)]
            assert conn.execute(
                "select count(*) from pg_policies where schemaname = 'storage'"
            ).fetchone() == (3,)
            assert conn.execute("select to_regclass('public.user_subscriptions')").fetchone() == (
                "user_subscriptions",
            )
    finally:
        database.stop()


@needs_machine_postgres
def test_without_continue_on_error_the_load_stops_at_the_first_syntax_error(
    checkout: Path,
) -> None:
    assert MACHINE is not None
    database = Database(install=MACHINE, migrations=resolve(MAMAPACE_ORDER, cwd=checkout))
    with pytest.raises(MigrationError) as error:
        database.start()
    [failure] = error.value.failures
    assert (failure.file, failure.line, failure.sqlstate) == (
        "supabase/sql/06_posts.sql",
        40,
        "42601",
    )
    assert failure.statement.startswith("create policy if not exists posts_select_authenticated")
    assert "Nothing of supabase/sql/06_posts.sql was applied." in str(error.value)


@needs_machine_postgres
def test_a_run_on_mamapace_sql_finds_the_anon_exposure(checkout: Path, tmp_path: Path) -> None:
    report_dir = tmp_path / "reports"
    paths = [str(checkout / p) for p in MAMAPACE_ORDER]
    result = subprocess.run(
        [
            *CLI,
            "run",
            "--report-dir",
            str(report_dir),
            "--only",
            "security",
            "--continue-on-error",
            "--migrations",
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).parents[2],
    )
    output = result.stdout + result.stderr
    assert "migrations: 38 files" in output, output
    assert "FAILED " in output and "06_posts.sql:40" in output
    results = json.loads((report_dir / "results.json").read_text())
    anon = next(c for c in results["checks"] if c["id"] == "security.anon_rpc")
    # The app grants its SECURITY DEFINER v2 functions to authenticated and never revokes
    # PUBLIC's EXECUTE (reference/mamapace.md): the real schema is open to the anon key.
    assert anon["status"] == "critical", anon
    assert result.returncode == 2


def test_migrations_only_apply_to_the_sandbox(tmp_path: Path) -> None:
    sql = tmp_path / "app.sql"
    sql.write_text("select 1;")
    config = tmp_path / "synthetics.toml"
    config.write_text(
        'default_target = "prod"\n[targets.prod]\nurl = "https://example.supabase.co"\n'
        'anon_key = "x"\n'
    )
    result = subprocess.run(
        [
            *CLI,
            "run",
            "--config",
            str(config),
            "--report-dir",
            str(tmp_path / "r"),
            "--migrations",
            str(sql),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 3, result.stderr
    assert "--migrations: the sandbox's database options do not apply to target 'prod'" in (
        result.stderr
    )
