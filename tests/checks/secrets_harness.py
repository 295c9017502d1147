"""Run the checks in this process and hand the run's secrets to the test that started us.

Usage: python -m tests.checks.secrets_harness SECRETS_FILE PYTEST_ARGS...
The secrets go to SECRETS_FILE (a test's temporary file) so that the test can search every output
of the run for them; the run's own outputs are produced exactly as `synthetics run` makes them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from synthetics.plugin import RUNTIME


class Capture:
    """Keeps the run's Runtime when the session ends."""

    runtime: Any = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.runtime = session.config.stash.get(RUNTIME, None)


def main() -> int:
    """Run, then write the secrets and what is left of the run's users."""
    secrets_file, *args = sys.argv[1:]
    capture = Capture()
    code = int(pytest.main(args, plugins=[capture]))
    runtime = capture.runtime
    with open(secrets_file, "w", encoding="utf-8") as out:
        json.dump(
            {
                "secrets": sorted(runtime.redactor.values()) if runtime else [],
                "users_left": [u.email for u in runtime.users.created()] if runtime else [],
            },
            out,
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
