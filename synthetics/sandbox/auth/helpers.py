"""Request and response plumbing GoTrue's handlers share (`internal/api/helpers.go`, Go's net/url).

Request bodies are read as `retrieveRequestParams` reads them: a JSON object (or `null`), at most
1 MB, with typed fields; URLs are re-encoded as Go's `url.Values.Encode` does (keys sorted).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response

from synthetics.sandbox.auth.errors import AuthError

MAX_BODY = 1 << 20
_BEARER = re.compile(r"(?i)^bearer (\S+$)")
_GO_DURATION = re.compile(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_GO_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


async def body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """retrieveRequestParams: the body must be a JSON object (`null` counts as empty)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise AuthError(
            413, "request_entity_too_large", f"Request body too large (max {MAX_BODY} bytes)"
        )
    if optional and not raw:
        return {}
    if not raw.strip():
        raise AuthError(
            400, "bad_json", "Could not parse request body as JSON: unexpected end of JSON input"
        )
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise AuthError(400, "bad_json", f"Could not parse request body as JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = "array" if isinstance(data, list) else type(data).__name__
        raise AuthError(
            400,
            "bad_json",
            f"Could not parse request body as JSON: json: cannot unmarshal {kind} into Go"
            " value of an object",
        )
    return data


def string(body: Mapping[str, Any], key: str) -> str:
    """A string field; "" when absent or null."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AuthError(
            400, "bad_json", f"Could not parse request body as JSON: {key} must be a string"
        )
    return value


def mapping(body: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """A JSON object field; None when absent or null (Go leaves the map nil)."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise AuthError(
            400, "bad_json", f"Could not parse request body as JSON: {key} must be an object"
        )
    return value


def boolean(body: Mapping[str, Any], key: str, default: bool = False) -> bool:
    """A boolean field; `default` when absent or null."""
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise AuthError(
            400, "bad_json", f"Could not parse request body as JSON: {key} must be a boolean"
        )
    return value


def bearer(request: Request) -> str | None:
    """extractBearerToken: `Authorization: Bearer <token>`, the scheme in any case."""
    match = _BEARER.match(request.headers.get("authorization", ""))
    return match.group(1) if match else None


def go_encode(params: Sequence[tuple[str, str]]) -> str:
    """Go's url.Values.Encode: keys sorted (values kept in order), QueryEscape'd."""
    return urlencode(sorted(params, key=lambda kv: kv[0]))


def set_query(url: str, updates: Mapping[str, str]) -> str:
    """`q := u.Query(); q.Set(...); u.RawQuery = q.Encode()`: merge, replace, sort."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in updates]
    query = go_encode([*kept, *updates.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def with_fragment(url: str, params: Sequence[tuple[str, str]]) -> str:
    """`u.Fragment = hq.Encode(); u.String()`: Go escapes the encoded fragment once more."""
    parts = urlsplit(url)
    return urlunsplit((*parts[:4], go_encode(params).replace("%", "%25")))


def see_other(location: str, headers: Mapping[str, str] | None = None) -> Response:
    """Go's http.Redirect with 303 for a GET: Location plus a tiny HTML body."""
    text = f'<a href="{html.escape(location)}">See Other</a>.\n\n'
    return Response(
        text,
        status_code=303,
        media_type="text/html; charset=utf-8",
        headers={"location": location, **(headers or {})},
    )


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds: `24h`, `1h30m`, `1.5h`, `90s`, `-1h`, `0`."""
    if text in ("0", "+0", "-0"):
        return 0.0
    match = _GO_DURATION.fullmatch(text)
    if match is None:
        raise AuthError(
            400,
            "validation_failed",
            f'invalid format for ban duration: time: invalid duration "{text}"',
        )
    total = sum(
        float(amount) * _GO_DURATION_UNITS[unit]
        for amount, unit in _GO_DURATION_PART.findall(match.group(2))
    )
    return -total if match.group(1) == "-" else total
