"""One in-process sandbox on free ports for the whole test session."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
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


@pytest.fixture
def auth(info: SandboxInfo) -> Iterator[httpx.Client]:
    """A raw-HTTP client of /auth/v1 carrying the anon apikey, as supabase-py sends it."""
    with httpx.Client(
        base_url=f"{info.api_url}/auth/v1", headers={"apikey": info.anon_key}, timeout=10
    ) as client:
        yield client


@pytest.fixture
def admin(info: SandboxInfo) -> Iterator[httpx.Client]:
    """A service-role raw-HTTP client of /auth/v1."""
    key = info.service_role_key
    with httpx.Client(
        base_url=f"{info.api_url}/auth/v1",
        headers={"apikey": key, "Authorization": f"Bearer {key}"},
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
def cleanup(admin: httpx.Client) -> Iterator[list[str]]:
    """User ids to delete once the test is over."""
    ids: list[str] = []
    yield ids
    for user_id in ids:
        admin.delete(f"/admin/users/{user_id}")
