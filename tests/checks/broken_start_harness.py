"""Run the checks with a sandbox that cannot start, as `synthetics run` would hand it over.

Usage: python -m tests.checks.broken_start_harness REPORT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import synthetics.checks
from synthetics import config
from synthetics.errors import SandboxError
from synthetics.targets import SandboxLauncher, plan


class BrokenLauncher(SandboxLauncher):
    """A launcher whose sandbox failed to start (what a full disk or a broken wheel looks like)."""

    def begin(self) -> SandboxLauncher:
        return self

    def wait(self) -> Any:
        raise SandboxError(
            "the sandbox did not start: embedded Postgres failed to start: disk full"
        )

    def stop(self) -> None:
        pass


def main() -> int:
    report_dir = Path(sys.argv[1])
    checks = Path(synthetics.checks.__file__).parent
    settings = config.load(sets=["deeplink.browser=off"])
    launcher = BrokenLauncher(plan(settings, report_dir=report_dir))
    args = [
        str(checks),
        "-c",
        str(checks / "pytest.ini"),
        "--rootdir",
        str(checks),
        "-q",
        "--synthetics-set",
        "deeplink.browser=off",
        "--synthetics-report-dir",
        str(report_dir),
    ]
    return int(pytest.main(args, plugins=[launcher]))


if __name__ == "__main__":
    raise SystemExit(main())
