"""The 24-hour stability verdict and the 7-day "migration done", with gaps as unknown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from synthetics.rules.metrics import points
from synthetics.rules.policy import Policy
from synthetics.rules.stability import day, week
from synthetics.rules.window import Series
from tests.rules.runs import EMAIL_LOST, EXPOSED, SIGNUP_BROKEN, at, run

# Runs every hour; a verdict needs 80 % of the 24 expected.
POLICY = Policy(window=timedelta(hours=3), min_runs=3, expected_interval=timedelta(hours=1))
HOUR = 60


def hourly(hours: int, bad: dict[int, dict[str, tuple[Any, ...]]] | None = None) -> Series:
    """A run at the start of every hour for `hours` hours, some of them broken."""
    bad = bad or {}
    return Series(points(run(h * HOUR, bad.get(h)) for h in range(hours)))


def test_a_clean_covered_day_is_stable() -> None:
    verdict = day(hourly(48), at(47 * HOUR), POLICY)
    assert verdict.verdict == "stable"
    assert verdict.runs == 24 and verdict.expected == 24
    assert verdict.figures["registration"] == 1.0


def test_too_few_runs_make_the_day_unknown_and_say_why() -> None:
    runs = Series(points(run(h * HOUR) for h in range(0, 48, 2)))  # every other hour
    verdict = day(runs, at(47 * HOUR), POLICY)
    assert verdict.verdict == "unknown"
    assert verdict.reasons[0] == "12 runs of 24 expected (50 %); a verdict needs 80 %"


def test_a_day_without_any_run_is_unknown_not_stable() -> None:
    verdict = day(hourly(24), at(72 * HOUR), POLICY)
    assert verdict.verdict == "unknown" and verdict.runs == 0


def test_one_failed_registration_in_a_day_breaks_the_95_percent() -> None:
    # 1 of 24 lost: 95.8 % registration, 95.8 % email: stable; 2 lost: 91.7 %, not stable.
    assert day(hourly(24, {5: EMAIL_LOST}), at(23 * HOUR), POLICY).verdict == "stable"
    verdict = day(hourly(24, {5: EMAIL_LOST, 6: EMAIL_LOST}), at(23 * HOUR), POLICY)
    assert verdict.verdict == "not_stable"
    assert "registration success 92 %, needs > 95 %" in verdict.reasons


def test_a_rollback_during_the_day_makes_it_not_stable() -> None:
    verdict = day(hourly(24, {12: EXPOSED}), at(23 * HOUR), POLICY)
    assert verdict.verdict == "not_stable"
    assert any(r.startswith("rollback triggered (Emergency Procedures") for r in verdict.reasons)


def test_slow_rpcs_make_the_day_not_stable() -> None:
    slow = {c: ("info", "slow", None, 700) for c in ("rpc.get_my_profile_v2", "rpc.create_post_v2")}
    verdict = day(hourly(24, dict.fromkeys(range(24), slow)), at(23 * HOUR), POLICY)
    assert verdict.verdict == "not_stable"
    assert "average response time 700 ms, needs < 500 ms" in verdict.reasons


def test_a_figure_without_samples_is_unknown() -> None:
    skipped = {"email.delivery": ("skipped", None, None)}
    verdict = day(hourly(24, dict.fromkeys(range(24), skipped)), at(23 * HOUR), POLICY)
    assert verdict.verdict == "unknown"
    assert "no email delivery samples" in verdict.reasons


def test_the_verdict_turns_stable_once_the_bad_stretch_leaves_the_day() -> None:
    series = hourly(60, {h: SIGNUP_BROKEN for h in range(10, 14)})
    assert day(series, at(30 * HOUR), POLICY).verdict == "not_stable"
    assert day(series, at(38 * HOUR), POLICY).verdict == "stable"


def test_seven_stable_days_are_done() -> None:
    found = week(hourly(24 * 8), at((24 * 8 - 1) * HOUR), POLICY)
    assert found.verdict == "stable" and found.stable_days == 7


def test_a_missing_day_makes_the_week_unknown() -> None:
    runs = [run(h * HOUR) for h in range(24 * 8) if not 24 * 3 <= h < 24 * 4]
    found = week(Series(points(runs)), at((24 * 8 - 1) * HOUR), POLICY)
    assert found.verdict == "unknown"
    assert found.reasons[0] == "6 of 7 days stable; the others are unknown"


def test_a_bad_day_makes_the_week_not_stable() -> None:
    found = week(hourly(24 * 8, {24 * 3: EMAIL_LOST, 24 * 3 + 1: EMAIL_LOST}),
                 at((24 * 8 - 1) * HOUR), POLICY)  # fmt: skip
    assert found.verdict == "not_stable"
    assert found.stable_days == 4


def test_real_users_who_do_not_confirm_make_the_day_not_stable() -> None:
    series = hourly(24)
    assert day(series, at(23 * HOUR), POLICY, real_registration=0.97).verdict == "stable"
    verdict = day(series, at(23 * HOUR), POLICY, real_registration=0.80)
    assert verdict.verdict == "not_stable"
    assert "registration success (real users) 80 %, needs > 95 %" in verdict.reasons
