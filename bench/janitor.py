"""Janitor benchmark: how long `synthetics janitor` takes on a project with many users.

    python bench/janitor.py [--real N] [--leftovers N] [--orphans N]

A sandbox (as somebody else's project) is filled through SQL with N real users, N throwaway
users a killed run left (their profiles come from the app's trigger) and N profiles whose auth
user is gone; then the janitor runs a dry run and a real run. Printed: users per second listed,
seconds per deleted user, and the requests the run made.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from synthetics.cli import build_parser
from synthetics.commands.janitor import run_janitor
from synthetics.sandbox.server import Sandbox, settings_for_port
from synthetics.sandbox.settings import SandboxSettings
from synthetics.users import new_run_id

CONFIG = """
default_target = "local"
[targets.local]
url = "${LOCAL_URL}"
anon_key = "${LOCAL_ANON_KEY}"
service_role_key = "${LOCAL_SERVICE_ROLE_KEY}"
[targets.local.inbox]
provider = "mailpit"
url = "${LOCAL_INBOX_URL}"
address_template = "synthetic+{tag}@mamapace-synthetics.dev"
"""
INSERT = """
insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data,
                        raw_user_meta_data, created_at, updated_at, email_confirmed_at)
values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated', 'authenticated', %s,
        '{"provider": "email", "providers": ["email"]}', %s, %s, %s, %s)
"""


def fill(db_url: str, real: int, leftovers: int, orphans: int) -> None:
    """Users through SQL (the admin API hashes a password per user: too slow for thousands)."""
    old = datetime.now(UTC) - timedelta(hours=3)
    rows = []
    for n in range(real):
        rows.append((str(uuid.uuid4()), f"mother{n}@mamapace-synthetics.dev", "{}", old, old, old))
    for n in range(leftovers + orphans):
        run = new_run_id(old - timedelta(seconds=n))
        meta = f'{{"synthetic": true, "synthetics_run_id": "{run}"}}'
        email = f"synthetic+{run}-primary@mamapace-synthetics.dev"
        rows.append((str(uuid.uuid4()), email, meta, old, old, old))
    with psycopg.connect(db_url, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(INSERT, rows)
        # The last `orphans` throwaways lose their auth user and keep their profile.
        doomed = [r[0] for r in rows[real + leftovers :]]
        conn.execute("delete from auth.users where id = any(%s::uuid[])", (doomed,))


def main() -> None:
    """Fill, then time a dry run and a real run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real", type=int, default=2000)
    parser.add_argument("--leftovers", type=int, default=100)
    parser.add_argument("--orphans", type=int, default=50)
    options = parser.parse_args()
    with Sandbox(settings_for_port(SandboxSettings(), 0)) as sandbox:
        info = sandbox.info
        os.environ.update(
            LOCAL_URL=info.api_url,
            LOCAL_ANON_KEY=info.anon_key,
            LOCAL_SERVICE_ROLE_KEY=info.service_role_key,
            LOCAL_INBOX_URL=info.inbox_url,
        )
        fill(info.db_url, options.real, options.leftovers, options.orphans)
        config = Path(tempfile.mkdtemp()) / "synthetics.toml"
        config.write_text(CONFIG)
        users = options.real + options.leftovers
        for dry in (True, False):
            argv = ["janitor", "--config", str(config)] + (["--dry-run"] if dry else [])
            args = build_parser().parse_args(argv)
            out = io.StringIO()
            started = time.perf_counter()
            code = run_janitor(args, out=out)
            took = time.perf_counter() - started
            summary = out.getvalue().strip().splitlines()[-1]
            print(f"{'dry run' if dry else 'real run'}: exit {code} in {took:.2f} s — {summary}")
            if dry:
                print(f"  listing {users} users and searching profiles: {users / took:.0f} users/s")
            else:
                gone = options.leftovers + options.orphans
                print(f"  {took / max(gone, 1) * 1000:.1f} ms per deleted user or profile")


if __name__ == "__main__":
    main()
