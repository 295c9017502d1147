"""The emailed link brings the user back into the app through its deep link."""

from __future__ import annotations

import pytest

from synthetics.deeplink.app_links import Fetched, verify
from synthetics.journey import Journey, NotApplicable
from synthetics.plugin.api import CheckRecord
from synthetics.runtime import Runtime


@pytest.mark.check("deeplink.redirect")
def test_redirect(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.redirect())


@pytest.mark.check("deeplink.browser")
def test_browser(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.browser_click())


@pytest.mark.check("deeplink.single_use")
def test_single_use(journey: Journey, check: CheckRecord) -> None:
    check.report(journey.second_click())


@pytest.mark.check("deeplink.app_links")
def test_app_links(synthetics: Runtime, check: CheckRecord) -> None:
    deeplink = synthetics.settings.config.deeplink
    if not deeplink.universal:
        raise NotApplicable(
            f"does not apply: the redirect {deeplink.redirect} is a custom scheme, not a "
            "universal link or App Link"
        )
    if not (deeplink.apple_app_ids or deeplink.android_packages):
        raise NotApplicable(
            "does not apply: no deeplink.apple_app_ids or deeplink.android_packages configured "
            "for the https redirect"
        )
    assert synthetics.http is not None
    http, site = synthetics.http, synthetics.app_site()

    def fetch(path: str) -> Fetched:
        # As Apple's and Google's fetchers do: one GET, redirects not followed.
        call = http.request("GET", site + path, label=f"GET {path}")
        headers = call.response.headers
        return Fetched(
            path,
            call.status,
            headers.get("content-type", ""),
            call.response.content,
            headers.get("location"),
        )

    problems, checked = verify(
        fetch,
        redirect=deeplink.redirect,
        apple_app_ids=deeplink.apple_app_ids,
        android_packages=deeplink.android_packages,
        android_fingerprints=deeplink.android_sha256_fingerprints,
    )
    check.note(f"{' and '.join(checked)} on {site} cover {deeplink.redirect}", site=site)
    assert not problems, "; ".join(problems)
