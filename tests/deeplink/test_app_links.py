"""Universal-link and App Link association files: good and broken, rule by rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from synthetics.deeplink.app_links import (
    AASA_PATH,
    ASSETLINKS_PATH,
    Fetched,
    aasa_covers,
    aasa_problems,
    assetlinks_problems,
    pattern_matches,
    read_json,
    verify,
)

APP = "ABCDE12345.com.mamapace.app"
PACKAGE = "com.mamapace.app"
PRINT = ":".join(["5C"] * 32)
OTHER_PRINT = ":".join(["A7"] * 32)
LOGIN_CREDS = "delegate_permission/common.get_login_creds"

AASA = {
    "applinks": {
        "details": [{"appIDs": [APP], "components": [{"/": "/auth-callback", "comment": "x"}]}]
    }
}
LEGACY_AASA = {"applinks": {"apps": [], "details": [{"appID": APP, "paths": ["/auth-*"]}]}}
ASSETLINKS = [
    {
        "relation": ["delegate_permission/common.handle_all_urls"],
        "target": {
            "namespace": "android_app",
            "package_name": PACKAGE,
            "sha256_cert_fingerprints": [PRINT],
        },
    }
]


def served(path: str, document: Any, **overrides: Any) -> Fetched:
    fields: dict[str, Any] = {
        "status": 200,
        "content_type": "application/json",
        "body": json.dumps(document).encode(),
    }
    fields.update(overrides)
    return Fetched(path, **fields)


@pytest.mark.parametrize(
    ("fetched", "problem"),
    [
        (served(AASA_PATH, AASA), None),
        (served(AASA_PATH, AASA, content_type="application/json; charset=utf-8"), None),
        (
            served(AASA_PATH, AASA, content_type="text/html"),
            "apple-app-site-association is served as text/html, not application/json",
        ),
        (served(AASA_PATH, AASA, content_type=""), "served as no content type"),
        (
            served(AASA_PATH, AASA, status=301, location="https://www.mamapace.com/x"),
            "answers 301 (redirect to https://www.mamapace.com/x): Apple's and Google's "
            "fetchers do not follow redirects",
        ),
        (served(ASSETLINKS_PATH, [], status=404), "assetlinks.json answers 404 (missing)"),
        (served(ASSETLINKS_PATH, [], status=500), "assetlinks.json answers 500"),
        (served(ASSETLINKS_PATH, [], body=b'[{"relation": '), "assetlinks.json is not valid JSON"),
        (served(AASA_PATH, AASA, body=b"\xff\xfe"), "is not valid JSON"),
        (
            served(AASA_PATH, AASA, body=b" " * (128 * 1024 + 1) + b"{}"),
            "Apple ignores files over 128 KB",
        ),
    ],
)
def test_how_the_files_are_served(fetched: Fetched, problem: str | None) -> None:
    document, problems = read_json(fetched)
    if problem is None:
        assert problems == [] and document is not None
    else:
        assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("/auth-callback", "/auth-callback", True),
        ("/auth-callback", "/auth-callback/", False),
        ("/auth-*", "/auth-callback", True),
        ("/*", "/deep/er/path", True),  # `*` crosses slashes
        ("/auth-callbac?", "/auth-callback", True),
        ("/auth-callbac?", "/auth-callbac", False),
        ("/a.b", "/axb", False),  # only * and ? are special
        ("/Auth-Callback", "/auth-callback", False),
    ],
)
def test_apple_wildcards(pattern: str, value: str, matches: bool) -> None:
    assert pattern_matches(pattern, value) is matches


@pytest.mark.parametrize(
    ("entry", "covered"),
    [
        ({"components": [{"/": "/auth-callback"}]}, True),
        ({"components": [{"/": "/share/*"}]}, False),
        ({"components": [{"/": "/auth-*", "exclude": True}, {"/": "*"}]}, False),
        ({"components": [{"/": "/auth-*", "exclude": True, "?": {"x": "1"}}, {"/": "*"}]}, True),
        ({"components": [{"/": "/AUTH-CALLBACK", "caseSensitive": False}]}, True),
        ({"components": [{"?": {"code": "*"}}]}, True),  # no "/" matches every path
        ({"components": ["/auth-callback", {"/": 3}]}, False),
        ({"paths": ["NOT /auth-callback", "*"]}, False),
        ({"paths": ["/share/*", "/auth-*"]}, True),
        ({"paths": "/auth-callback"}, False),
        ({}, False),
    ],
)
def test_aasa_path_coverage(entry: dict[str, Any], covered: bool) -> None:
    assert aasa_covers(entry, "/auth-callback") is covered


@pytest.mark.parametrize(
    ("document", "problems"),
    [
        (AASA, []),
        (LEGACY_AASA, []),
        (
            {"applinks": {"details": [{"appIDs": ["ZZZZZ99999.other"], "components": []}]}},
            [f"apple-app-site-association does not name {APP}"],
        ),
        (
            {"applinks": {"details": [{"appIDs": [APP], "components": [{"/": "/share/*"}]}]}},
            [
                f"apple-app-site-association names {APP} but does not cover the callback path "
                "/auth-callback"
            ],
        ),
        ({"webcredentials": {"apps": [APP]}}, ["has no applinks.details list"]),
        ([AASA], ["has no applinks.details list"]),
    ],
)
def test_aasa_names_the_app_for_the_callback(document: Any, problems: list[str]) -> None:
    found = aasa_problems(document, [APP], "/auth-callback")
    assert len(found) == len(problems)
    for problem, message in zip(problems, found, strict=True):
        assert problem in message


def statement(**target: Any) -> list[dict[str, Any]]:
    """The good statement with some target fields changed."""
    return [
        {"relation": ASSETLINKS[0]["relation"], "target": {**ASSETLINKS[0]["target"], **target}}
    ]


@pytest.mark.parametrize(
    ("document", "fingerprints", "problem"),
    [
        (ASSETLINKS, [PRINT], None),
        (ASSETLINKS, [PRINT.lower()], None),
        (ASSETLINKS, [], None),
        (statement(package_name="com.example.other"), [PRINT], "no handle_all_urls statement"),
        (statement(namespace="web"), [PRINT], "no handle_all_urls statement"),
        (
            [{"relation": [LOGIN_CREDS], "target": ASSETLINKS[0]["target"]}],
            [PRINT],
            "no handle_all_urls statement",
        ),
        (ASSETLINKS, [OTHER_PRINT], f"does not list the signing certificate {OTHER_PRINT}"),
        (statement(sha256_cert_fingerprints="nope"), [PRINT], "does not list the signing"),
        ({"relation": []}, [PRINT], "is not a list of statements"),
    ],
)
def test_assetlinks_verify_the_package(
    document: Any, fingerprints: list[str], problem: str | None
) -> None:
    found = assetlinks_problems(document, [PACKAGE], fingerprints)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


def test_verify_fetches_only_what_the_configured_apps_need() -> None:
    asked: list[str] = []

    def fetch(path: str) -> Fetched:
        asked.append(path)
        return served(path, AASA if path == AASA_PATH else ASSETLINKS)

    problems, checked = verify(
        fetch, redirect="https://app.mamapace.com/auth-callback", apple_app_ids=[APP]
    )
    assert (problems, asked) == ([], [AASA_PATH])
    assert checked == [f"apple-app-site-association ({APP})"]
    problems, _ = verify(
        fetch,
        redirect="https://app.mamapace.com/elsewhere",
        apple_app_ids=[APP],
        android_packages=[PACKAGE],
        android_fingerprints=[OTHER_PRINT],
    )
    assert asked[1:] == [AASA_PATH, ASSETLINKS_PATH]
    assert len(problems) == 2
    assert "does not cover the callback path /elsewhere" in problems[0]
    assert OTHER_PRINT in problems[1]
