"""Real sandbox runs (one clean, one email.drop, one security.anon_grant), made once a session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthetics.results import RunResult

ROOT = Path(__file__).resolve().parents[2]
#: fault → (extra arguments, expected exit code)
RUNS = {
    "clean": ([], 0),
    "email.drop": (
        [
            "--fault",
            "email.drop",
            "--set",
            "thresholds.email_sla_s=2",
            "--set",
            "thresholds.email_timeout_s=3",
        ],
        2,
    ),
    "security.anon_grant": (["--fault", "security.anon_grant"], 2),
}


@pytest.fixture(scope="session")
def sandbox_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunResult]:
    """`python -m synthetics.cli run` against the sandbox, once per kind; their results.json."""
    base = tmp_path_factory.mktemp("sandbox-runs")
    found = {}
    for name, (extra, expected) in RUNS.items():
        out = base / name
        command = [
            sys.executable, "-m", "synthetics.cli", "run", "--report-dir", str(out),
            # Keep any history the run itself may record away from the checkout.
            "--set", f"history.url=sqlite:///{base}/runs-history.sqlite", *extra,
        ]  # fmt: skip
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == expected, f"{name}: {done.stdout[-2000:]}{done.stderr[-999:]}"
        found[name] = RunResult.read(out / "results.json")
    return found
