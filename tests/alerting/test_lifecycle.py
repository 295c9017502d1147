"""The lifecycle as tables: a sequence of runs on a fake clock → what is said after each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from synthetics.alerting.lifecycle import Policy, advance
from synthetics.alerting.model import AlertState, Observation
from synthetics.status import Status

T0 = datetime(2026, 12, 1, tzinfo=UTC)
C, W, INFO = Status.CRITICAL, Status.WARNING, Status.INFO


def fail(
    severity: Status = C, *, immediate: bool = False, subject: str = "email.delivery"
) -> Observation:
    return Observation(
        subject,
        True,
        severity,
        message=f"{subject} {severity}",
        checks=(subject,),
        immediate=immediate,
    )


def ok(subject: str = "email.delivery") -> Observation:
    return Observation(subject, False, checks=(subject,))


def unseen(subject: str = "email.delivery") -> Observation:
    return Observation(subject, None)


def rule(level: Status | None, subject: str = "email.delivery") -> Observation:
    return Observation(subject, None, rule_level=level, rule_message=f"rate {level}")


def both(check: Observation, level: Status | None) -> Observation:
    """A check and a rule on one cause, as verdicts.observe merges them."""
    return replace(check, rule_level=level, rule_message=f"rate {level}" if level else "")


def play(
    runs: list[Observation | list[Observation]],
    *,
    policy: Policy | None = None,
    every: timedelta = timedelta(minutes=30),
    muted: set[int] = frozenset(),  # type: ignore[assignment]
) -> tuple[list[list[str]], dict[str, AlertState]]:
    """Each run's notifications as `kind:subject:severity` (muted ones prefixed `muted `)."""
    states: dict[str, AlertState] = {}
    said = []
    for n, observations in enumerate(runs):
        obs = observations if isinstance(observations, list) else [observations]
        step = advance(
            states,
            obs,
            target="production",
            now=T0 + n * every,
            policy=policy or Policy(),
            muted_by="window" if n in muted else "",
        )
        states = step.states
        said.append(
            [
                ("muted " if note.muted_by else "")
                + f"{note.kind}:{note.subject}:{note.severity.value}"
                for note in step.notifications
            ]
        )
    return said, states


CASES = [
    pytest.param([fail(), ok(), fail(), ok()], [[], [], [], []], id="single failures never fire"),
    pytest.param(
        [fail(), fail(), fail(), ok(), ok()],
        [[], ["trigger:email.delivery:critical"], [], [], ["resolve:email.delivery:critical"]],
        id="fires at failure_threshold, resolves after success_threshold",
    ),
    pytest.param(
        [fail(), fail(), ok(), fail(), ok(), ok()],
        [[], ["trigger:email.delivery:critical"], [], [], [], ["resolve:email.delivery:critical"]],
        id="a pass between failures does not resolve; the pass counter restarts",
    ),
    pytest.param(
        [fail(C, immediate=True, subject="security")],
        [["trigger:security:critical"]],
        id="a security finding fires at once",
    ),
    pytest.param(
        [fail(W), fail(W), fail(C), fail(C)],
        [[], ["trigger:email.delivery:warning"], ["escalate:email.delivery:critical"], []],
        id="escalates once when the severity rises",
    ),
    pytest.param(
        [fail(C), fail(C), fail(W), fail(C)],
        [[], ["trigger:email.delivery:critical"], [], []],
        id="no notification for a lower severity, nor for its return",
    ),
    pytest.param(
        [fail(), fail(), unseen(), unseen(), ok(), unseen(), ok()],
        [
            [],
            ["trigger:email.delivery:critical"],
            [],
            [],
            [],
            [],
            ["resolve:email.delivery:critical"],
        ],
        id="runs that could not see the check change nothing",
    ),
    pytest.param(
        [rule(W)],
        [["trigger:email.delivery:warning"]],
        id="a firing rule needs no threshold (it has its own window)",
    ),
    pytest.param(
        [both(fail(), W), both(fail(), W), both(fail(), C), both(ok(), None), both(ok(), None)],
        [
            ["trigger:email.delivery:warning"],
            ["escalate:email.delivery:critical"],
            [],
            [],
            ["resolve:email.delivery:critical"],
        ],
        id="rule and check on one cause: one alert, warning then critical",
    ),
    pytest.param(
        [both(ok(), W), both(ok(), W), both(ok(), None)],
        [["trigger:email.delivery:warning"], [], ["resolve:email.delivery:warning"]],
        id="a rule firing alone resolves when it stops and the check passes",
    ),
    pytest.param(
        [fail(INFO), fail(INFO), ok(), ok()],
        [[], ["trigger:email.delivery:info"], [], ["resolve:email.delivery:info"]],
        id="info goes through the same lifecycle (routing decides where it goes)",
    ),
]


