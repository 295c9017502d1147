"""Next migration files (`--next`) on top of the schema: applied after it, kept through the start,
strict, cached, and never undone by a fault sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetics.errors import ConfigError, MigrationError
from synthetics.sandbox.database import Database, install_for, template_key
from synthetics.sandbox.migrations import resolve
from synthetics.sandbox.postgres import embedded, installed
from synthetics.sandbox.server import Sandbox, settings_for_port
from synthetics.sandbox.settings import SandboxSettings

GRANT = "grant execute on function public.get_user_post_count_v2() to anon;\n"
CAN_EXECUTE = "select has_function_privilege('anon', 'public.get_user_post_count_v2()', 'execute')"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def anon_can_execute(sandbox: Sandbox) -> bool:
    with sandbox.database.connect() as conn:
        row = conn.execute(CAN_EXECUTE).fetchone()
    assert row is not None
    return bool(row[0])


def test_a_next_file_on_the_bundled_schema_is_what_the_sandbox_serves(tmp_path: Path) -> None:
    following = resolve([write(tmp_path / "grant.sql", GRANT)], cwd=tmp_path, key="--next")
    settings = SandboxSettings(next_migrations=following)
    with Sandbox(settings_for_port(settings, 0)) as sandbox:
        # The start did not put the bundled hardening back over the file's grant.
        assert anon_can_execute(sandbox)
        assert sandbox.next_report is not None
        assert (sandbox.next_report.files, sandbox.next_report.statements) == (1, 1)
        assert sandbox.load_report is None  # the schema itself is the bundled one
    with Sandbox(settings_for_port(SandboxSettings(), 0)) as bundled:
        assert not anon_can_execute(bundled)


def test_schema_faults_are_refused_with_next_files(tmp_path: Path) -> None:
    following = resolve([write(tmp_path / "grant.sql", GRANT)], cwd=tmp_path, key="--next")
    settings = settings_for_port(SandboxSettings(next_migrations=following), 0)
    with pytest.raises(ConfigError, match=r"^--fault: fault security\.anon_grant .* --next"):
        Sandbox(settings, faults=["security.anon_grant"])
    Sandbox(settings, faults=["email.delay=1"])  # the others still apply


def test_a_failing_next_file_stops_the_load_and_names_where(tmp_path: Path) -> None:
    good = write(
        tmp_path / "1_index.sql", "create index posts_created on public.posts (created_at);"
    )
    bad = write(
        tmp_path / "2_broken.sql",
        "comment on table public.posts is 'feed';\n\nalter table public.posts\n  add column;\n",
    )
    following = resolve([good, bad], cwd=tmp_path, key="--next")
    database = Database(install=embedded(), next_migrations=following, template_cache=tmp_path)
    with pytest.raises(MigrationError) as error:
        database.prepare()
    message = str(error.value)
    assert message.startswith("2_broken.sql:4: `alter table public.posts add column` failed: ")
    assert "syntax error" in message and "Nothing of 2_broken.sql was applied." in message
    assert not list(tmp_path.glob("pg-app-*"))  # no template of a schema that does not load


def test_prepare_builds_the_template_the_next_start_copies(tmp_path: Path) -> None:
    following = resolve([write(tmp_path / "grant.sql", GRANT)], cwd=tmp_path, key="--next")
    install = embedded()
    cache = tmp_path / "cache"
    first = Database(install=install, next_migrations=following, template_cache=cache)
    first.prepare()
    assert first.next_report is not None and not first.next_report.cached
    key = template_key(install, None, following)
    assert key.startswith("pg-app-") and key != template_key(install)
    assert (cache / key / "PG_VERSION").exists()
    second = Database(install=install, next_migrations=following, template_cache=cache)
    second.start()
    try:
        assert second.next_report is not None and second.next_report.cached
        with second.connect() as conn:
            row = conn.execute(CAN_EXECUTE).fetchone()
        assert row == (True,)
    finally:
        second.stop()


def test_the_build_for_next_files_has_what_they_create(tmp_path: Path) -> None:
    following = resolve(
        [write(tmp_path / "hooks.sql", "select 1;\ncreate extension if not exists pg_net;")],
        cwd=tmp_path,
        key="--next",
    )
    if not all(i.missing(["pg_net"]) for i in [embedded(), *installed()]):
        pytest.skip("pg_net is installed here")
    with pytest.raises(ConfigError, match=r"^--next: hooks\.sql:2 creates the extension pg_net"):
        install_for(None, None, following)
    # Without next files the bundled schema keeps the embedded build.
    assert install_for(None, None).embedded
