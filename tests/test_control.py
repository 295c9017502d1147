"""RunControl in a real pytest session: a stop interrupts the checks only while they run; one
that arrives during pytest's start-up interrupts the session as its checks begin, so the run
still ends through pytest's own interrupted path (its outputs written) rather than a traceback
from start-up; one that arrives once they are over is only recorded."""

from __future__ import annotations

from typing import Any

import pytest

from synthetics.control import RunControl

pytest_plugins = ["pytester"]


class Stopper:
    """Stops the run from inside pytest, at a chosen hook, and keeps what `stop` answered."""

    def __init__(self, control: RunControl, at: str) -> None:
        self.control = control
        self.at = at
        self.answers: list[bool] = []

    def _maybe(self, hook: str) -> None:
        if hook == self.at:
            self.answers.append(self.control.stop("SIGTERM"))

    def pytest_collection_finish(self, session: Any) -> None:
        self._maybe("collection")

    def pytest_runtest_call(self, item: Any) -> None:
        self._maybe("call")

    def pytest_sessionfinish(self, session: Any) -> None:
        self._maybe("finish")


TESTS = "def test_one():\n    pass\n\ndef test_two():\n    pass\n"


def test_a_stop_during_start_up_interrupts_the_session_as_the_checks_begin(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(TESTS)
    control = RunControl()
    stopper = Stopper(control, "collection")
    result = pytester.inline_run(plugins=[control, stopper], no_reraise_ctrlc=True)
    assert stopper.answers == [False]  # not raised in the middle of collection
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert result.countoutcomes() == [0, 0, 0]  # neither test ran
    assert control.signal == "SIGTERM"


def test_a_stop_before_pytest_starts_interrupts_it_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    control = RunControl()
    assert control.stop("SIGINT") is False
    result = pytester.inline_run(plugins=[control], no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert result.countoutcomes() == [0, 0, 0]


def test_a_stop_while_the_checks_run_interrupts_them_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    control = RunControl()
    stopper = Stopper(control, "call")
    pytester.inline_run(plugins=[control, stopper], no_reraise_ctrlc=True)
    assert stopper.answers[0] is True  # the caller raises KeyboardInterrupt
    # A second stop (the cleanup under way) is recorded, never raised.
    assert control.stop("SIGTERM") is False


def test_a_stop_once_the_checks_are_over_is_only_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    control = RunControl()
    stopper = Stopper(control, "finish")
    result = pytester.inline_run(plugins=[control, stopper], no_reraise_ctrlc=True)
    assert stopper.answers == [False]
    assert result.ret == pytest.ExitCode.OK
    assert result.countoutcomes() == [2, 0, 0]
    assert control.signal == "SIGTERM"
