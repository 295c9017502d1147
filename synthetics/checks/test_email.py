"""The confirmation email reaches the test inbox, with its link."""

from __future__ import annotations

import pytest

from synthetics.journey import Journey
from synthetics.plugin.api import CheckRecord


@pytest.mark.check("email.delivery")
def test_delivery(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.email())
