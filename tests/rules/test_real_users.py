"""The real-user rules (pure): sign-in failure levels, the registration drop, too few users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from synthetics.rules.real_users import RealUsers, evaluate
from synthetics.status import Status

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def figures(signups: int = 100, never: int = 0, recent: int = 100, before: int = 100):
    return RealUsers(NOW, (), signups, signups - never, never, recent, before, timedelta(hours=24))


@pytest.mark.parametrize(
    ("never", "level"),
    [(5, None), (6, Status.INFO), (11, Status.WARNING), (21, Status.CRITICAL)],
)
def test_signin_failure_levels_are_the_auth_failure_levels(never: int, level) -> None:
    found = next(e for e in evaluate(figures(never=never)) if e.rule.endswith("signin_failure"))
    assert found.level == level
    assert found.state == ("firing" if level else "ok")


@pytest.mark.parametrize(("recent", "firing"), [(50, False), (49, True), (120, False)])
def test_a_drop_over_half_against_the_week_before_warns(recent: int, firing: bool) -> None:
    found = next(e for e in evaluate(figures(recent=recent)) if e.rule.endswith("drop"))
    assert (found.state == "firing") is firing
    assert found.level == (Status.WARNING if firing else None)


def test_fewer_than_twenty_users_say_insufficient_data() -> None:
    found = evaluate(figures(signups=19, before=19))
    assert [e.state for e in found] == ["insufficient_data"] * 3
    assert found[2].message == (
        "insufficient data: 19 registrations in the same 24 h a week earlier, need 20"
    )
