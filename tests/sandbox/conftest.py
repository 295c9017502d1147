"""One in-process sandbox on free ports for the whole test session."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from synthetics.sandbox.server import Sandbox, SandboxInfo, settings_for_port
from synthetics.sandbox.settings import SandboxSettings


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A running sandbox (fresh database) shared by the session's tests."""
    with Sandbox(settings_for_port(SandboxSettings(), 0)) as running:
        yield running


@pytest.fixture
def info(sandbox: Sandbox) -> SandboxInfo:
    """URLs and keys of the running sandbox."""
    return sandbox.info


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[Callable[..., None]]:
    """Set faults for one test; they are cleared afterwards whatever happens."""

    def set_faults(*specs: str) -> None:
        sandbox.set_faults(specs)

    yield set_faults
    sandbox.set_faults([])


@pytest.fixture
def email() -> str:
    """A fresh address for one test."""
    return f"synthetic-{uuid.uuid4().hex[:12]}@mamapace-synthetics.dev"
