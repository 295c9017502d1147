"""results.json round-trips, is read back leniently but never blindly, and is always written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from synthetics.results import CheckResult, ResultsError, RunResult
from synthetics.status import Status

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def a_run(**extra: object) -> RunResult:
    return RunResult(
        run_id="20261201t120000-abcdef",
        target="sandbox",
        started_at=START,
        finished_at=START.replace(second=3),
        checks=[
            CheckResult("auth.health", "auth", Status.OK, 3.0, measurements={"latency_ms": 3.0}),
            CheckResult(
                "rpc.get_home_feed_v2",
                "rpc",
                Status.WARNING,
                measurements={"latency_ms": 1210.0},
                message="answered in 1210 ms, over the 1000 ms warning threshold",
                reason="slow",
            ),
            CheckResult("auth.session", "auth", Status.BLOCKED, blocked_by="email.delivery"),
        ],
        trigger="schedule",
        location="gha-eu",
        thresholds={"rpc_warning_ms": 1000.0, "rpc_info_ms": 500.0},
        **extra,  # type: ignore[arg-type]
    )


def test_a_run_survives_the_round_trip(tmp_path: Path) -> None:
    run = a_run(interrupted=True, faults=["email.drop"])
    run.write(tmp_path / "results.json")
    back = RunResult.read(tmp_path / "results.json")
    assert back.to_json() == run.to_json()
    assert back.interrupted and back.trigger == "schedule" and back.faults == ["email.drop"]
    assert back.check("rpc.get_home_feed_v2") == run.check("rpc.get_home_feed_v2")
    assert [a.check for a in back.alerts] == ["rpc.*"]
    assert "1000 ms" in back.alerts[0].message


def test_older_files_without_the_new_fields_still_read() -> None:
    old = {
        "schema": "synthetics/results@1",
        "run_id": "r",
        "target": "staging",
        "started_at": START.isoformat(),
        "checks": [{"id": "email.delivery", "status": "critical", "message": "late"}],
    }
    run = RunResult.from_json(old)
    assert run.trigger == "manual" and not run.interrupted
    assert run.checks[0].group == "email" and run.checks[0].reason is None


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"schema": "synthetics/report@1"},
        {"schema": "synthetics/results@1", "target": "x", "started_at": "2026-01-01T00:00:00"},
        {"schema": "synthetics/results@1", "run_id": "r", "target": "x", "started_at": "soon"},
        {
            "schema": "synthetics/results@1",
            "run_id": "r",
            "target": "x",
            "started_at": "2026-01-01T00:00:00",
            "checks": [{"id": "x", "status": "purple"}],
        },
    ],
)
def test_what_is_not_a_run_is_refused_with_a_reason(document: object) -> None:
    with pytest.raises(ResultsError):
        RunResult.from_json(document)  # type: ignore[arg-type]


def test_a_file_that_is_not_json_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(b"\xff not json")
    with pytest.raises(ResultsError, match=r"results\.json"):
        RunResult.read(path)


def test_the_writer_never_fails_on_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    run = a_run()
    run.checks[0].message = "lone surrogate \ud800 from a target"
    run.write(tmp_path / "results.json")
    assert json.loads((tmp_path / "results.json").read_text())["checks"][0]["message"]
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
