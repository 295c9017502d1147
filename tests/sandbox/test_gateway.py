"""The gateway in front of Auth and REST: which routes need an apikey."""

from __future__ import annotations

import httpx

from synthetics.sandbox.server import SandboxInfo


def test_only_the_browser_facing_auth_routes_skip_the_apikey(info: SandboxInfo) -> None:
    assert httpx.get(f"{info.api_url}/auth/v1/verify").status_code != 401
    for path in ("/auth/v1/verifyX", "/auth/v1/verify-not", "/auth/v1/health"):
        assert httpx.get(f"{info.api_url}{path}").status_code == 401, path
