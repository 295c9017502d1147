"""GoTrue's redirect allow-list: which `redirect_to` values Auth honours; its glob rules.

A redirect is accepted when it matches the Site URL's host (and port, except for localhost),
when its host is a loopback IP, or when it matches an allow-list glob. Globs use `.` and `/` as
separators: `*` matches a run without them, `**` anything, `?` one non-separator character;
`[...]` and `{a,b}` work as in shells. Anything else falls back to the Site URL: that silent
fallback is how a removed "Additional Redirect URL" shows up in production.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

_LOCALHOSTS = {"localhost", "127.0.0.1", "::1"}


@functools.lru_cache(maxsize=256)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Translate one allow-list glob into an anchored regular expression."""
    out: list[str] = []
    i = 0
    depth = 0  # inside {a,b}
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append(r"[^./]*")
        elif ch == "?":
            out.append(r"[^./]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
                continue
        elif ch == "{":
            depth += 1
            out.append("(?:")
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
        elif ch == "," and depth:
            out.append("|")
        elif ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def is_redirect_allowed(redirect: str, site_url: str, allow_list: Iterable[str]) -> bool:
    """Whether GoTrue would honour `redirect` as a redirect target."""
    if not redirect:
        return False
    try:
        ref = urlsplit(redirect)
        base = urlsplit(site_url)
        ref_host = ref.hostname or ""
        ref_port, base_port = ref.port, base.port
    except ValueError:
        return False
    same_site = ref_host and ref_host == base.hostname and ref.scheme == base.scheme
    if same_site and (ref_host in _LOCALHOSTS or ref_port == base_port):
        return True
    if ref_host:
        try:
            address = ipaddress.ip_address(ref_host)
        except ValueError:
            pass
        else:
            # Loopback addresses are always allowed; any other IP literal never is.
            return address.is_loopback
    without_fragment = urlunsplit((ref.scheme, ref.netloc, ref.path, ref.query, ""))
    return any(glob_to_regex(p).match(without_fragment) for p in allow_list)


def resolve_redirect(
    candidates: Iterable[str | None], site_url: str, allow_list: Iterable[str]
) -> str:
    """The first allowed candidate (header, query, Referer order), else the Site URL."""
    allowed = tuple(allow_list)
    for candidate in candidates:
        if candidate and is_redirect_allowed(candidate, site_url, allowed):
            return candidate
    return site_url
