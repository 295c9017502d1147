"""Universal links (iOS) and App Links (Android): would an https redirect open the app?

The phone decides from two files on the redirect's host, which Apple's CDN and Google's verifier
fetch without following redirects:

    /.well-known/apple-app-site-association
        {"applinks": {"details": [{"appIDs": ["TEAMID.bundle"], "components": [{"/": "/path*"}]}]}}
        (the pre-iOS 13 form, `appID` + `paths` with "NOT " exclusions, is read too)
    /.well-known/assetlinks.json
        [{"relation": ["delegate_permission/common.handle_all_urls"],
          "target": {"namespace": "android_app", "package_name": "…",
                     "sha256_cert_fingerprints": ["AB:CD:…"]}}]

Everything here is pure: what was fetched goes in, problems come out, so every rule has a row in a
table test. The check supplies the fetching (`verify(fetch, …)`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

AASA_PATH = "/.well-known/apple-app-site-association"
ASSETLINKS_PATH = "/.well-known/assetlinks.json"
HANDLE_ALL_URLS = "delegate_permission/common.handle_all_urls"
#: Apple's CDN ignores larger association files.
AASA_MAX_BYTES = 128 * 1024


@dataclass(frozen=True)
class Fetched:
    """One association file as the host served it."""

    path: str
    status: int
    content_type: str = ""
    body: bytes = b""
    location: str | None = None

    @property
    def name(self) -> str:
        """The file's name, for messages."""
        return self.path.rsplit("/", 1)[-1]


def read_json(fetched: Fetched) -> tuple[Any, list[str]]:
    """The file's JSON document (None when unusable) and what is wrong with how it is served."""
    name = fetched.name
    if 300 <= fetched.status < 400:
        target = fetched.location or "nowhere"
        return None, [
            f"{name} answers {fetched.status} (redirect to {target}): Apple's and Google's "
            "fetchers do not follow redirects"
        ]
    if fetched.status != 200:
        missing = " (missing)" if fetched.status == 404 else ""
        return None, [f"{name} answers {fetched.status}{missing}"]
    problems = []
    media = fetched.content_type.split(";", 1)[0].strip().lower()
    if media != "application/json":
        problems.append(f"{name} is served as {media or 'no content type'}, not application/json")
    if fetched.path == AASA_PATH and len(fetched.body) > AASA_MAX_BYTES:
        problems.append(f"{name} is {len(fetched.body)} bytes; Apple ignores files over 128 KB")
    try:
        return json.loads(fetched.body), problems
    except (ValueError, UnicodeDecodeError) as exc:
        return None, [*problems, f"{name} is not valid JSON ({exc})"]


def pattern_matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """Apple's wildcards: `*` matches any run of characters (slashes too), `?` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.fullmatch(regex, value, flags) is not None


def aasa_covers(entry: Mapping[str, Any], path: str) -> bool:
    """Whether one `details` entry sends `path` to its apps.

    The first component (or `paths` pattern) that matches decides; an exclusion (`exclude: true`,
    a "NOT " pattern) says no. Query (`?`) and fragment (`#`) conditions are not evaluated: a
    conditional exclusion does not exclude the path as such, a conditional inclusion counts.
    """
    components = entry.get("components")
    if isinstance(components, list):
        for component in components:
            if not isinstance(component, dict):
                continue
            pattern = component.get("/", "*")
            case_sensitive = component.get("caseSensitive", True) is not False
            if not isinstance(pattern, str) or not pattern_matches(
                pattern, path, case_sensitive=case_sensitive
            ):
                continue
            if component.get("exclude") is True:
                if "?" in component or "#" in component:
                    continue
                return False
            return True
        return False
    paths = entry.get("paths")
    if isinstance(paths, list):
        for pattern in paths:
            if not isinstance(pattern, str):
                continue
            excluded = pattern.startswith("NOT ")
            if pattern_matches(pattern.removeprefix("NOT "), path):
                return not excluded
    return False


def _app_ids(entry: Mapping[str, Any]) -> list[str]:
    ids = entry.get("appIDs")
    found = [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
    single = entry.get("appID")
    return [*found, single] if isinstance(single, str) else found


def aasa_problems(document: Any, app_ids: Sequence[str], path: str) -> list[str]:
    """What keeps the AASA from opening each app in `app_ids` for `path`."""
    applinks = document.get("applinks") if isinstance(document, dict) else None
    details = applinks.get("details") if isinstance(applinks, dict) else None
    if not isinstance(details, list):
        return ["apple-app-site-association has no applinks.details list"]
    entries = [e for e in details if isinstance(e, dict)]
    problems = []
    for app_id in app_ids:
        own = [e for e in entries if app_id in _app_ids(e)]
        if not own:
            problems.append(f"apple-app-site-association does not name {app_id}")
        elif not any(aasa_covers(e, path) for e in own):
            problems.append(
                f"apple-app-site-association names {app_id} but does not cover the callback "
                f"path {path}"
            )
    return problems


def _statement_for(statement: Any, package: str) -> list[str] | None:
    """The fingerprints of a handle_all_urls statement for `package` (None if it is not one)."""
    if not isinstance(statement, dict):
        return None
    relation, target = statement.get("relation"), statement.get("target")
    if not isinstance(relation, list) or HANDLE_ALL_URLS not in relation:
        return None
    if not isinstance(target, dict) or target.get("namespace") != "android_app":
        return None
    if target.get("package_name") != package:
        return None
    prints = target.get("sha256_cert_fingerprints")
    return [p for p in prints if isinstance(p, str)] if isinstance(prints, list) else []


def assetlinks_problems(
    document: Any, packages: Sequence[str], fingerprints: Sequence[str]
) -> list[str]:
    """What keeps assetlinks.json from verifying each package (and its signing certificates)."""
    if not isinstance(document, list):
        return ["assetlinks.json is not a list of statements"]
    problems = []
    for package in packages:
        statements = [s for s in (_statement_for(st, package) for st in document) if s is not None]
        if not statements:
            problems.append(f"assetlinks.json has no handle_all_urls statement for {package}")
            continue
        listed = {p.upper() for prints in statements for p in prints}
        problems += [
            f"assetlinks.json does not list the signing certificate {fingerprint} for {package}"
            for fingerprint in fingerprints
            if fingerprint.upper() not in listed
        ]
    return problems


def verify(
    fetch: Callable[[str], Fetched],
    *,
    redirect: str,
    apple_app_ids: Sequence[str] = (),
    android_packages: Sequence[str] = (),
    android_fingerprints: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """Fetch and judge the files the configured apps need: (problems, what was checked)."""
    path = urlsplit(redirect).path or "/"
    problems: list[str] = []
    checked: list[str] = []
    if apple_app_ids:
        document, found = read_json(fetch(AASA_PATH))
        problems += found
        if document is not None:
            problems += aasa_problems(document, apple_app_ids, path)
        checked.append(f"apple-app-site-association ({', '.join(apple_app_ids)})")
    if android_packages:
        document, found = read_json(fetch(ASSETLINKS_PATH))
        problems += found
        if document is not None:
            problems += assetlinks_problems(document, android_packages, android_fingerprints)
        checked.append(f"assetlinks.json ({', '.join(android_packages)})")
    return problems, checked
