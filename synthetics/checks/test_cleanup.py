"""Every throwaway user of the run, and the rows it owns where nothing cascades, is deleted and
verified gone."""

from __future__ import annotations

import pytest

from synthetics.plugin.api import CheckRecord
from synthetics.runtime import Runtime


@pytest.mark.check("cleanup")
def test_cleanup(synthetics: Runtime, check: CheckRecord) -> None:
    assert synthetics.api is not None
    if not synthetics.api.has_admin:
        addresses = ", ".join(u.email for u in synthetics.users.users) or "none"
        pytest.skip(
            f"no service-role key: cannot delete the run's throwaway users ({addresses}); "
            "delete them in the dashboard or configure service_role_key"
        )
    report = synthetics.clean_up()
    check.measure(
        users_deleted=report.users_deleted, rows_deleted=sum(report.rows_deleted.values())
    )
    passed, reason, message = report.verdict()
    if not passed:
        check.fail(message, reason)
    check.note(message)
