"""The emailed link brings the user back into the app through its deep link."""

from __future__ import annotations

import pytest

from synthetics.journey import Journey
from synthetics.plugin import CheckRecord


@pytest.mark.check("deeplink.redirect")
def test_redirect(journey: Journey, check: CheckRecord) -> None:
    redirect = journey.redirect()
    check.measure(**redirect.measurements)
    check.note(redirect.message, **redirect.evidence)
    assert redirect.ok, redirect.message
