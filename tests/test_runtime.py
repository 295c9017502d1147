"""What a run records about itself: its trigger, and cleanup's verdict."""

from __future__ import annotations

import pytest

from synthetics.errors import ConfigError
from synthetics.targets import resolve_trigger
from synthetics.users import CleanupReport, OwnedRows


@pytest.mark.parametrize(
    ("explicit", "event", "trigger"),
    [
        (None, None, "manual"),
        (None, "schedule", "schedule"),
        (None, "workflow_dispatch", "manual"),
        (None, "release", "release"),
        (None, "push", "ci"),
        (None, "pull_request", "ci"),
        ("release", "push", "release"),  # the workflow says what it is doing
    ],
)
def test_the_trigger(explicit: str | None, event: str | None, trigger: str) -> None:
    env = {"GITHUB_EVENT_NAME": event} if event else {}
    assert resolve_trigger(explicit, env) == trigger


def test_an_unknown_trigger_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="--trigger"):
        resolve_trigger("nightly", {})


@pytest.mark.parametrize(
    ("report", "passed", "reason", "says"),
    [
        (CleanupReport(verified=True), True, None, "nothing to clean up"),
        (
            CleanupReport(
                users_deleted=3, rows_deleted={"user_profiles.id": 3}, verified=True, attempted=True
            ),
            True,
            None,
            "deleted 3 throwaway user(s) and 3 owned row(s), and verified",
        ),
        (
            CleanupReport(
                users_deleted=2,
                left=["a@x.dev"],
                problems=["deleting a@x.dev: 503"],
                attempted=True,
            ),
            False,
            "unverified",
            "may be left behind: a@x.dev",
        ),
        # Deleted, but the target could not be asked again: never "verified".
        (
            CleanupReport(
                users_deleted=1,
                left=["user 1"],
                problems=["verifying user 1: down"],
                attempted=True,
            ),
            False,
            "unverified",
            "verifying user 1: down",
        ),
    ],
)
def test_cleanup_says_verified_only_when_it_was(
    report: CleanupReport, passed: bool, reason: str | None, says: str
) -> None:
    verdict = report.verdict()
    assert verdict[:2] == (passed, reason)
    assert says in verdict[2]


@pytest.mark.parametrize("spec", ["user_profiles", "a.b.c", "1x.id", "t.col;drop", ""])
def test_owned_rows_are_two_identifiers(spec: str) -> None:
    with pytest.raises(ValueError, match=r"table\.column"):
        OwnedRows.parse(spec)
