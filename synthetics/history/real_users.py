"""The app's own numbers: the runbook's SQL metrics, read from the target's database (`db_url`).

    read_real_users(db_url, now) -> RealUsers

Every query runs in a READ ONLY transaction with a `statement_timeout` (a read-only role is
recommended too), so a slow or locked `auth.users` makes a clear `HistoryError`, never a hang
and never a write. Throwaway users are left out by their metadata
(`raw_user_meta_data->>'synthetic' = 'true'`, what the journey marks them with).

What is read (the runbook's "Authentication Metrics", adapted):
- registrations and confirmations per day for the last 7 days;
- over the last 24 hours, less a grace period (`GRACE`: a user who signed up a minute ago has
  not had the time to confirm or sign in): sign-ups, confirmed, never signed in;
- registrations in the last `span` against the same hours a week earlier (the rate drop).
The URL is a secret: errors name what failed, never the URL or its password.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from synthetics.errors import HistoryError
from synthetics.rules.real_users import GRACE, DayCount, RealUsers

STATEMENT_TIMEOUT_S = 5.0
_HUMAN = "coalesce(raw_user_meta_data->>'synthetic', '') <> 'true'"

_PER_DAY = f"""
select date_trunc('day', created_at at time zone 'UTC')::date as day,
       count(*) as registrations,
       count(*) filter (where email_confirmed_at is not null) as confirmed
from auth.users
where created_at >= %(now)s - interval '7 days' and created_at < %(now)s and {_HUMAN}
group by 1 order by 1
"""
_LAST_DAY = f"""
select count(*),
       count(*) filter (where email_confirmed_at is not null),
       count(*) filter (where last_sign_in_at is null)
from auth.users
where created_at >= %(now)s - interval '24 hours' and created_at < %(now)s - %(grace)s
  and {_HUMAN}
"""
_DROP = f"""
select count(*) filter (where created_at >= %(now)s - %(span)s and created_at < %(now)s),
       count(*) filter (where created_at >= %(now)s - interval '7 days' - %(span)s
                          and created_at < %(now)s - interval '7 days')
from auth.users
where created_at >= %(now)s - interval '7 days' - %(span)s and created_at < %(now)s
  and {_HUMAN}
"""


def read_real_users(
    db_url: str,
    now: datetime,
    *,
    span: timedelta = timedelta(hours=24),
    timeout_s: float = STATEMENT_TIMEOUT_S,
) -> RealUsers:
    """Run the runbook's SQL metrics against `db_url` (read only, with a statement timeout)."""
    params = {"now": now, "grace": GRACE, "span": span}
    try:
        with psycopg.connect(db_url, connect_timeout=10, autocommit=False) as conn:
            conn.read_only = True
            with conn.transaction():
                conn.execute(f"set local statement_timeout = {int(timeout_s * 1000)}")
                days = conn.execute(_PER_DAY, params).fetchall()
                last = conn.execute(_LAST_DAY, params).fetchone()
                drop = conn.execute(_DROP, params).fetchone()
    except psycopg.errors.QueryCanceled:
        raise HistoryError(
            f"the app's database did not answer the runbook's metrics within {timeout_s:g} s "
            "(statement_timeout)"
        ) from None
    except psycopg.Error as exc:
        # The driver's class and SQLSTATE only: its message can carry the host and user.
        state = getattr(exc, "sqlstate", None) or "no SQLSTATE"
        raise HistoryError(
            f"the app's database could not be read: {type(exc).__name__} ({state})"
        ) from None
    assert last is not None
    assert drop is not None
    return RealUsers(
        at=now,
        days=tuple(DayCount(d, int(r), int(c)) for d, r, c in days),
        signups=int(last[0]),
        confirmed=int(last[1]),
        never_signed_in=int(last[2]),
        recent=int(drop[0]),
        week_before=int(drop[1]),
        span=span,
    )
