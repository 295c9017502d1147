"""The runbook's rate rules on a fake clock: levels, minimum runs, series, firing and clearing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from synthetics.results import RunResult
from synthetics.rules.metrics import points
from synthetics.rules.policy import Policy
from synthetics.rules.rates import FIRING, INSUFFICIENT, OK, incidents, rules, timeline
from synthetics.rules.window import Series
from synthetics.status import Status
from tests.rules.runs import EMAIL_LOST, SIGNUP_BROKEN, at, run

POLICY = Policy(window=timedelta(minutes=15), min_runs=3)
RULES = {r.id: r for r in rules()}


def series(runs: list[RunResult]) -> Series:
    return Series(points(runs))


def stretch(bad: int, total: int, changes: dict[str, tuple[Any, ...]]) -> list[RunResult]:
    """`total` runs a minute apart ending at minute 10, the first `bad` of them with `changes`."""
    return [run(10 - total + 1 + n, changes if n < bad else None) for n in range(total)]


RPC_SLOW_600 = {
    c: ("info", "slow", None, 600) for c in ("rpc.get_my_profile_v2", "rpc.create_post_v2")
}
RPC_SLOW_1200 = {
    c: ("warning", "slow", None, 1200) for c in ("rpc.get_my_profile_v2", "rpc.create_post_v2")
}
RPC_ONE_FAILS = {"rpc.create_post_v2": ("critical", None, None)}
LINK_FAILS = {
    "deeplink.redirect": ("critical", None, None),
    "auth.session": ("blocked", None, "deeplink.redirect"),
}

LEVELS = [
    # rule, bad runs of 10, changes, expected level (None: ok)
    ("auth_failure", 0, SIGNUP_BROKEN, None),
    ("auth_failure", 1, SIGNUP_BROKEN, Status.INFO),  # 10 %: > 5 %
    ("auth_failure", 2, SIGNUP_BROKEN, Status.WARNING),  # 20 %: > 10 %
    ("auth_failure", 3, SIGNUP_BROKEN, Status.CRITICAL),  # 30 %: > 20 %
    ("email_delivery", 1, EMAIL_LOST, None),  # 90 %: not below 90 %
    ("email_delivery", 2, EMAIL_LOST, Status.INFO),  # 80 %
    ("email_delivery", 3, EMAIL_LOST, Status.WARNING),  # 70 %
    ("email_delivery", 6, EMAIL_LOST, Status.CRITICAL),  # 40 %
    ("deeplink_failure", 0, LINK_FAILS, None),
    ("deeplink_failure", 1, LINK_FAILS, Status.WARNING),  # 10 %: > 5 %
    ("deeplink_failure", 2, LINK_FAILS, Status.CRITICAL),  # 20 %: > 10 %
    ("rpc_error", 1, RPC_ONE_FAILS, None),  # 1 of 20 calls: 5 %, not above
    ("rpc_error", 2, RPC_ONE_FAILS, Status.WARNING),  # 2 of 20: 10 %, not above 10
    ("rpc_error", 3, RPC_ONE_FAILS, Status.CRITICAL),  # 3 of 20: 15 %
    ("rpc_time", 10, RPC_SLOW_600, Status.INFO),
    ("rpc_time", 10, RPC_SLOW_1200, Status.WARNING),
    ("rpc_time", 0, RPC_SLOW_1200, None),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "bad", "changes", "level"), LEVELS)
def test_levels_follow_the_runbook(
    rule: str, bad: int, changes: dict[str, tuple[Any, ...]], level: Status | None
) -> None:
    found = RULES[rule].evaluate(series(stretch(bad, 10, changes)), at(10), POLICY)
    assert found.runs == 10
    if level is None:
        assert found.state == OK, found.message
    else:
        assert (found.state, found.level) == (FIRING, level), found.message


def test_an_email_quota_warning_is_not_an_auth_failure() -> None:
    quota = {
        "auth.signup": ("warning", "email_quota", None),
        **{k: ("blocked", None, "auth.signup") for k in ("email.delivery", "auth.session")},
    }
    found = RULES["auth_failure"].evaluate(series(stretch(10, 10, quota)), at(10), POLICY)
    assert found.state == OK and found.value == 0


@pytest.mark.parametrize("rule", sorted(RULES))
def test_too_few_runs_is_insufficient_data_never_ok_nor_critical(rule: str) -> None:
    runs = [run(9, EMAIL_LOST | SIGNUP_BROKEN)]
    found = RULES[rule].evaluate(series(runs), at(10), POLICY)
    assert found.state == INSUFFICIENT and found.level is None
    assert found.message.startswith("insufficient data")


def test_the_insufficient_data_message_says_what_it_has_and_needs() -> None:
    found = RULES["email_delivery"].evaluate(series([run(9, EMAIL_LOST)]), at(10), POLICY)
    assert found.message == "insufficient data: 1 run in 15 min, need 3"


def test_runs_outside_the_window_do_not_count() -> None:
    runs = [run(n, EMAIL_LOST) for n in range(5)] + [run(n) for n in range(20, 23)]
    rule = RULES["email_delivery"]
    assert rule.evaluate(series(runs), at(10), POLICY).state == FIRING
    assert rule.evaluate(series(runs), at(23), POLICY).state == OK
    assert rule.evaluate(series(runs), at(40), POLICY).state == INSUFFICIENT


def test_release_and_manual_runs_stay_out_of_the_scheduled_series() -> None:
    from synthetics.rules.metrics import select

    runs = [run(n, EMAIL_LOST, trigger="release", run_id=f"rel{n}") for n in range(8)]
    runs += [run(n + 0.5) for n in range(5, 9)]
    chosen = series(select(runs))
    assert RULES["email_delivery"].evaluate(chosen, at(10), POLICY).state == OK
    everything = series(select(runs, triggers=None))
    assert RULES["email_delivery"].evaluate(everything, at(10), POLICY).state == FIRING


def test_a_firing_rule_names_the_runs_that_show_it() -> None:
    runs = [run(n, EMAIL_LOST if n in (7, 9) else None) for n in range(6, 11)]
    found = RULES["email_delivery"].evaluate(series(runs), at(10), POLICY)
    assert found.state == FIRING
    assert found.evidence == ("run-7", "run-9")
    assert "60 % < 80 %" in found.message and "warning" in found.message


@pytest.mark.parametrize(
    ("history", "now", "state", "text"),
    [
        # last success 40 min ago, 3 failed attempts since: zero registrations for 30 min
        ([(0, None), (10, SIGNUP_BROKEN), (20, SIGNUP_BROKEN), (30, SIGNUP_BROKEN)], 40,
         FIRING, "no successful registration for 40 min (3 failed attempts since the last"),
        # only one failed attempt since: not enough to say the system is down
        ([(0, None), (35, SIGNUP_BROKEN)], 40, INSUFFICIENT,
         "1 failed registration attempt since the last success 40 min ago, need 3"),
        # the monitor stopped running: not an outage
        ([(0, None)], 120, INSUFFICIENT, "0 failed registration attempts"),
        ([(0, None), (30, None)], 40, OK, "last successful registration 10 min ago"),
        ([], 40, INSUFFICIENT, "no registration attempt yet"),
        ([(5, EMAIL_LOST), (15, EMAIL_LOST), (25, EMAIL_LOST), (38, EMAIL_LOST)], 40,
         FIRING, "and no success yet"),
    ],
)  # fmt: skip
def test_zero_successful_registrations_for_30_minutes(
    history: list[tuple[int, dict[str, tuple[Any, ...]] | None]], now: int, state: str, text: str
) -> None:
    found = RULES["no_registration"].evaluate(
        series([run(t, c) for t, c in history]), at(now), POLICY
    )
    assert found.state == state
    assert text in found.message
    if state == FIRING:
        assert found.level is Status.CRITICAL


def test_a_rule_fires_and_clears_over_time() -> None:
    runs = [run(n, EMAIL_LOST if 5 <= n < 10 else None) for n in range(30)]
    s = series(runs)
    evaluations = timeline(RULES["email_delivery"], s, POLICY, s.times)
    found = incidents(evaluations)
    assert len(found) == 1
    incident = found[0]
    # The first lost email makes 5 of 6 runs (83 % < 90 %: info); at worst 5 of 10 (warning).
    assert incident.since == at(5)
    assert incident.level is Status.WARNING
    # It clears once the 15-minute window holds at least 90 % good runs again (14 of 15).
    assert incident.cleared == at(23)
    assert incident.evidence[:2] == ["run-5", "run-6"]


def test_insufficient_data_does_not_clear_an_incident() -> None:
    runs = [run(n, EMAIL_LOST) for n in range(5)] + [run(60), run(61), run(62)]
    s = series(runs)
    found = incidents(timeline(RULES["email_delivery"], s, POLICY, [*s.times]))
    assert len(found) == 1 and found[0].cleared == at(62)


def test_rpc_time_levels_follow_the_configured_thresholds() -> None:
    table = {r.id: r for r in rules({"rpc_info_ms": 50, "rpc_warning_ms": 80})}
    found = table["rpc_time"].evaluate(series(stretch(0, 5, {})), at(10), POLICY)
    assert (found.state, found.level) == (FIRING, Status.WARNING)
    assert "mean v2 RPC time 100 ms (p95 100 ms) > 80 ms" in found.message
