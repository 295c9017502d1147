"""Deadline-driven polling, with an injected clock (no real time passes)."""

from __future__ import annotations

import itertools

import pytest

from synthetics.inbox._wait import Backoff, deadline_after, poll


class FakeTime:
    """A clock and a sleep that advance together, recording every pause."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 6))
        self.now += seconds


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = list(itertools.islice(Backoff().delays(), 7))
    assert delays == [0.025, 0.05, 0.1, 0.2, 0.2, 0.2, 0.2]


@pytest.mark.parametrize(
    "kwargs", [{"first": 0}, {"first": 0.5, "cap": 0.2}, {"factor": 0.5}], ids=str
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**kwargs)


def test_deadline_after() -> None:
    assert deadline_after(2.5, clock=lambda: 10.0) == 12.5
    assert deadline_after(-1, clock=lambda: 10.0) == 10.0


def test_found_at_once_never_sleeps() -> None:
    time = FakeTime()
    result = poll(lambda: "mail", deadline=time.now + 5, backoff=Backoff(),
                  clock=time.clock, sleep=time.sleep)  # fmt: skip
    assert result == "mail"
    assert time.pauses == []


def test_probes_with_backoff_until_found() -> None:
    time = FakeTime()
    answers = iter([None, None, None, None, None, "mail"])
    result = poll(lambda: next(answers), deadline=time.now + 5, backoff=Backoff(),
                  clock=time.clock, sleep=time.sleep)  # fmt: skip
    assert result == "mail"
    assert time.pauses == [0.025, 0.05, 0.1, 0.2, 0.2]


def test_gives_up_at_the_deadline_after_a_last_probe() -> None:
    time = FakeTime()
    probes: list[float] = []

    def probe() -> None:
        probes.append(time.now)

    result = poll(probe, deadline=time.now + 0.3, backoff=Backoff(),
                  clock=time.clock, sleep=time.sleep)  # fmt: skip
    assert result is None
    assert sum(time.pauses) == pytest.approx(0.3)
    assert probes[-1] == pytest.approx(100.3)  # the last look is at the deadline itself
    assert time.pauses[-1] == pytest.approx(0.125)  # cut short to land on the deadline


def test_zero_timeout_probes_once() -> None:
    time = FakeTime()
    calls = []
    result = poll(lambda: calls.append(1), deadline=time.now, backoff=Backoff(),
                  clock=time.clock, sleep=time.sleep)  # fmt: skip
    assert result is None
    assert calls == [1]


def test_server_pace_is_honoured_up_to_the_cap() -> None:
    time = FakeTime()
    answers = iter([None, None, None, "mail"])
    hints = iter([0.1, 5.0, 0.0])
    result = poll(lambda: next(answers), deadline=time.now + 5, backoff=Backoff(),
                  pace=lambda: next(hints), clock=time.clock, sleep=time.sleep)  # fmt: skip
    assert result == "mail"
    assert time.pauses == [0.1, 0.2, 0.1]
