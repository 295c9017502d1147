"""The app's website, as the sandbox plays it: the association files that make an https redirect a
universal link (iOS) or a verified App Link (Android), and the page behind the callback.

It listens on a loopback port of its own (`SandboxInfo.site_url`) and answers for whatever host
the redirect names, as the app's domain would. The `site.app_links=KIND` fault breaks both files
the ways they break in production:

    broken_json     the body is cut off mid-document
    wrong_type      served as text/html (a single-page app's catch-all route)
    redirect        a 301 to another path (Apple's and Google's fetchers do not follow it)
    missing_app     the files name another app than the configured one
    path_uncovered  the AASA covers other paths, not the callback
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from synthetics.sandbox.faults import FaultState

AASA_PATH = "/.well-known/apple-app-site-association"
ASSETLINKS_PATH = "/.well-known/assetlinks.json"
#: Where the `redirect` fault sends the fetchers (it serves the same files there).
MOVED_PREFIX = "/moved"
#: A made-up release-key fingerprint for the sandbox's Mamapace build (not a real certificate).
DEMO_FINGERPRINT = ":".join(["5C"] * 16 + ["A7"] * 16)
_OTHER_APPLE_APP = "ZZZZZ99999.com.example.other"
_OTHER_PACKAGE = "com.example.other"


@dataclass(frozen=True)
class SiteSettings:
    """Which app the site associates with its links, and which path the app handles."""

    apple_app_ids: tuple[str, ...] = ("ABCDE12345.com.mamapace.app",)
    android_packages: tuple[str, ...] = ("com.mamapace.app",)
    android_sha256_fingerprints: tuple[str, ...] = (DEMO_FINGERPRINT,)
    callback_path: str = "/auth-callback"


def apple_app_site_association(settings: SiteSettings, fault: str | None = None) -> dict[str, Any]:
    """The AASA document (iOS 13+ `appIDs` + `components`) the site serves."""
    app_ids = [_OTHER_APPLE_APP] if fault == "missing_app" else list(settings.apple_app_ids)
    path = "/share/*" if fault == "path_uncovered" else settings.callback_path
    return {
        "applinks": {
            "details": [
                {
                    "appIDs": app_ids,
                    "components": [{"/": path, "comment": "email confirmation hand-off"}],
                }
            ]
        }
    }


def asset_links(settings: SiteSettings, fault: str | None = None) -> list[dict[str, Any]]:
    """The Digital Asset Links statements the site serves."""
    packages = [_OTHER_PACKAGE] if fault == "missing_app" else list(settings.android_packages)
    return [
        {
            "relation": ["delegate_permission/common.handle_all_urls"],
            "target": {
                "namespace": "android_app",
                "package_name": package,
                "sha256_cert_fingerprints": list(settings.android_sha256_fingerprints),
            },
        }
        for package in packages
    ]


def _serve(document: Any, fault: str | None) -> Response:
    body = json.dumps(document, indent=2)
    if fault == "broken_json":
        body = body[: len(body) // 2]
    media_type = "text/html; charset=utf-8" if fault == "wrong_type" else "application/json"
    return Response(body, media_type=media_type)


def site_app(settings: SiteSettings, faults: FaultState) -> Starlette:
    """The site's HTTP app."""

    def fault() -> str | None:
        return faults.value("site.app_links")

    async def aasa(request: Request) -> Response:
        if fault() == "redirect" and not request.url.path.startswith(MOVED_PREFIX):
            return RedirectResponse(MOVED_PREFIX + AASA_PATH, status_code=301)
        return _serve(apple_app_site_association(settings, fault()), fault())

    async def assetlinks(request: Request) -> Response:
        if fault() == "redirect" and not request.url.path.startswith(MOVED_PREFIX):
            return RedirectResponse(MOVED_PREFIX + ASSETLINKS_PATH, status_code=301)
        return _serve(asset_links(settings, fault()), fault())

    async def callback(request: Request) -> Response:
        # What a phone without the app shows; it never echoes the link's parameters.
        return HTMLResponse(
            "<!doctype html><title>Mamapace</title><h1>Open Mamapace</h1>"
            "<p>Your email is confirmed. Open the Mamapace app to continue.</p>"
        )

    return Starlette(
        routes=[
            Route(AASA_PATH, aasa),
            Route(MOVED_PREFIX + AASA_PATH, aasa),
            Route(ASSETLINKS_PATH, assetlinks),
            Route(MOVED_PREFIX + ASSETLINKS_PATH, assetlinks),
            Route(settings.callback_path or "/", callback),
        ]
    )
