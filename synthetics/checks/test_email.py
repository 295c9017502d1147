"""The confirmation email reaches the test inbox, with its link."""

from __future__ import annotations

import pytest

from synthetics.journey import Journey
from synthetics.plugin import CheckRecord


@pytest.mark.check("email.delivery")
def test_delivery(journey: Journey, check: CheckRecord) -> None:
    email = journey.email()
    check.measure(**email.measurements)
    check.note(email.message, **email.evidence)
    assert email.ok, email.message
