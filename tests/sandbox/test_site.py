"""The sandbox's app site: association files that pass the app-links validation, and the
`site.app_links` fault breaking them each way production breaks them (over real HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from synthetics.deeplink.app_links import AASA_PATH, ASSETLINKS_PATH, Fetched, verify
from synthetics.sandbox.faults import FaultState
from synthetics.sandbox.server import SandboxInfo
from synthetics.sandbox.site import DEMO_FINGERPRINT, SiteSettings, site_app

APP = SiteSettings().apple_app_ids[0]
PACKAGE = SiteSettings().android_packages[0]
REDIRECT = "https://app.mamapace.com/auth-callback"


def fetcher(site: str) -> Callable[[str], Fetched]:
    """GET as Apple's and Google's fetchers do: one request, redirects not followed."""

    def fetch(path: str) -> Fetched:
        response = httpx.get(site + path, follow_redirects=False)
        return Fetched(
            path,
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            response.headers.get("location"),
        )

    return fetch


def check(site: str, redirect: str = REDIRECT) -> list[str]:
    problems, _ = verify(
        fetcher(site),
        redirect=redirect,
        apple_app_ids=[APP],
        android_packages=[PACKAGE],
        android_fingerprints=[DEMO_FINGERPRINT],
    )
    return problems


def test_the_site_serves_valid_association_files(info: SandboxInfo) -> None:
    assert info.site_url.startswith("http://127.0.0.1:")
    assert check(info.site_url) == []


def test_the_callback_page_never_echoes_the_link(info: SandboxInfo) -> None:
    page = httpx.get(f"{info.site_url}/auth-callback?code=secret-code-value")
    assert page.status_code == 200
    assert "secret-code-value" not in page.text


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("broken_json", ["apple-app-site-association is not valid JSON", "assetlinks.json is not"]),
        (
            "wrong_type",
            [
                "apple-app-site-association is served as text/html, not application/json",
                "assetlinks.json is served as text/html",
            ],
        ),
        ("redirect", ["apple-app-site-association answers 301", "assetlinks.json answers 301"]),
        (
            "missing_app",
            [
                f"apple-app-site-association does not name {APP}",
                f"assetlinks.json has no handle_all_urls statement for {PACKAGE}",
            ],
        ),
        ("path_uncovered", [f"names {APP} but does not cover the callback path /auth-callback"]),
    ],
)
def test_each_app_links_fault_is_caught(
    info: SandboxInfo, faults: Callable[..., None], kind: str, expected: list[str]
) -> None:
    faults(f"site.app_links={kind}")
    problems = check(info.site_url)
    assert len(problems) == len(expected), problems
    for want, found in zip(expected, problems, strict=True):
        assert want in found


def test_a_redirect_fault_still_serves_the_files_where_it_points(
    info: SandboxInfo, faults: Callable[..., None]
) -> None:
    # A client that follows redirects would be fooled: the check must not be one of them.
    faults("site.app_links=redirect")
    followed = httpx.get(f"{info.site_url}/.well-known/assetlinks.json", follow_redirects=True)
    assert followed.status_code == 200 and followed.json()[0]["target"]["package_name"] == PACKAGE


def test_the_site_serves_the_configured_app_and_path() -> None:
    site = SiteSettings(
        apple_app_ids=("QWERT12345.com.example.app",),
        android_packages=("com.example.app",),
        android_sha256_fingerprints=(":".join(["0F"] * 32),),
        callback_path="/links/confirm",
    )

    async def serve() -> dict[str, httpx.Response]:
        # The site's app in-process, through httpx's ASGI transport.
        transport = httpx.ASGITransport(app=site_app(site, FaultState()))
        async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
            return {path: await client.get(path) for path in (AASA_PATH, ASSETLINKS_PATH)}

    answers = asyncio.run(serve())

    def fetch(path: str) -> Fetched:
        answer = answers[path]
        return Fetched(path, answer.status_code, answer.headers["content-type"], answer.content)

    configured = {
        "apple_app_ids": ["QWERT12345.com.example.app"],
        "android_packages": ["com.example.app"],
        "android_fingerprints": [":".join(["0F"] * 32)],
    }
    assert verify(fetch, redirect="https://example.org/links/confirm", **configured)[0] == []
    problems, _ = verify(fetch, redirect="https://example.org/auth-callback", **configured)
    assert problems == [
        "apple-app-site-association names QWERT12345.com.example.app but does not cover the "
        "callback path /auth-callback"
    ]
