"""Every configured v2 RPC answers correctly, and fast enough, with a real user's session."""

from __future__ import annotations

import pytest

from synthetics.checks.app_flow import RpcFlow
from synthetics.journey import Journey
from synthetics.plugin.api import CheckRecord
from synthetics.runtime import Runtime


@pytest.fixture(scope="session")
def rpc_flow(synthetics: Runtime, journey: Journey) -> RpcFlow:
    """The app's RPC flow for this run."""
    return RpcFlow(journey, list(synthetics.settings.config.rpc.functions))


@pytest.mark.check("rpc")
def test_rpc(rpc_flow: RpcFlow, rpc_function: str, check: CheckRecord) -> None:
    check.report(rpc_flow.result(rpc_function))
