"""Real-looking user traffic for the sandbox: backdated `auth.users` rows, so the runbook's SQL
metrics (history.real_users) can be rehearsed.

    seed_users(conn, now=..., days=8, per_hour=6, ...) -> Seeded
    clear_seeded(conn) -> int
    python -m synthetics.sandbox.traffic --db-url URL [--days 8] [--per-hour 6] [--drop-hours 24]

Rows are spread evenly over the hours (with a seeded shuffle of minutes), most confirm a few
minutes after signing up and then sign in; `drop_hours` cuts the sign-ups of the newest hours to
`drop_share` of the usual (a registration-rate drop). Throwaway users of a monitor are mixed in,
marked `{"synthetic": true}` as the journey marks them, to prove the metrics leave them out.
Every seeded row carries `raw_app_meta_data.seeded = true`; `clear_seeded` removes exactly those.
Only for the sandbox: never point it at a real project.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

_INSERT = """
insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
    email_confirmed_at, last_sign_in_at, raw_app_meta_data, raw_user_meta_data,
    created_at, updated_at)
values (%s, %s, 'authenticated', 'authenticated', %s, '', %s, %s, %s, %s, %s, %s)
"""
_INSTANCE = uuid.UUID(int=0)


@dataclass(frozen=True)
class Seeded:
    """What was inserted (real users and throwaways, by outcome)."""

    real: int
    confirmed: int
    signed_in: int
    synthetic: int


def seed_users(
    conn: psycopg.Connection[Any],
    *,
    now: datetime,
    days: float = 8,
    per_hour: int = 6,
    confirm_share: float = 0.97,
    signin_share: float = 0.95,
    synthetic_per_hour: int = 2,
    drop_hours: float = 0,
    drop_share: float = 0.3,
    seed: int = 0,
) -> Seeded:
    """Insert backdated users for the `days` before `now`; what went in."""
    chance = random.Random(seed)
    rows = []
    real = confirmed = signed_in = synthetic = 0
    hours = int(days * 24)
    for hour in range(hours, 0, -1):
        start = now - timedelta(hours=hour)
        recent = hour <= drop_hours
        count = round(per_hour * drop_share) if recent else per_hour
        for n in range(count + synthetic_per_hour):
            created = start + timedelta(minutes=chance.uniform(0, 60))
            throwaway = n >= count
            confirms = not throwaway and chance.random() < confirm_share
            signs_in = confirms and chance.random() < signin_share
            confirmed_at = created + timedelta(minutes=chance.uniform(1, 10)) if confirms else None
            signed_at = (
                confirmed_at + timedelta(minutes=chance.uniform(0, 5))
                if signs_in and confirmed_at
                else None
            )
            # A user cannot have confirmed or signed in after `now`.
            confirmed_at = confirmed_at if confirmed_at and confirmed_at <= now else None
            signed_at = signed_at if signed_at and signed_at <= now else None
            ident = uuid.UUID(int=chance.getrandbits(128), version=4)
            kind = "synthetic" if throwaway else "user"
            rows.append(
                (
                    _INSTANCE,
                    ident,
                    f"{kind}-{ident.hex[:10]}@example.test",
                    confirmed_at,
                    signed_at,
                    json.dumps({"provider": "email", "seeded": True}),
                    json.dumps({"synthetic": True} if throwaway else {}),
                    created,
                    created,
                )
            )
            if throwaway:
                synthetic += 1
            else:
                real += 1
                confirmed += confirmed_at is not None
                signed_in += signed_at is not None
    with conn.cursor() as cursor:
        cursor.executemany(_INSERT, rows)
    return Seeded(real, confirmed, signed_in, synthetic)


def clear_seeded(conn: psycopg.Connection[Any]) -> int:
    """Delete the seeded rows (and only those); how many."""
    done = conn.execute("delete from auth.users where raw_app_meta_data->>'seeded' = 'true'")
    return done.rowcount


def main(argv: list[str] | None = None) -> int:
    """Seed the sandbox's database (`synthetics sandbox --json` prints its db_url)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db-url", required=True, help="the sandbox's db_url")
    parser.add_argument("--days", type=float, default=8)
    parser.add_argument("--per-hour", type=int, default=6)
    parser.add_argument("--drop-hours", type=float, default=0, help="newest hours with fewer")
    parser.add_argument("--clear", action="store_true", help="delete seeded rows first")
    args = parser.parse_args(argv)
    with psycopg.connect(args.db_url, autocommit=True) as conn:
        if args.clear:
            print(f"deleted {clear_seeded(conn)} seeded user(s)")
        done = seed_users(
            conn,
            now=datetime.now(UTC),
            days=args.days,
            per_hour=args.per_hour,
            drop_hours=args.drop_hours,
        )
    print(
        f"seeded {done.real} real-looking users ({done.confirmed} confirmed, {done.signed_in} "
        f"signed in) and {done.synthetic} throwaway users"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
