"""GoTrue's redirect allow-list: which `redirect_to` values Auth honours; its glob rules.

A redirect is accepted when it matches the Site URL's scheme, host and port (any port for
localhost), when its host is a loopback IP (any other IP literal is refused), or when it matches an
allow-list glob. Globs use `.` and `/` as
separators: `*` matches a run without them, `**` anything, `?` one non-separator character;
`[...]` and `{a,b}` work as in shells. Anything else falls back to the Site URL: that silent
fallback is how a removed "Additional Redirect URL" shows up in production.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

#: utilities.isLocalhost: hosts whose port may differ from the Site URL's (RFC 8252, 7.3).
_LOCALHOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}  # noqa: S104 - names, not binds
_DECIMAL_IP = re.compile(r"[0-9]+")
_REGULAR_HOSTNAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?")


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


def _hostname(netloc: str) -> str:
    """Go's URL.Hostname(): userinfo and port dropped, IPv6 brackets removed, case kept."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end != -1 else host[1:]
    name, colon, port = host.rpartition(":")
    if colon and (port == "" or port.isdigit()):
        return name
    return host


def is_redirect_allowed(redirect: str, site_url: str, allow_list: Iterable[str]) -> bool:
    """Whether GoTrue would honour `redirect` as a redirect target (utilities.IsRedirectURLValid).

    In order: the Site URL's scheme, host and port (any port for localhost); a decimal-number
    host is refused; an IP literal is allowed only if it is loopback; an http(s) host with
    unusual characters is refused; then the allow-list globs, matched against the URL as given
    up to any `#`.
    """
    if not redirect:
        return False
    try:
        ref = urlsplit(redirect)
        base = urlsplit(site_url)
        ref_port, base_port = ref.port, base.port
    except ValueError:
        return False
    ref_host, base_host = _hostname(ref.netloc), _hostname(base.netloc)
    if (
        ref_host == base_host
        and ref.scheme == base.scheme
        and (ref_port == base_port or ref_host.lower() in _LOCALHOSTS)
    ):
        return True
    if _DECIMAL_IP.fullmatch(ref_host):
        return False
    try:
        address = ipaddress.ip_address(ref_host)
    except ValueError:
        pass
    else:
        return address.is_loopback
    if ref.scheme in ("http", "https") and not _REGULAR_HOSTNAME.fullmatch(ref_host):
        return False
    without_fragment = redirect.split("#", 1)[0]
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
