"""`synthetics rehearse` as CI runs it: real processes, two real sandbox runs, the diff, the exit
status, rehearse.json, rehearse.html and the job summary."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from synthetics.sandbox.database import schema_sql
from synthetics.sandbox.postgres import installed

GRANT = """-- 20250301000000_public_post_count.sql: the count is public now
grant execute on function public.get_user_post_count_v2() to anon;
"""
HARMLESS = """-- 20250301000000_feed_index.sql
create index if not exists posts_user_created on public.posts (user_id, created_at desc);
comment on table public.posts is 'Posts of the home feed';
"""
BROKEN = """-- 20250301000000_broken.sql
comment on table public.posts is 'Posts of the home feed';

alter table public.posts
  add column;
"""
ROOT = Path(__file__).parents[1]
#: Machine PostgreSQL with the platform extensions (the app-schema base needs one).
MACHINE = next((i for i in installed() if not i.missing(["pgcrypto", "uuid-ossp"])), None)


def rehearse(
    tmp_path: Path, *args: str, timeout: float = 300, cwd: Path | None = None, actions: bool = False
) -> subprocess.CompletedProcess[str]:
    """`synthetics rehearse ARGS --report-dir tmp/out`, with a job summary file as in a GitHub
    job (and `GITHUB_ACTIONS=true` with `actions`: annotations)."""
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    env.pop("GITHUB_ACTIONS", None)
    if actions:
        env["GITHUB_ACTIONS"] = "true"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, "-m", "synthetics.cli", "rehearse", *args]
    command += ["--report-dir", str(tmp_path / "out")]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )


def doc(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "out" / "rehearse.json").read_text())
    return data


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_grant_to_anon_is_the_only_change_and_fails(tmp_path: Path) -> None:
    migration = write(tmp_path / "20250301000000_public_post_count.sql", GRANT)
    done = rehearse(tmp_path, "--next", str(migration))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    worse = [line for line in out.splitlines() if line.startswith("WORSE")]
    assert worse == [
        "WORSE   security.anon_rpc: ok → critical: 1 new function executable by anon: "
        "get_user_post_count_v2",
        "WORSE   security.advisor: ok → critical: 1 new advisor finding: "
        "anon_security_definer: get_user_post_count_v2()",
    ]
    assert "          + get_user_post_count_v2 answered 200" in out.splitlines()
    data = doc(tmp_path)
    assert data["schema"] == "synthetics/rehearse@1"
    assert (data["verdict"], data["exit_code"], data["worse"]) == ("worse", 1, 2)
    assert data["base"]["schema"] == "bundled" and data["next"] == [str(migration)]
    # Every change there is names that one function, and only as new.
    assert [c["check"] for c in data["changes"]] == ["security.anon_rpc", "security.advisor"]
    for change in data["changes"]:
        assert change["gone"] == {}
        new_lines = [line for lines in change["new"].values() for line in lines]
        assert len(new_lines) == 1 and "get_user_post_count_v2" in new_lines[0]
    assert data["before"]["status"] == "ok" and data["after"]["status"] == "critical"
    assert re.match(r"\d+ checks unchanged \(\d+ ok, \d+ skipped\)$", data["unchanged"]["summary"])
    # Both runs are whole runs with their own reports; the rehearsal wrote its page and summary.
    for side in ("before", "after"):
        assert (tmp_path / "out" / side / "results.json").is_file()
        assert (tmp_path / "out" / side / "report.html").is_file()
    page = (tmp_path / "out" / "rehearse.html").read_text()
    assert "security.anon_rpc" in page and "get_user_post_count_v2 answered 200" in page
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## synthetics rehearse: WORSE (exit 1)")
    assert summary.count("## synthetics") == 1  # the two runs did not write summaries of their own
    assert "get\\_user\\_post\\_count\\_v2" in summary


def test_a_harmless_migration_passes(tmp_path: Path) -> None:
    migration = write(tmp_path / "20250301000000_feed_index.sql", HARMLESS)
    done = rehearse(tmp_path, "--next", str(migration))
    assert done.returncode == 0, done.stdout + done.stderr
    data = doc(tmp_path)
    assert data["verdict"] == "not worse" and data["worse"] == 0
    assert all(change["verdict"] == "timing" for change in data["changes"]), data["changes"]
    assert "rehearse: nothing got worse" in done.stdout
    assert "rehearse: the next files: 1 files, 2 statements" in done.stdout


def test_a_syntax_error_is_exit_3_naming_the_file_and_line(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app / "supabase" / "migrations" / "20250301000000_broken.sql", BROKEN)
    name = "supabase/migrations/20250301000000_broken.sql"
    done = rehearse(tmp_path, "--next", name, cwd=app, actions=True)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "rehearse: a next file does not apply: " in done.stderr
    assert f"{name}:5: `alter table public.posts add column` failed: syntax error" in done.stderr
    assert "(SQLSTATE 42601)" in done.stderr
    # In Actions the error sits on the file's line in the pull request, and the summary says why.
    annotation = next(line for line in done.stdout.splitlines() if line.startswith("::error "))
    assert f"file={name.replace(':', '%3A')},line=5::" in annotation
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## synthetics rehearse: a next file does not apply (exit 3)")
    assert "20250301000000\\_broken\\.sql\\:5" in summary
    # Nothing ran: the runs only start once both schemas load.
    assert not (app / "reports").exists() and not (tmp_path / "out" / "before").exists()


def test_a_renamed_parameter_names_what_the_app_still_sends(tmp_path: Path) -> None:
    bundled = schema_sql("mamapace.sql")
    start = bundled.index("create or replace function public.get_home_feed_v2(")
    body = bundled[start : bundled.index("end; $$;", start) + len("end; $$;")]
    migration = write(
        tmp_path / "20250301000000_feed_cursor.sql",
        "drop function public.get_home_feed_v2(integer, timestamptz);\n"
        + body.replace("p_offset_time", "p_before")
        + "\nalter function public.get_home_feed_v2(integer, timestamptz)"
        " set search_path = public, extensions, pg_temp;\n"
        "revoke all on function public.get_home_feed_v2(integer, timestamptz) from public;\n"
        "grant execute on function public.get_home_feed_v2(integer, timestamptz)"
        " to authenticated;\n",
    )
    done = rehearse(tmp_path, "--next", str(migration), "--only", "rpc")
    assert done.returncode == 1, done.stdout + done.stderr
    changes = {c["check"]: c for c in doc(tmp_path)["changes"]}
    feed = changes["rpc.get_home_feed_v2"]
    assert (feed["before"], feed["after"], feed["verdict"]) == ("ok", "critical", "worse")
    assert feed["summary"] == (
        "PGRST202 (`p_offset_time` no longer exists: get_home_feed_v2 now takes "
        "(p_limit, p_before); the app sends it)"
    )
    assert "PGRST202" in feed["message_after"]
    assert f"rpc.get_home_feed_v2: ok → critical: {feed['summary']}" in done.stdout


@pytest.mark.skipif(MACHINE is None, reason="no PostgreSQL with pgcrypto and uuid-ossp")
def test_the_apps_own_sql_as_base_with_the_new_file_left_out_of_it(tmp_path: Path) -> None:
    supabase = tmp_path / "app" / "supabase"
    write(
        supabase / "migrations" / "20240101000000_hello.sql",
        "create function public.hello() returns text language sql as $$ select 'hi' $$;\n"
        "revoke all on function public.hello() from public, anon;\n"
        "grant execute on function public.hello() to authenticated;\n",
    )
    new = write(
        supabase / "migrations" / "20250301000000_open_hello.sql",
        "grant execute on function public.hello() to anon;\n",
    )
    done = rehearse(
        tmp_path, "--migrations", str(supabase), "--next", str(new), "--only", "security"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    data = doc(tmp_path)
    assert data["base"]["schema"] == "migrations"
    assert [Path(f).name for f in data["base"]["files"]] == ["20240101000000_hello.sql"]
    assert [Path(f).name for f in data["base"]["dropped"]] == ["20250301000000_open_hello.sql"]
    worse = [c for c in data["changes"] if c["verdict"] == "worse"]
    assert [c["check"] for c in worse] == ["security.anon_rpc"]
    assert worse[0]["summary"] == "1 new function executable by anon: hello"
    assert "it is a next file" in done.stdout


def test_a_stop_is_passed_on_and_the_rehearsal_did_not_finish(tmp_path: Path) -> None:
    migration = write(tmp_path / "20250301000000_feed_index.sql", HARMLESS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    command = [sys.executable, "-m", "synthetics.cli", "rehearse", "--next", str(migration)]
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*command, "--report-dir", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # Bounded polling for the before run's own database: the run is well under way then.
        deadline = time.monotonic() + 120
        run, servers = None, []
        while not servers:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the before run's database never started"
            runs = psutil.Process(process.pid).children()
            run = runs[0] if runs else None
            if run is not None:
                mark = f"synthetics-pg-{run.pid}-"
                servers = [
                    p
                    for p in psutil.process_iter(["name", "cmdline"])
                    if p.info["name"] == "postgres" and mark in " ".join(p.info["cmdline"] or [])
                ]
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 4, stdout + stderr
    assert "rehearse: the before run did not finish" in stderr
    # The run cleaned up under the signal: its database is gone, and no verdict was written.
    _, alive = psutil.wait_procs(servers, timeout=30)
    assert not alive
    assert not (out / "rehearse.json").exists() and not (out / "after").exists()


def test_run_with_a_next_file_the_build_cannot_load_is_exit_3(tmp_path: Path) -> None:
    from synthetics.sandbox.postgres import embedded

    if not all(i.missing(["pg_net"]) for i in [embedded(), *installed()]):
        pytest.skip("pg_net is installed here")
    hooks = write(tmp_path / "hooks.sql", "select 1;\ncreate extension if not exists pg_net;\n")
    done = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", "--next", str(hooks),
         "--report-dir", str(tmp_path / "out"), "--no-history"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"--next: {hooks}:2 creates the extension pg_net" in done.stderr
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "the following arguments are required: --next"),
        (("--next", "nowhere/*.sql"), "--next: 'nowhere/*.sql' matches no file"),
        (("--next", "{grant}", "--continue-on-error"), "--continue-on-error: only applies"),
        (
            ("--next", "{grant}", "--config", "{config}", "--target", "real"),
            "--target: rehearse runs on the sandbox; 'real' is a real project",
        ),
        (("--next", "{grant}", "--only", "nonsense"), "--only: "),
    ],
)
def test_usage_errors_are_exit_3_before_anything_starts(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    grant = write(tmp_path / "grant.sql", GRANT)
    config = write(
        tmp_path / "synthetics.toml",
        '[targets.real]\nurl = "https://abc.supabase.co"\nanon_key = "anon"\n',
    )
    args = tuple(a.replace("{grant}", str(grant)).replace("{config}", str(config)) for a in args)
    done = rehearse(tmp_path, *args, timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr
    assert expected in done.stderr
    assert not (tmp_path / "out" / "before").exists()
