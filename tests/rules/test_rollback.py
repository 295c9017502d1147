"""The immediate rollback triggers on a fake clock: each must hold for its duration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from synthetics.catalog import FIRST_STEPS, PLAN_A, PLAN_B, PLAN_C, SECURITY
from synthetics.rules.metrics import points
from synthetics.rules.policy import Policy
from synthetics.rules.rollback import decide
from synthetics.rules.window import Series
from tests.rules.runs import (
    DEEPLINK_BROKEN,
    EMAIL_LOST,
    EXPOSED,
    RPC_BROKEN,
    SIGNUP_BROKEN,
    at,
    run,
)

# A 5-minute window, runs every minute: the condition is judged over the last 5 runs.
POLICY = Policy(window=timedelta(minutes=5), min_runs=3)


def decision_after(changes: dict[str, tuple[Any, ...]], bad_minutes: int, *, lead: int = 10):
    """`lead` clean runs, then `bad_minutes` + 1 broken runs a minute apart; decided at the last."""
    runs = [run(n) for n in range(lead)]
    runs += [run(lead + n, changes) for n in range(bad_minutes + 1)]
    return decide(Series(points(runs)), at(lead + bad_minutes), POLICY)


CASES = [
    # changes, minutes the runs stay broken, plan (None: not yet)
    (SIGNUP_BROKEN, 20, PLAN_A),
    (SIGNUP_BROKEN, 14, None),  # condition from the 3rd bad run: held 12 min < 15
    (EMAIL_LOST, 13, PLAN_A),
    (EMAIL_LOST, 10, None),  # < 30 % from the 4th bad run (1 of 5 good): held 7 min
    (DEEPLINK_BROKEN, 8, PLAN_A),
    (DEEPLINK_BROKEN, 5, None),
    (RPC_BROKEN, 8, PLAN_B),
    (RPC_BROKEN, 4, None),
    (SIGNUP_BROKEN | RPC_BROKEN, 20, PLAN_C),
]


@pytest.mark.parametrize(("changes", "minutes", "plan"), CASES)
def test_a_trigger_needs_its_condition_held_for_its_duration(
    changes: dict[str, tuple[Any, ...]], minutes: int, plan: str | None
) -> None:
    found = decision_after(changes, minutes)
    assert (found.plan if found else None) == plan


def test_a_decision_names_the_plan_its_first_steps_since_when_and_the_runs() -> None:
    found = decision_after(EMAIL_LOST, 15)
    assert found is not None and found.plan == PLAN_A
    assert found.first_steps == FIRST_STEPS[PLAN_A]
    email = next(h for h in found.triggers if h.trigger == "email")
    # Below 30 % from the 4th lost email on (minute 13), held until minute 25.
    assert email.since == at(13)
    assert email.held == timedelta(minutes=12)
    assert email.runs[-1] == "run-25" and "run-10" in email.runs
    assert "email delivery 0 % < 30 % for 12 min (needs 10 min)" in email.message
    # Registration fails too (email lost: no confirmed user): same plan, not Plan C.
    assert found.plans == (PLAN_A,)
    assert found.since == min(h.since for h in found.triggers)


def test_a_security_check_that_proved_access_calls_the_procedure_at_once() -> None:
    runs = [run(n) for n in range(10)] + [run(10, EXPOSED)]
    found = decide(Series(points(runs)), at(10), POLICY)
    assert found is not None and found.plan == SECURITY
    assert found.since == at(10)
    assert found.first_steps.startswith("REVOKE ALL")
    assert found.triggers[0].runs == ("run-10",)
    assert "security.anon_rpc" in found.triggers[0].message


@pytest.mark.parametrize("reason", ["inconclusive", "check_error"])
def test_a_security_check_that_could_not_decide_is_no_incident(reason: str) -> None:
    runs = [run(n) for n in range(10)] + [
        run(10, {"security.anon_rpc": ("critical", reason, None)})
    ]
    assert decide(Series(points(runs)), at(10), POLICY) is None


def test_security_and_plan_a_at_once_is_plan_c_with_both_steps() -> None:
    found = decision_after(SIGNUP_BROKEN | EXPOSED, 20)
    assert found is not None and found.plan == PLAN_C
    assert set(found.plans) == {PLAN_A, SECURITY}
    assert found.first_steps.startswith("REVOKE ALL") and FIRST_STEPS[PLAN_C] in found.first_steps
    # Plan C since the second plan joined: security at once (minute 10), Plan A from minute 12.
    assert found.since == at(12)


def test_a_passing_security_run_ends_the_security_call() -> None:
    runs = [run(0, EXPOSED), run(1), run(2)]
    assert decide(Series(points(runs)), at(2), POLICY) is None


def test_stale_evidence_decides_nothing() -> None:
    runs = [run(n, SIGNUP_BROKEN) for n in range(30)]
    assert decide(Series(points(runs)), at(29), POLICY) is not None
    assert decide(Series(points(runs)), at(29 + 6), POLICY) is None


def test_too_few_runs_break_a_streak() -> None:
    # Broken runs 10 minutes apart: never 3 in a 5-minute window, so never a rollback.
    runs = [run(n * 10, SIGNUP_BROKEN) for n in range(10)]
    assert decide(Series(points(runs)), at(90), POLICY) is None