@pytest.mark.parametrize(("runs", "expected"), CASES)
def test_lifecycle_table(
    runs: list[Observation | list[Observation]], expected: list[list[str]]
) -> None:
    said, _ = play(runs, policy=Policy(repeat_interval=timedelta(days=1)))  # reminders: below
    assert said == expected


def test_reminders_every_repeat_interval_while_firing() -> None:
    said, states = play([fail()] * 8, policy=Policy(repeat_interval=timedelta(hours=1)))
    # runs every 30 min: trigger at run 2 (t=30 min), reminders at t=90 min and t=150 min
    assert said == [
        [],
        ["trigger:email.delivery:critical"],
        [],
        ["reminder:email.delivery:critical"],
        [],
        ["reminder:email.delivery:critical"],
        [],
        ["reminder:email.delivery:critical"],
    ]
    state = states["email.delivery"]
    assert state.phase == "firing" and state.since == T0 and state.failures == 8


def test_thresholds_come_from_the_policy() -> None:
    said, _ = play(
        [fail()] * 3 + [ok()] * 3, policy=Policy(failure_threshold=3, success_threshold=3)
    )
    assert said == [
        [],
        [],
        ["trigger:email.delivery:critical"],
        [],
        [],
        ["resolve:email.delivery:critical"],
    ]


def test_maintenance_mutes_but_the_state_moves_and_is_announced_after() -> None:
    said, states = play([fail(), fail(), fail(), fail()], muted={1, 2}, every=timedelta(minutes=5))
    # each muted run records what it did not send (the report lists them); after: announced
    assert said == [
        [],
        ["muted trigger:email.delivery:critical"],
        ["muted trigger:email.delivery:critical"],
        ["trigger:email.delivery:critical"],
    ]
    assert states["email.delivery"].notified_severity is C


def test_a_resolve_inside_a_window_is_sent_once_the_window_is_over() -> None:
    said, states = play([fail(), fail(), ok(), ok(), ok(), ok()], muted={3, 4})
    assert said == [
        [],
        ["trigger:email.delivery:critical"],
        [],
        ["muted resolve:email.delivery:critical"],
        ["muted resolve:email.delivery:critical"],
        ["resolve:email.delivery:critical"],
    ]
    assert states == {}


def test_an_alert_born_and_gone_inside_a_window_says_nothing_afterwards() -> None:
    said, states = play([fail(), fail(), ok(), ok(), ok()], muted={0, 1, 2, 3})
    assert said == [
        [],
        ["muted trigger:email.delivery:critical"],
        [],
        [],
        [],
    ]  # never told: no resolve
    assert states == {}


def test_the_resolve_goes_to_the_channels_that_heard_the_trigger() -> None:
    states = {
        "email.delivery": AlertState(
            "production",
            "email.delivery",
            phase="firing",
            severity=C,
            failures=3,
            passes=1,
            since=T0,
            notified_severity=C,
            notified_at=T0,
            channels=("pager", "oncall"),
        )
    }
    step = advance(
        states, [ok()], target="production", now=T0 + timedelta(hours=2), policy=Policy()
    )
    (note,) = step.notifications
    assert (note.kind, note.channels, note.since) == ("resolve", ("pager", "oncall"), T0)
    assert "recovered after 2 h" in note.message
    assert step.states == {}


def test_the_duration_is_measured_from_the_first_failure() -> None:
    states: dict[str, AlertState] = {}
    notes = []
    for n in range(3):
        step = advance(
            states, [fail()], target="t", now=T0 + timedelta(minutes=15 * n), policy=Policy()
        )
        states, notes = step.states, notes + step.notifications
    (trigger,) = notes
    assert trigger.since == T0 and trigger.duration == timedelta(minutes=15)
