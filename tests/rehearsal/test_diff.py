"""The diff on recorded sandbox runs (tests/alerting/runs): what counts as worse, and naming
exactly what is new."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from synthetics.rehearsal.diff import Verdict, compare, normalized, subject
from synthetics.results import CheckResult, RunResult
from synthetics.status import Status

RUNS = Path(__file__).parents[1] / "alerting" / "runs"


@pytest.fixture
def clean() -> RunResult:
    return RunResult.read(RUNS / "clean.json")


@pytest.fixture
def granted() -> RunResult:
    return RunResult.read(RUNS / "security.anon_grant.json")


def check(run: RunResult, check_id: str) -> CheckResult:
    found = run.check(check_id)
    assert found is not None
    return found


def test_identical_runs_have_no_change(clean: RunResult) -> None:
    diff = compare(clean, copy.deepcopy(clean))
    assert diff.changes == ()
    assert not diff.worse
    assert diff.unchanged_line() == f"{len(clean.checks)} checks unchanged (35 ok, 1 skipped)"


def test_the_security_fault_is_three_worse_checks_naming_each_function(
    clean: RunResult, granted: RunResult
) -> None:
    diff = compare(clean, granted)
    assert [c.check for c in diff.worse] == [
        "security.anon_rpc",
        "security.direct_table",
        "security.advisor",
    ]
    anon = diff.worse[0]
    assert (anon.before_status, anon.after_status) == ("ok", "critical")
    executed = check(granted, "security.anon_rpc").evidence["executed"].splitlines()
    (finding,) = anon.findings
    assert finding.key == "executed" and finding.new == tuple(executed) and finding.gone == ()
    names = [line.split(" ", 1)[0] for line in executed]
    assert anon.summary == (
        f"{len(executed)} new functions executable by anon: {', '.join(names[:5])}"
        f" and {len(names) - 5} more"
    )


def test_one_more_function_at_the_same_critical_status_is_worse_and_named_alone(
    granted: RunResult,
) -> None:
    before = copy.deepcopy(granted)
    anon = check(before, "security.anon_rpc")
    lines = anon.evidence["executed"].splitlines()
    dropped = next(line for line in lines if line.startswith("get_follow_counts_v2 "))
    anon.evidence["executed"] = "\n".join(line for line in lines if line != dropped)
    diff = compare(before, granted)
    (change,) = diff.changes
    assert change.check == "security.anon_rpc" and change.verdict is Verdict.WORSE
    assert (change.before_status, change.after_status) == ("critical", "critical")
    assert change.findings[0].new == (dropped,)
    assert change.summary == "1 new function executable by anon: get_follow_counts_v2"


def test_a_probe_answer_that_only_differs_in_numbers_is_the_same_exposure(
    granted: RunResult,
) -> None:
    before = copy.deepcopy(granted)
    anon = check(before, "security.anon_rpc")
    text = anon.evidence["executed"]
    assert "answered 200, 0 row(s)" in text
    anon.evidence["executed"] = text.replace("answered 200, 0 row(s)", "answered 200, 3 row(s)")
    assert compare(before, granted).changes == ()


def test_a_new_advisor_finding_is_named_by_rule_and_object(granted: RunResult) -> None:
    before = copy.deepcopy(granted)
    advisor = check(before, "security.advisor")
    lines = advisor.evidence["fix"].splitlines()
    advisor.evidence["fix"] = "\n".join(lines[1:])
    (change,) = compare(before, granted).changes
    assert change.verdict is Verdict.WORSE
    rule_object = lines[0].rpartition("--")[2].strip()
    assert change.summary == f"1 new advisor finding: {rule_object}"


def test_fixing_the_fault_is_better_and_says_what_went(
    clean: RunResult, granted: RunResult
) -> None:
    diff = compare(granted, clean)
    assert not diff.worse
    assert {c.verdict for c in diff.changes} == {Verdict.BETTER}
    advisor = next(c for c in diff.changes if c.check == "security.advisor")
    fixes = check(granted, "security.advisor").evidence["fix"].splitlines()
    assert advisor.findings[0].gone == tuple(fixes)
    assert advisor.summary.startswith(
        f"{len(fixes)} fewer advisor findings: anon_security_definer: add_reaction_v2(uuid), "
    )


def test_newly_blocked_by_a_new_failure_is_worse(clean: RunResult) -> None:
    after = copy.deepcopy(clean)
    email = check(after, "email.delivery")
    email.status, email.message = Status.CRITICAL, "no confirmation email within 120 s"
    redirect = check(after, "deeplink.redirect")
    redirect.status, redirect.blocked_by, redirect.message = (
        Status.BLOCKED,
        "email.delivery",
        "blocked: no confirmation email",
    )
    diff = compare(clean, after)
    assert [(c.check, c.verdict) for c in diff.changes] == [
        ("email.delivery", Verdict.WORSE),
        ("deeplink.redirect", Verdict.WORSE),
    ]
    assert diff.changes[1].after_status == "blocked by email.delivery"
    assert diff.changes[1].summary.startswith("blocked by email.delivery")


def test_a_slower_rpc_is_shown_as_timing_and_never_counted(clean: RunResult) -> None:
    after = copy.deepcopy(clean)
    rpc = check(after, "rpc.get_home_feed_v2")
    rpc.status, rpc.reason = Status.INFO, "slow"
    rpc.message = "get_home_feed_v2 answered correctly in 612 ms, over the 500 ms info threshold"
    (change,) = compare(clean, after).changes
    assert change.verdict is Verdict.TIMING and not change.counted
    assert not compare(clean, after).worse


def test_a_failing_rpc_is_worse_with_its_message(clean: RunResult) -> None:
    after = copy.deepcopy(clean)
    rpc = check(after, "rpc.get_home_feed_v2")
    rpc.status, rpc.reason = Status.CRITICAL, None
    rpc.message = "get_home_feed_v2 answered 404 PGRST202: Could not find the function …"
    (change,) = compare(clean, after).changes
    assert change.verdict is Verdict.WORSE
    assert change.summary == rpc.message
    explained = compare(clean, after, {"rpc.get_home_feed_v2": "PGRST202 (`p_x` …)"})
    assert explained.changes[0].summary == "PGRST202 (`p_x` …)"


def test_a_check_the_after_run_lost_is_worse(clean: RunResult) -> None:
    after = copy.deepcopy(clean)
    after.checks = [c for c in after.checks if c.id != "security.cross_user"]
    (change,) = compare(clean, after).changes
    assert change.verdict is Verdict.WORSE and change.after_status == "absent"


def test_another_failure_at_the_same_severity_is_a_change_not_worse(clean: RunResult) -> None:
    before, after = copy.deepcopy(clean), copy.deepcopy(clean)
    for run, message in ((before, "answered 500 after 1203 ms"), (after, "answered 404 PGRST202")):
        rpc = check(run, "rpc.delete_post_v2")
        rpc.status, rpc.message = Status.CRITICAL, message
    (change,) = compare(before, after).changes
    assert change.verdict is Verdict.CHANGED and not compare(before, after).worse
    # The same failure, timed differently, is no change at all.
    check(after, "rpc.delete_post_v2").message = "answered 500 after 988 ms"
    assert compare(before, after).changes == ()


def test_an_interrupted_block_is_not_a_finding(clean: RunResult) -> None:
    after = copy.deepcopy(clean)
    cleanup = check(after, "cleanup")
    cleanup.status, cleanup.blocked_by = Status.BLOCKED, "interrupted"
    (change,) = compare(clean, after).changes
    assert change.verdict is Verdict.CHANGED


@pytest.mark.parametrize(
    ("key", "line", "expected"),
    [
        ("executed", "get_home_feed_v2 answered 200, 0 row(s)", "get_home_feed_v2"),
        (
            "executed",
            "create_post_v2(p_body text, p_attachments jsonb) ran and raised 25006 inside (x)",
            "create_post_v2(p_body text, p_attachments jsonb)",
        ),
        (
            "inconclusive",
            "refresh_session_token: 404 42883 before the call",
            "refresh_session_token",
        ),
        ("inconclusive", "anon: posts GET no answer (transport failure)", "anon: posts GET"),
        ("exposed", "anon: user_profiles GET returned 1 row(s)", "anon: user_profiles GET"),
        ("granted", "a signed-in user: posts PATCH allowed (204)", "a signed-in user: posts PATCH"),
        (
            "fix",
            "ALTER TABLE t ENABLE ROW LEVEL SECURITY;  -- rls_disabled: public.t",
            "rls_disabled: public.t",
        ),
    ],
)
def test_what_an_evidence_line_is_about(key: str, line: str, expected: str) -> None:
    assert subject(key, line) == expected


def test_normalized_drops_ids_and_numbers_but_not_names() -> None:
    text = (
        "get_home_feed_v2 run 20261201t234229-7f49fc user 3f2a1b4c-0000-4000-8000-00000000abcd "
        "12 ms"
    )
    assert normalized(text) == "get_home_feed_v2 run <run> user <uuid> # ms"
