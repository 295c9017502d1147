"""How one run counts for each runbook metric (the table in synthetics/rules/metrics.py)."""

from __future__ import annotations

from typing import Any

import pytest

from synthetics.rules import metrics as m
from synthetics.rules.metrics import Sample, point, select
from tests.rules.runs import EMAIL_LOST, EXPOSED, SIGNUP_BROKEN, run

G, B, NONE = Sample(good=1), Sample(bad=1), Sample()

CASES: list[tuple[str, dict[str, tuple[Any, ...]], bool, dict[str, Sample]]] = [
    (
        "clean run",
        {},
        False,
        {m.AUTH_FAILURE: G, m.REGISTRATION: G, m.EMAIL_DELIVERY: G, m.EMAIL_DELIVERED: G,
         m.DEEPLINK_FAILURE: G, m.RPC_ERROR: Sample(good=2)},
    ),
    (
        "email lost: an email failure and a failed registration, not an auth failure",
        EMAIL_LOST,
        False,
        {m.AUTH_FAILURE: G, m.REGISTRATION: B, m.EMAIL_DELIVERY: B, m.EMAIL_DELIVERED: B,
         m.DEEPLINK_FAILURE: NONE},
    ),
    (
        "interrupted while waiting for the email: no email failure, no registration verdict",
        {"email.delivery": ("critical", None, None),
         "deeplink.redirect": ("blocked", None, "interrupted"),
         "deeplink.browser": ("blocked", None, "interrupted"),
         "auth.session": ("blocked", None, "interrupted")},
        True,
        {m.AUTH_FAILURE: G, m.REGISTRATION: NONE, m.EMAIL_DELIVERY: NONE, m.DEEPLINK_FAILURE: NONE},
    ),
    (
        "auth down: email blocked by auth.health is not an email failure",
        {"auth.health": ("critical", "target_down", None),
         **{k: ("blocked", None, "auth.health") for k in
            ("auth.signup", "email.delivery", "deeplink.redirect", "deeplink.browser",
             "auth.session", "auth.signin")}},
        False,
        {m.AUTH_FAILURE: B, m.REGISTRATION: NONE, m.EMAIL_DELIVERY: NONE, m.DEEPLINK_FAILURE: NONE},
    ),
    (
        "sign-up refused for the email quota: not an auth failure, not a registration verdict",
        {"auth.signup": ("warning", "email_quota", None),
         **{k: ("blocked", None, "auth.signup") for k in
            ("email.delivery", "deeplink.redirect", "deeplink.browser", "auth.session")}},
        False,
        {m.AUTH_FAILURE: G, m.REGISTRATION: NONE, m.EMAIL_DELIVERY: NONE},
    ),
    (
        "sign-up broken: an auth failure and a failed registration",
        SIGNUP_BROKEN,
        False,
        {m.AUTH_FAILURE: B, m.REGISTRATION: B, m.EMAIL_DELIVERY: NONE},
    ),
    (
        "the monitor's inbox refused: says nothing of the app's email",
        {"email.delivery": ("warning", "inbox_error", None),
         "deeplink.redirect": ("blocked", None, "email.delivery"),
         "deeplink.browser": ("blocked", None, "email.delivery"),
         "auth.session": ("blocked", None, "email.delivery")},
        False,
        {m.EMAIL_DELIVERY: NONE, m.EMAIL_DELIVERED: NONE, m.REGISTRATION: NONE},
    ),
    (
        "a late email: delivered, but not within the SLA",
        {"email.delivery": ("warning", "late", None)},
        False,
        {m.EMAIL_DELIVERY: B, m.EMAIL_DELIVERED: G, m.REGISTRATION: G},
    ),
    (
        "one RPC fails: one error of two calls; its time is not a response time",
        {"rpc.create_post_v2": ("critical", None, None, 9000)},
        False,
        {m.RPC_ERROR: Sample(good=1, bad=1), m.RPC_TIME: Sample(good=1, values=(100.0,))},
    ),
    (
        "a slow sign-up is still a registration",
        {"auth.signup": ("warning", "slow", None)},
        False,
        {m.AUTH_FAILURE: G, m.REGISTRATION: G},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "interrupted", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_how_a_run_counts(
    changes: dict[str, tuple[Any, ...]], interrupted: bool, expected: dict[str, Sample]
) -> None:
    found = point(run(0, changes, interrupted=interrupted))
    for metric, sample in expected.items():
        assert found.sample(metric) == sample, metric


@pytest.mark.parametrize(
    ("status", "reason", "exposed"),
    [
        ("critical", "exposed", True),
        ("critical", None, True),
        ("critical", "inconclusive", False),
        ("critical", "check_error", False),
        ("warning", "inconclusive", False),
        ("ok", None, False),
    ],
)
def test_only_a_security_check_that_proved_access_counts(
    status: str, reason: str | None, exposed: bool
) -> None:
    found = point(run(0, {"security.cross_user": (status, reason, None)}))
    assert bool(found.exposed) is exposed
    assert found.security_checked


def test_the_default_series_is_scheduled_runs_without_rehearsals() -> None:
    runs = [
        run(0, trigger="schedule", run_id="s"),
        run(1, trigger="release", run_id="r"),
        run(2, trigger="manual", run_id="m"),
        run(3, trigger="ci", run_id="c"),
        run(4, EXPOSED, trigger="schedule", faults=("security.anon_grant",), run_id="f"),
        run(5, trigger="schedule", target="production", run_id="p"),
    ]
    assert [r.run_id for r in select(runs, target="staging")] == ["s"]
    assert [r.run_id for r in select(runs, target="staging", rehearsals=True)] == ["s", "f"]
    assert [r.run_id for r in select(runs, triggers=("release", "manual"))] == ["r", "m"]
    assert len(select(runs, triggers=None, rehearsals=True)) == 6
