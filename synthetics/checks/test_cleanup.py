"""Every throwaway user of the run is deleted."""

from __future__ import annotations

import pytest

from synthetics.plugin import CheckRecord
from synthetics.runtime import Runtime


@pytest.mark.check("cleanup")
def test_cleanup(synthetics: Runtime, check: CheckRecord) -> None:
    api = synthetics.api
    assert api is not None
    created = synthetics.users.created()
    if not api.has_admin:
        addresses = ", ".join(u.email for u in created) or "none"
        pytest.skip(
            f"no service-role key: cannot delete the run's throwaway users ({addresses}); "
            "delete them in the dashboard or configure service_role_key"
        )
    ids = [u.id for u in created if u.id]
    deleted, problems = synthetics.delete_users()
    assert not problems, "throwaway users left behind: " + "; ".join(problems)
    for user_id in ids:
        assert user_id is not None
        gone = api.admin_get_user(user_id)
        assert gone.status == 404, f"a deleted user still answers {gone.status}"
    check.note(f"deleted {deleted} throwaway user(s) and verified they are gone")
