"""The app's own numbers (real users, from its database) judged by the runbook (pure).

- `real_users.signin_failure`: sign-ups of the last 24 h that never signed in (the runbook's
  "Authentication Error Rate"): info > 5 %, warning > 10 %, critical > 20 %.
- `real_users.registration`: sign-ups of the last 24 h that confirmed their email (its
  "Registration Success Rate"): no alert level in the runbook; the verdict needs > 95 %.
- `real_users.registration_drop`: registrations in the last 24 h against the same hours a week
  earlier: warning when down > 50 %.

Users younger than `GRACE` are not judged (they may still confirm). A figure needs at least
`min_users` users behind it; with fewer it says "insufficient data", never ok nor firing. These
evaluations carry `real=True` and sit next to the synthetic rules in the report and the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from synthetics.rules.policy import duration_text, percent, plural
from synthetics.rules.rates import FIRING, INSUFFICIENT, OK, Evaluation
from synthetics.status import Status

#: Users younger than this are not yet judged (they may still confirm or sign in).
GRACE = timedelta(hours=1)
#: Users a real-user figure needs behind it.
MIN_USERS = 20
REGISTRATION_STABLE = 0.95


@dataclass(frozen=True)
class DayCount:
    """Registrations of real users on one (UTC) day."""

    day: date
    registrations: int
    confirmed: int


@dataclass(frozen=True)
class RealUsers:
    """The app's own figures at `at` (real users only)."""

    at: datetime
    days: tuple[DayCount, ...]
    #: Over (at - 24 h, at - GRACE): sign-ups, of them confirmed, of them never signed in.
    signups: int
    confirmed: int
    never_signed_in: int
    #: Registrations in the last `span`, and in the same hours a week earlier.
    recent: int
    week_before: int
    span: timedelta

    def to_json(self) -> dict[str, object]:
        """The report's `real_users` object."""
        return {
            "at": self.at.isoformat(),
            "days": [
                {
                    "day": d.day.isoformat(),
                    "registrations": d.registrations,
                    "confirmed": d.confirmed,
                }
                for d in self.days
            ],
            "last_24h": {
                "signups": self.signups,
                "confirmed": self.confirmed,
                "never_signed_in": self.never_signed_in,
                "grace_s": GRACE.total_seconds(),
            },
            "registrations": {
                "recent": self.recent,
                "week_before": self.week_before,
                "span_s": self.span.total_seconds(),
            },
        }


def _insufficient(
    rule: str, title: str, at: datetime, users: int, noun: str, where: str, need: int
) -> Evaluation:
    return Evaluation(
        rule, title, at, INSUFFICIENT, runs=users, real=True,
        message=f"insufficient data: {plural(users, noun)} {where}, need {need}",
    )  # fmt: skip


def evaluate(figures: RealUsers, min_users: int = MIN_USERS) -> list[Evaluation]:
    """The real-user rules at `figures.at`."""
    at, found = figures.at, []
    window = f"in 24 h (less the last {duration_text(GRACE)})"

    title = "sign-in failure rate (real users)"
    if figures.signups < min_users:
        found.append(_insufficient("real_users.signin_failure", title, at, figures.signups,
                                   "real sign-up", window, min_users))  # fmt: skip
    else:
        rate = figures.never_signed_in / figures.signups
        level = next(
            (s for s, t in ((Status.CRITICAL, 0.20), (Status.WARNING, 0.10), (Status.INFO, 0.05))
             if rate > t),
            None,
        )  # fmt: skip
        message = (
            f"{figures.never_signed_in} of {figures.signups} real sign-ups {window} never signed "
            f"in: {percent(rate)}" + (f": {level.value}" if level else "")
        )
        found.append(Evaluation("real_users.signin_failure", title, at,
                                FIRING if level else OK, level, rate, figures.signups, message,
                                real=True))  # fmt: skip

    title = "registration success rate (real users)"
    if figures.signups < min_users:
        found.append(_insufficient("real_users.registration", title, at, figures.signups,
                                   "real sign-up", window, min_users))  # fmt: skip
    else:
        rate = figures.confirmed / figures.signups
        message = f"{figures.confirmed} of {figures.signups} real sign-ups {window} confirmed: " \
            f"{percent(rate)}"  # fmt: skip
        found.append(Evaluation("real_users.registration", title, at, OK, None, rate,
                                figures.signups, message, real=True))  # fmt: skip

    title = "registration rate drop (real users)"
    span = duration_text(figures.span)
    if figures.week_before < min_users:
        found.append(_insufficient("real_users.registration_drop", title, at, figures.week_before,
                                   "registration", f"in the same {span} a week earlier",
                                   min_users))  # fmt: skip
    else:
        drop = 1 - figures.recent / figures.week_before
        firing = drop > 0.50
        message = (
            f"{figures.recent} registrations in the last {span} against {figures.week_before} "
            f"a week earlier: "
            + (f"down {percent(drop)}" if drop > 0 else "no drop")
            + (": warning" if firing else "")
        )
        found.append(Evaluation("real_users.registration_drop", title, at,
                                FIRING if firing else OK, Status.WARNING if firing else None,
                                drop, figures.week_before, message, real=True))  # fmt: skip
    return found


def registration_rate(figures: RealUsers, min_users: int = MIN_USERS) -> float | None:
    """The real-user registration success rate the verdict reads (None: too few users)."""
    if figures.signups < min_users:
        return None
    return figures.confirmed / figures.signups
