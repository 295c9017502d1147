"""GoTrue's redirect allow-list (reference C1), table-driven: globs, Site URL, IP literals."""

from __future__ import annotations

import pytest

from synthetics.sandbox.redirects import glob_to_regex, is_redirect_allowed, resolve_redirect

SITE = "https://app.mamapace.com"
APP = "mamapace://auth-callback"


@pytest.mark.parametrize(
    ("pattern", "url", "matches"),
    [
        # `*`: any run of characters without `.` or `/`
        ("https://app.com/*", "https://app.com/a", True),
        ("https://app.com/*", "https://app.com/a/b", False),
        ("https://app.com/*", "https://app.com/a.b", False),
        ("https://*.app.com", "https://preview.app.com", True),
        ("https://*.app.com", "https://a.b.app.com", False),
        # `**`: anything, separators included
        ("https://app.com/**", "https://app.com/a/b.c/d", True),
        ("https://**.app.com", "https://a.b.app.com", True),
        ("mamapace://**", "mamapace://auth-callback", True),
        ("mamapace://**", "mamapace://auth-callback?next=/feed", True),
        ("mamapace://**", "other://auth-callback", False),
        # `?`: exactly one non-separator character
        ("https://app?.com", "https://app1.com", True),
        ("https://app?.com", "https://app.com", False),
        ("https://app?.com", "https://app12.com", False),
        ("https://app.com/?", "https://app.com//", False),
        # `[...]` classes, `[!...]` negated
        ("https://app[0-9].com", "https://app7.com", True),
        ("https://app[0-9].com", "https://appx.com", False),
        ("https://app[!0-9].com", "https://appx.com", True),
        ("https://app[!0-9].com", "https://app7.com", False),
        # `{a,b}` alternatives, which may hold globs themselves
        ("https://{www,app}.mamapace.com", "https://app.mamapace.com", True),
        ("https://{www,app}.mamapace.com", "https://api.mamapace.com", False),
        ("https://{*.preview,app}.com/cb", "https://pr1.preview.com/cb", True),
        # literal characters are literal
        ("https://app.com", "https://appxcom", False),
        ("https://app.com/cb", "https://app.com/cb", True),
        ("https://app.com/cb", "https://app.com/cb?x=1", False),
        (APP, APP, True),
        (APP, APP + "/", False),
    ],
)
def test_glob_to_regex(pattern: str, url: str, matches: bool) -> None:
    assert bool(glob_to_regex(pattern).match(url)) is matches


ALLOW = (APP, "https://preview-*.mamapace.dev/**", "http://localhost:3000/*")


@pytest.mark.parametrize(
    ("redirect", "allowed"),
    [
        # the allow-list: exact custom-scheme entry, no extras
        (APP, True),
        (APP + "?x=1", False),
        (APP + "/extra", False),
        ("mamapace://other", False),
        # the fragment is ignored when matching, the query is not
        (APP + "#section", True),
        ("https://preview-42.mamapace.dev/auth/cb#frag", True),
        ("https://preview-42.mamapace.dev", False),
        ("https://preview-4.2.mamapace.dev/x", False),
        # Site URL: same scheme, host and port; path and query are free
        (SITE, True),
        (SITE + "/welcome?from=mail", True),
        ("http://app.mamapace.com/welcome", False),
        ("https://app.mamapace.com:8443/welcome", False),
        ("https://evil.com/app.mamapace.com", False),
        ("https://app.mamapace.com.evil.com/", False),
        # loopback IP literals always pass; any other IP literal never does
        ("http://127.0.0.1:9999/cb", True),
        ("http://[::1]:8080/cb", True),
        ("http://10.0.0.1/cb", False),
        ("http://192.168.1.20:3000/", False),
        ("http://2130706433/", False),  # decimal IP
        # localhost is not a loopback IP: it needs its allow-list entry (port matters there)
        ("http://localhost:3000/cb", True),
        ("http://localhost:3001/cb", False),
        # hosts with unusual characters are refused for http(s)
        ("https://app_mamapace.com/", False),
        ("", False),
        ("https://app.mamapace.com:notaport/", False),
    ],
)
def test_is_redirect_allowed(redirect: str, allowed: bool) -> None:
    assert is_redirect_allowed(redirect, SITE, ALLOW) is allowed


BROAD = ("https://**", "http://**", "mamapace://**")


@pytest.mark.parametrize(
    ("redirect", "allowed"),
    [
        # checks that come before the globs, so even a catch-all entry cannot let these through
        ("http://10.0.0.1/cb", False),
        ("http://2130706433/cb", False),  # 127.0.0.1 as one decimal number
        ("https://app_mamapace.com/cb", False),
        ("https://exa mple.com/cb", False),
        ("https://example.com/cb", True),
        # the glob sees the URL as given, cut at `#` (an empty `?` is kept)
        ("mamapace://auth-callback?#x", True),
    ],
)
def test_checks_before_the_globs(redirect: str, allowed: bool) -> None:
    assert is_redirect_allowed(redirect, SITE, BROAD) is allowed


def test_glob_sees_the_raw_url() -> None:
    assert is_redirect_allowed(APP + "#x", SITE, (APP,))
    assert not is_redirect_allowed(APP + "?#x", SITE, (APP,))


@pytest.mark.parametrize(
    ("site", "redirect", "allowed"),
    [
        # a localhost Site URL accepts any port (RFC 8252 native apps), others must match
        ("http://localhost:3000", "http://localhost:5173/cb", True),
        ("http://127.0.0.1:3000", "http://127.0.0.1:5173/cb", True),
        ("http://0.0.0.0:3000", "http://0.0.0.0:5173/cb", True),
        # Go compares the host as written: a differently cased host is not the Site URL
        ("https://app.mamapace.com", "https://APP.mamapace.com/x", False),
        ("http://localhost:3000", "https://localhost:3000/cb", False),
        ("https://app.mamapace.com:8443", "https://app.mamapace.com:8443/x", True),
        ("https://app.mamapace.com:8443", "https://app.mamapace.com/x", False),
    ],
)
def test_site_url_ports(site: str, redirect: str, allowed: bool) -> None:
    assert is_redirect_allowed(redirect, site, ()) is allowed


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ((APP, None), APP),
        ((None, APP), APP),
        (("https://evil.com", APP), APP),
        (("https://evil.com", "https://evil.org"), SITE),
        ((None, None), SITE),
    ],
)
def test_resolve_redirect_falls_back_to_site(
    candidates: tuple[str | None, ...], expected: str
) -> None:
    assert resolve_redirect(candidates, SITE, ALLOW) == expected
