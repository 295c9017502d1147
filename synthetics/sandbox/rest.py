"""REST under /rest/v1, speaking PostgREST v13's wire protocol (reference/supabase-api.md, E).

Every request runs in one transaction on a connection logged in as `authenticator`, which switches
to the JWT's role and publishes the claims with `set_config(..., true)` exactly as PostgREST does:
Postgres privileges and RLS make every access decision, never this module.

A request is handled in PostgREST's order: the JWT first (its errors win over everything), then the
path, the schema profile, the method, the query string, the range and the body, then the schema
cache lookup (PGRST202/PGRST205), content negotiation and finally the database.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import math
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote

import jwt
import psycopg
from psycopg import sql
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from synthetics.sandbox import openapi
from synthetics.sandbox.faults import FaultState

SCHEMA = "public"
ANON_ROLE = "anon"
_JSON_TYPE = "application/json; charset=utf-8"
_SINGULAR_TYPE = "application/vnd.pgrst.object+json"
_JWT_SKEW_S = 30  # PostgREST accepts exp/nbf/iat within 30 s of its clock
_HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
_KEYED_ALGORITHMS = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384"}
_KEYED_ALGORITHMS |= {"PS512", "EdDSA"}
_READ_RESERVED = {"select", "order", "limit", "offset", "and", "or", "not.and", "not.or"}
_RESERVED = _READ_RESERVED | {"columns", "on_conflict", "apikey"}
_SIMPLE_OPS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "like",
    "ilike": "ilike",
    "match": "~",
    "imatch": "~*",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
    "isdistinct": "is distinct from",
}
_QUANTIFIABLE = ("eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch")
_FTS = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}
_IS_VALUES = {
    "null": "null",
    "not_null": "not null",
    "true": "true",
    "false": "false",
    "unknown": "unknown",
}
_OPERATOR = re.compile(
    r"^(?:not\.)?(?:(?:eq|neq|gt|gte|lt|lte|like|ilike|match|imatch)(?:\((?:any|all)\))?"
    r"|in|is|isdistinct|cs|cd|ov|sl|sr|nxr|nxl|adj|(?:fts|plfts|phfts|wfts)(?:\(\w+\))?)\."
)
_SELECT_ITEM = re.compile(r"^(?:(?P<alias>[^:]+):(?!:))?(?P<name>[^:]+?)(?:::(?P<cast>[\w ]+))?$")
_RAW_TYPES = {"text/plain": "text", "text/xml": "xml", "application/octet-stream": "bytea"}
_FUNCTIONS_SQL = """
select p.proname as name,
       p.pronargs as nargs,
       p.pronargdefaults as ndefaults,
       coalesce(p.proargnames, '{}') as argnames,
       coalesce(p.proargmodes::text[], '{}') as argmodes,
       array(select format_type(t, null) from unnest(p.proargtypes) as t) as argtypes,
       p.proretset as returns_set,
       format_type(p.prorettype, null) as rettype,
       (rt.typtype = 'c' or coalesce(p.proargmodes::text[] && '{t,b,o}', false)) as composite,
       p.provolatile as volatility
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
where n.nspname = %s and p.prokind = 'f' and p.prorettype <> 'trigger'::regtype
order by p.oid
"""
_TABLES_SQL = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p', 'f')
order by c.oid
"""


class RestError(Exception):
    """A PostgREST error: HTTP status plus the four-key body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "details": details, "hint": hint, "message": message}
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """The error as PostgREST sends it (every error names its code in Proxy-Status)."""
        headers = {"Proxy-Status": f"PostgREST; error={self.body['code']}", **self.headers}
        return Response(
            _dumps(self.body), status_code=self.status, headers=headers, media_type=_JSON_TYPE
        )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _jwt_error(code: str, message: str) -> RestError:
    # PostgREST quotes the description with Haskell's `show`, i.e. as a JSON-style string.
    description = json.dumps(message)
    challenge = f'Bearer error="invalid_token", error_description={description}'
    return RestError(401, code, message, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True)
class Param:
    """One input parameter of a function."""

    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class Function:
    """One function of the exposed schema, as PostgREST's schema cache knows it."""

    name: str
    params: tuple[Param, ...]
    returns_set: bool
    rettype: str
    composite: bool
    volatile: bool

    @property
    def shape(self) -> str:
        """How PostgREST renders the result: void, set, scalar_set, object or scalar."""
        if self.rettype == "void":
            return "void"
        if self.returns_set:
            return "set" if self.composite else "scalar_set"
        return "object" if self.composite else "scalar"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def accepts(self, keys: set[str]) -> bool:
        """PostgREST's `matchesParams`: every required parameter given, nothing unknown."""
        if not self.params:
            return not keys
        required = {p.name for p in self.params if p.required}
        return required <= keys <= set(self.names)

    def takes_single(self, kind: str) -> bool:
        """Whether a POST body of `kind` goes whole into a single unnamed parameter."""
        if len(self.params) != 1 or self.params[0].name:
            return False
        wanted = ("json", "jsonb") if kind == "json" else (_RAW_TYPES.get(kind, ""),)
        return self.params[0].type in wanted


def status_for(sqlstate: str, message: str, authenticated: bool) -> int:
    """PostgREST's SQLSTATE → HTTP status mapping (src/PostgREST/Error.hs, pgErrorStatus)."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "53400": 500,
        "57P01": 503,
        "P0001": 400,
        "42P01": 404,
        "42P17": 500,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate == "42501":
        return 403 if authenticated else 401
    if sqlstate == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if sqlstate == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":
        role_missing = message.startswith("role") and message.endswith("does not exist")
        return 401 if role_missing else 400
    if sqlstate.startswith("PT"):
        return int(sqlstate[2:]) if sqlstate[2:].isdigit() else 500
    prefix = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500}
    prefix |= {"38": 500, "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500}
    prefix |= {"57": 500, "58": 500, "F0": 500, "HV": 500, "P0": 500, "XX": 500}
    return prefix.get(sqlstate[:2], 400)


# -- "Perhaps you meant …": Data.FuzzySet 0.2.4, as PostgREST's hints use it -------------------


def _normalized(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum() or c.isspace() or c == ",")


def _gram_vector(text: str, size: int) -> Counter[str]:
    padded = f"-{_normalized(text)}-"
    return Counter(padded[i : i + size] for i in range(len(padded) - size + 1))


def _levenshtein_ratio(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1 - previous[-1] / max(len(a), len(b))


class FuzzySet:
    """Cosine similarity of 3-grams (else 2-grams), re-ranked by Levenshtein, min score 0.33."""

    def __init__(self, values: Iterable[str]) -> None:
        self._exact: dict[str, str] = {}
        self._items: dict[int, list[tuple[float, str]]] = {2: [], 3: []}
        self._grams: dict[int, dict[str, list[tuple[int, int]]]] = {2: {}, 3: {}}
        for value in reversed(list(values)):  # fromList = foldr (flip add)
            key = value.lower()
            if key in self._exact:
                continue
            for size in (2, 3):
                vector = _gram_vector(key, size)
                index = len(self._items[size])
                for gram, count in vector.items():
                    self._grams[size].setdefault(gram, []).append((index, count))
                magnitude = math.sqrt(sum(c * c for c in vector.values()))
                self._items[size].append((magnitude, key))
            self._exact[key] = value

    def get_one(self, value: str, min_score: float = 0.33) -> str | None:
        """The closest entry, or None when nothing scores at least `min_score`."""
        key = value.lower()
        if key in self._exact:
            return self._exact[key]
        for size in (3, 2):
            query = _gram_vector(key, size)
            magnitude = math.sqrt(sum(c * c for c in query.values()))
            dots: dict[int, int] = {}
            for gram, count in query.items():
                for index, other in self._grams[size].get(gram, ()):
                    dots[index] = dots.get(index, 0) + count * other
            items = self._items[size]
            by_cosine = sorted(
                ((dot / (magnitude * items[i][0]), items[i][1]) for i, dot in sorted(dots.items())),
                key=lambda pair: -pair[0],
            )
            rescored = sorted(
                ((_levenshtein_ratio(key, entry), entry) for _, entry in by_cosine[:50]),
                key=lambda pair: -pair[0],
            )
            found = [entry for score, entry in rescored if score >= min_score]
            if found:
                return self._exact[found[0]]
        return None


# -- request pieces ------------------------------------------------------------------------------


@dataclass
class _Context:
    """Who is calling and what PostgREST publishes to SQL for this request."""

    role: str
    claims: dict[str, Any]
    method: str
    path: str
    headers: dict[str, str]
    cookies: dict[str, str]

    @property
    def authenticated(self) -> bool:
        return self.role != ANON_ROLE


@dataclass
class _Prefer:
    count: str | None = None
    representation: str | None = None

    def applied(self, *, mutation: bool = False) -> dict[str, str]:
        parts = []
        if mutation and self.representation:
            parts.append(f"return={self.representation}")
        if self.count:
            parts.append(f"count={self.count}")
        return {"Preference-Applied": ", ".join(parts)} if parts else {}


@dataclass
class _Query:
    """The parsed query string."""

    select: list[tuple[str, str | None, str | None]] | None = None  # (column, alias, cast)
    filters: list[tuple[str, str]] = field(default_factory=list)
    order: list[tuple[str, str, str | None]] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)
    columns: list[str] | None = None
    offset: int = 0
    limit: int | None = None


@dataclass
class _Media:
    singular: bool = False
    strip_nulls: bool = False

    @property
    def content_type(self) -> str:
        if self.singular:
            return f"{_SINGULAR_TYPE}{';nulls=stripped' if self.strip_nulls else ''}; charset=utf-8"
        if self.strip_nulls:
            return "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
        return _JSON_TYPE


@dataclass
class _Body:
    """An RPC or mutation payload: its kind, the argument names it carries and its value."""

    kind: str = "json"  # json | form | text/plain | text/xml | application/octet-stream
    keys: set[str] = field(default_factory=set)
    value: Any = None  # parsed JSON, form dict, or raw bytes
    raw: bytes = b""


def _bearer_token(header: str | None) -> str | None:
    """Wai's extractBearerAuth: `Bearer` (any case), then the rest minus leading spaces."""
    if header is None:
        return None
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return rest.lstrip()


def _claim_int(value: Any) -> int:
    # Scientific.toBoundedInteger: a non-integral number counts as 0.
    return int(value) if float(value).is_integer() else 0


def _check_claims(claims: Mapping[str, Any]) -> None:
    now = int(time.time())
    checks: list[tuple[str, Callable[[int], bool], str]] = [
        ("exp", lambda v: now <= v + _JWT_SKEW_S, "JWT expired"),
        ("nbf", lambda v: now >= v - _JWT_SKEW_S, "JWT not yet valid"),
        ("iat", lambda v: now >= v - _JWT_SKEW_S, "JWT issued at future"),
    ]
    for name, valid, failure in checks:
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _jwt_error("PGRST303", f"The JWT '{name}' claim must be a number")
        if not valid(_claim_int(value)):
            raise _jwt_error("PGRST303", failure)
    if "aud" in claims:
        aud = claims["aud"]
        ok = aud is None or isinstance(aud, str)
        ok = ok or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
        if not ok:
            raise _jwt_error(
                "PGRST303", "The JWT 'aud' claim must be a string or an array of strings"
            )


def _media_types(accept: str | None) -> list[str]:
    """Wai's parseHttpAccept: by q, then by specificity (semicolons minus stars), stably."""
    if not accept:
        return ["*/*"]
    ranked: list[tuple[str, float, int]] = []
    for item in accept.replace(" ", "").split(","):
        media, _, rest = item.partition(";q=")
        try:
            q = float(rest.split(";")[0]) if rest else 1.0
        except ValueError:
            q = 1.0
        ranked.append((media, q, media.count(";") - media.count("*")))
    ranked.sort(key=lambda r: (r[1], r[2]), reverse=True)
    return [r[0] for r in ranked]


def _negotiate(request: Request) -> _Media:
    accepted = _media_types(request.headers.get("accept"))
    for media in accepted:
        main, _, params = media.partition(";")
        main = main.lower()
        stripped = "nulls=stripped" in params.lower()
        if main in (_SINGULAR_TYPE, "application/vnd.pgrst.object"):
            return _Media(singular=True, strip_nulls=stripped)
        if main in ("application/vnd.pgrst.array+json", "application/vnd.pgrst.array"):
            return _Media(strip_nulls=stripped)
        if main in ("application/json", "*/*"):
            return _Media()
    raise RestError(
        406, "PGRST107", f"None of these media types are available: {', '.join(accepted)}"
    )


def _prefer(request: Request) -> _Prefer:
    prefer = _Prefer()
    for header in request.headers.getlist("prefer"):
        for token in header.split(","):
            key, _, value = token.strip().partition("=")
            if key == "count" and value in ("exact", "planned", "estimated"):
                prefer.count = value
            elif key == "return" and value in ("minimal", "representation", "headers-only"):
                prefer.representation = value
    return prefer


def _qp_error(message: str, details: str) -> RestError:
    return RestError(400, "PGRST100", message, details=details)


def _parse_query(request: Request, *, rpc_read: bool) -> _Query:
    query = _Query()
    for key, value in parse_qsl(request.url.query, keep_blank_values=True):
        if key == "apikey":  # the gateway's key (Kong strips it, hide_credentials)
            continue
        if key == "select":
            query.select = _parse_select(value)
        elif key == "order":
            query.order = _parse_order(value)
        elif key in ("limit", "offset"):
            if not value.isdigit():
                raise _qp_error(
                    f'"failed to parse {key} parameter ({value})" (line 1, column 1)',
                    'unexpected "' + value[:1] + '" expecting digit',
                )
            if key == "limit":
                query.limit = int(value)
            else:
                query.offset = int(value)
        elif key == "columns":
            query.columns = [c.strip().strip('"') for c in value.split(",") if c.strip()]
        elif key in _RESERVED:
            continue
        elif rpc_read and not _OPERATOR.match(value):
            query.args[key] = value  # an RPC argument, not a filter
        else:
            _filter_sql(sql.SQL("_"), key, value)  # parse errors come before the table lookup
            query.filters.append((key, value))
    return query


def _parse_select(raw: str) -> list[tuple[str, str | None, str | None]] | None:
    items: list[tuple[str, str | None, str | None]] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "*":
            return None
        match = _SELECT_ITEM.match(part)
        if match is None or "(" in part:
            raise _qp_error(
                f'"failed to parse select parameter ({raw})" (line 1, column 1)',
                "the sandbox supports plain columns, aliases and casts in select",
            )
        items.append((match["name"].strip('"'), match["alias"], match["cast"]))
    return items or None


def _parse_order(raw: str) -> list[tuple[str, str, str | None]]:
    terms: list[tuple[str, str, str | None]] = []
    for part in raw.split(","):
        column, *modifiers = part.strip().split(".")
        direction, nulls = "asc", None
        for modifier in modifiers:
            if modifier in ("asc", "desc"):
                direction = modifier
            elif modifier in ("nullsfirst", "nullslast"):
                nulls = "nulls first" if modifier == "nullsfirst" else "nulls last"
            else:
                raise _qp_error(
                    f'"failed to parse order ({raw})" (line 1, column {len(column) + 2})',
                    f'unexpected "{modifier[:1]}" expecting "asc", "desc", "nullsfirst" or '
                    '"nullslast"',
                )
        terms.append((column, direction, nulls))
    return terms


def _pg_array(items: Sequence[str]) -> str:
    quoted = ('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items)
    return "{" + ",".join(quoted) + "}"


def _in_values(raw: str) -> list[str]:
    """The list of `in.(a,"b,c",d)`: commas split unless inside double quotes."""
    inner = raw[1:-1]
    values: list[str] = []
    current, quoted, escaped, was_quoted = "", False, False, False
    for char in inner:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted, was_quoted = not quoted, True
        elif char == "," and not quoted:
            values.append(current if was_quoted else current.strip())
            current, was_quoted = "", False
        else:
            current += char
    if inner:
        values.append(current if was_quoted else current.strip())
    return values


def _filter_sql(
    qualifier: sql.Composable, column: str, raw: str
) -> tuple[sql.Composable, list[Any]]:
    """One `column=op.value` filter as SQL, PostgREST's operators."""
    target = sql.SQL("{}.{}").format(qualifier, sql.Identifier(column))
    negate = raw.startswith("not.")
    op, _, value = (raw[4:] if negate else raw).partition(".")
    # `eq(any)`, `like(all)`: quantified operators; `fts(english)`: a text search config.
    modifier = re.fullmatch(r"(\w+)\((\w+)\)", op)
    quant = lang = None
    if modifier and modifier[1] in _FTS:
        op, lang = modifier[1], modifier[2]
    elif modifier and modifier[2] in ("any", "all") and modifier[1] in _QUANTIFIABLE:
        op, quant = modifier[1], modifier[2]
    params: list[Any] = []
    if op in _SIMPLE_OPS and quant is None:
        if op in ("like", "ilike"):
            value = value.replace("*", "%")
        clause = sql.SQL("{} {} %s").format(target, sql.SQL(_SIMPLE_OPS[op]))
        params.append(value)
    elif quant is not None:
        # The value is a Postgres array literal, `{a,b}`; Postgres types it from the column.
        if op in ("like", "ilike"):
            value = value.replace("*", "%")
        clause = sql.SQL("{} {} {}(%s)").format(target, sql.SQL(_SIMPLE_OPS[op]), sql.SQL(quant))
        params.append(value)
    elif op == "in" and value.startswith("(") and value.endswith(")"):
        clause = sql.SQL("{} = any(%s)").format(target)
        params.append(_pg_array(_in_values(value)))
    elif op == "is" and value.lower() in _IS_VALUES:
        clause = sql.SQL("{} is {}").format(target, sql.SQL(_IS_VALUES[value.lower()]))
    elif op in _FTS:
        function = sql.SQL(_FTS[op])
        if lang:
            clause = sql.SQL("{} @@ {}(%s::regconfig, %s)").format(target, function)
            params += [lang, value]
        else:
            clause = sql.SQL("{} @@ {}(%s)").format(target, function)
            params.append(value)
    else:
        raise _qp_error(
            f'"failed to parse filter ({raw})" (line 1, column 1)',
            f'unexpected "{raw[:1]}" expecting "not" or operator (eq, gt, ...)',
        )
    if negate:
        clause = sql.SQL("not ({})").format(clause)
    return clause, params


def _where(
    qualifier: sql.Composable, filters: Sequence[tuple[str, str]]
) -> tuple[sql.Composable, list[Any]]:
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    for column, raw in filters:
        clause, values = _filter_sql(qualifier, column, raw)
        clauses.append(clause)
        params += values
    if not clauses:
        return sql.SQL("true"), params
    return sql.SQL(" and ").join(clauses), params


def _order_sql(
    qualifier: sql.Composable, order: Sequence[tuple[str, str, str | None]]
) -> sql.Composable:
    if not order:
        return sql.SQL("")
    terms = [
        sql.SQL("{}.{} {}{}").format(
            qualifier,
            sql.Identifier(column),
            sql.SQL(direction),
            sql.SQL(f" {nulls}" if nulls else ""),
        )
        for column, direction, nulls in order
    ]
    return sql.SQL("order by {}").format(sql.SQL(", ").join(terms))


def _columns_sql(
    qualifier: sql.Composable, select: list[tuple[str, str | None, str | None]] | None
) -> sql.Composable:
    if select is None:
        return sql.SQL("{}.*").format(qualifier)
    items = []
    for name, alias, cast in select:
        item: sql.Composable = sql.SQL("{}.{}").format(qualifier, sql.Identifier(name))
        if cast:
            item = sql.SQL("{}::{}").format(item, sql.SQL(cast))
        if alias or cast:
            item = sql.SQL("{} as {}").format(item, sql.Identifier(alias or name))
        items.append(item)
    return sql.SQL(", ").join(items)


def _content_range(lower: int, shown: int, total: int | None) -> tuple[int, str]:
    """PostgREST's rangeStatusHeader: the status (200/206/416) and the Content-Range value."""
    upper = lower + shown - 1
    span = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    value = f"{span}/{'*' if total is None else total}"
    if total is None:
        return 200, value
    if lower > total:
        return 416, value
    return (206 if (1 + upper - lower) < total else 200), value


def _range_error(offset: int, total: int | None) -> RestError:
    return RestError(
        416,
        "PGRST103",
        "Requested range not satisfiable",
        details=f"An offset of {offset} was requested, but there are only {total or 0} rows.",
    )


def _canonical_query(request: Request) -> str:
    """qsCanonical: the query string sorted by key, repeated keys joined with commas."""
    pairs = sorted(
        (k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "apikey"
    )
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(quote(value, safe="-_.~"))
    return "&".join(f"{quote(k, safe='-_.~')}={','.join(v)}" for k, v in grouped.items())


class _Endpoint:
    """A request handler as a plain ASGI app."""

    def __init__(self, handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive))
        await response(scope, receive, send)


class RestService:
    """PostgREST's RPC and table endpoints over a pool of `authenticator` connections."""

    def __init__(
        self, *, pool: AsyncConnectionPool[Any], jwt_secret: str, faults: FaultState
    ) -> None:
        self.pool = pool
        self.jwt_secret = jwt_secret
        self.faults = faults
        self._functions: dict[str, list[Function]] = {}
        self._tables: list[str] = []

    def router(self) -> Router:
        """The ASGI app to mount under /rest/v1."""
        # An ASGI endpoint (not a function) so that every method reaches `handle`: PostgREST
        # answers unknown methods itself (PGRST101/PGRST117), not with a bare 405.
        return Router(routes=[Route("/{path:path}", _Endpoint(self.handle))])

    async def reload_schema_cache(self) -> None:
        """Re-read functions and tables of the exposed schema (PostgREST's NOTIFY reload)."""
        functions: dict[str, list[Function]] = {}
        async with self.pool.connection() as conn:
            cur = await conn.execute(_FUNCTIONS_SQL, (SCHEMA,))
            for row in await cur.fetchall():
                fn = self._function(row)
                if fn is not None:
                    functions.setdefault(fn.name, []).append(fn)
            cur = await conn.execute(_TABLES_SQL, (SCHEMA,))
            tables = [str(r["relname"]) for r in await cur.fetchall()]
        self._functions, self._tables = functions, tables

    @staticmethod
    def _function(row: Mapping[str, Any]) -> Function | None:
        modes = list(row["argmodes"]) or ["i"] * row["nargs"]
        names = list(row["argnames"]) + [""] * (len(modes) - len(row["argnames"]))
        inputs = [n for n, m in zip(names, modes, strict=False) if m in ("i", "b", "v")]
        required = row["nargs"] - row["ndefaults"]
        widened = {"character": "character varying", "bit": "bit varying"}
        params = []
        for index, (name, pg_type) in enumerate(zip(inputs, row["argtypes"], strict=False)):
            base = pg_type.removesuffix("[]")
            pg_type = widened.get(base, base) + pg_type[len(base) :]
            params.append(Param(name=name, type=pg_type, required=index < required))
        unnamed = [p for p in params if not p.name]
        raw_ok = ("bytea", "json", "jsonb", "text", "xml")
        if len(unnamed) > 1 or (unnamed and unnamed[0].type not in raw_ok):
            return None  # not callable through PostgREST, so not in its schema cache
        return Function(
            name=row["name"],
            params=tuple(params),
            returns_set=row["returns_set"],
            rettype=row["rettype"],
            composite=row["composite"],
            volatile=row["volatility"] == "v",
        )

    # -- request handling -------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Every request under /rest/v1, in PostgREST's order of checks."""
        try:
            return await self._handle(request)
        except RestError as error:
            return error.response()

    async def _handle(self, request: Request) -> Response:
        context = self._context(request)
        path = request.path_params.get("path", "")
        segments = [s for s in path.split("/") if s] if path.strip("/") else []
        if len(segments) > 2 or (len(segments) == 2 and segments[0] != "rpc"):
            raise RestError(404, "PGRST125", "Invalid path specified in request URL")
        negotiated = self._check_profile(request)
        if not segments:
            return await self._root(request, context)
        if segments[0] == "rpc" and len(segments) == 2:
            return await self._rpc(request, context, segments[1], negotiated)
        return await self._table(request, context, segments[0], negotiated)

    def _context(self, request: Request) -> _Context:
        role, claims = self._authenticate(request)
        root = request.scope.get("root_path", "")
        path = request.url.path
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "cookie"}
        cookies: dict[str, str] = {}
        if "cookie" in request.headers:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(request.headers["cookie"])
            except CookieError:
                jar = SimpleCookie()
            cookies = {name: morsel.value for name, morsel in jar.items()}
        return _Context(role, claims, request.method, path, headers, cookies)

    def _authenticate(self, request: Request) -> tuple[str, dict[str, Any]]:
        token = _bearer_token(request.headers.get("authorization"))
        if token is None:
            return ANON_ROLE, {"role": ANON_ROLE}
        claims = self._verify(token)
        if "role" not in claims:
            role = ANON_ROLE
        elif isinstance(claims["role"], str):
            role = claims["role"]
        else:
            role = _dumps(claims["role"])
        claims["role"] = role
        return role, claims

    def _verify(self, token: str) -> dict[str, Any]:
        """PostgREST's parseToken: the same checks in the same order, with its messages."""
        if token == "":
            raise _jwt_error("PGRST301", "Empty JWT is sent in Authorization header")
        parts = token.split(".")
        if len(parts) != 3:
            raise _jwt_error("PGRST301", f"Expected 3 parts in JWT; got {len(parts)}")
        try:
            header = json.loads(jwt.utils.base64url_decode(parts[0]))
        except (ValueError, binascii.Error):
            header = None
        if not isinstance(header, dict):
            raise _jwt_error("PGRST301", "JWT cryptographic operation failed")
        alg = header.get("alg")
        if alg not in _HMAC_ALGORITHMS:
            if alg in _KEYED_ALGORITHMS:
                raise _jwt_error("PGRST301", "No suitable key or wrong key type")
            raise _jwt_error("PGRST301", "Wrong or unsupported encoding algorithm")
        try:
            payload = jwt.api_jws.decode(token, self.jwt_secret, algorithms=[str(alg)])
        except jwt.InvalidSignatureError:
            raise _jwt_error("PGRST301", "No suitable key or wrong key type") from None
        except jwt.PyJWTError:
            raise _jwt_error("PGRST301", "JWT cryptographic operation failed") from None
        try:
            claims = json.loads(payload)
        except ValueError:
            claims = None
        if not isinstance(claims, dict):
            raise _jwt_error("PGRST303", "Parsing claims failed")
        _check_claims(claims)
        return claims

    @staticmethod
    def _check_profile(request: Request) -> bool:
        """The schema profile header (Content-Profile for writes, Accept-Profile for reads)."""
        write = request.method in ("POST", "PATCH", "PUT", "DELETE")
        profile = request.headers.get("content-profile" if write else "accept-profile")
        if profile is None:
            return False
        if profile != SCHEMA:
            raise RestError(406, "PGRST106", f"The schema must be one of the following: {SCHEMA}")
        return True

    async def _read_body(self, request: Request, *, rpc: bool) -> _Body:
        raw = await request.body()
        content_type = request.headers.get("content-type", "application/json")
        mime = content_type.split(";")[0].strip().lower()
        if mime == "application/json" or mime == "":
            if rpc and not raw:
                return _Body("json", set(), {}, raw)
            try:
                value = json.loads(raw)
            except ValueError:
                raise RestError(400, "PGRST102", "Empty or invalid json") from None
            return _Body("json", _payload_keys(value), value, raw)
        if mime == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
            return _Body("form", set(form), form, raw)
        if rpc and mime in _RAW_TYPES:
            return _Body(mime, set(), raw, raw)
        raise RestError(400, "PGRST102", f"Content-Type not acceptable: {mime}")

    # -- root ---------------------------------------------------------------------------------

    async def _root(self, request: Request, context: _Context) -> Response:
        if request.method == "OPTIONS":
            return Response(headers={"Allow": "OPTIONS,GET,HEAD"})
        if request.method not in ("GET", "HEAD"):
            raise RestError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    openapi.OPENAPI_SQL, {"schema": SCHEMA, "role": context.role}
                )
                rows = await cur.fetchall()
        except psycopg.Error as exc:
            raise self._translate(exc, context, sql.SQL("openapi")) from None
        document = openapi.document(rows, base_path=request.scope.get("root_path", "") or "/")
        return JSONResponse(document, media_type="application/openapi+json; charset=utf-8")

    # -- rpc ----------------------------------------------------------------------------------

    async def _rpc(
        self, request: Request, context: _Context, name: str, negotiated: bool
    ) -> Response:
        method = request.method
        if method not in ("GET", "HEAD", "POST", "OPTIONS"):
            raise RestError(405, "PGRST101", f"Cannot use the {method} method on RPC")
        post = method == "POST"
        query = _parse_query(request, rpc_read=not post)
        prefer = _prefer(request)
        offset, limit = self._range(request, query)
        body = await self._read_body(request, rpc=True) if post else _Body(keys=set(query.args))
        function = await self._resolve(name, body.keys, body.kind, post)
        if method == "OPTIONS":
            allow = "OPTIONS,POST" if function.volatile else "OPTIONS,GET,HEAD,POST"
            return Response(headers={"Allow": allow, "Access-Control-Allow-Origin": "*"})
        media = _negotiate(request)
        latency = self.faults.rpc_latency_s(name)
        if latency:
            await asyncio.sleep(latency)  # the rpc.latency fault: a slow function on purpose
        after = None
        if name in self.faults.rpc_targets("rpc.error"):
            # The rpc.error fault: the function raises, as a broken migration would make it. It
            # runs after the call, so privileges are checked first and the work is rolled back.
            after = sql.SQL(
                "do $$ begin raise exception 'function {} failed' using errcode = 'P0001'; end $$"
            ).format(sql.SQL(name))
        source, call, params = self._call_source(function, body if post else query.args)
        statement, params = self._call_statement(
            function, source, call, params, query, media, prefer, offset, limit
        )
        read_only = not post or not function.volatile
        check = self._singular_check(media) if function.shape in ("set", "scalar_set") else None
        row = await self._run(
            context, statement, params, read_only=read_only, after=after, check=check
        )
        pref_header = prefer.applied()
        if function.shape == "void":
            _, content_range = _content_range(offset, 1, None)
            return Response(
                status_code=204, headers={"Content-Range": content_range, **pref_header}
            )
        assert row is not None
        total = row["total"]
        status, content_range = _content_range(offset, int(row["page_total"]), total)
        if status == 416:
            raise _range_error(offset, total)
        headers = {"Content-Range": content_range, **pref_header}
        if negotiated:
            headers["Content-Profile"] = SCHEMA
        return Response(
            row["body"], status_code=status, headers=headers, media_type=media.content_type
        )

    async def _resolve(self, name: str, keys: set[str], kind: str, post: bool) -> Function:
        """PostgREST's findProc, with a schema-cache reload on a miss (the DDL event trigger)."""
        for attempt in range(2):
            if attempt or not self._functions:
                await self.reload_schema_cache()
            missing = self.faults.rpc_targets("rpc.missing")
            overloads = [] if name in missing else self._functions.get(name, [])
            matched = [
                f
                for f in overloads
                if f.accepts(keys) and (f.params or not (post and kind in _RAW_TYPES))
            ]
            fallback = [f for f in overloads if post and f.takes_single(kind)]
            if len(matched) == 1:
                return matched[0]
            if len(matched) > 1 or (not matched and len(fallback) > 1):
                raise self._ambiguous(matched or fallback)
            if fallback:
                return fallback[0]
        all_names = [n for n in self._functions if n not in missing]
        raise self._no_rpc(name, keys, kind, post, all_names, overloads)

    @staticmethod
    def _ambiguous(functions: Sequence[Function]) -> RestError:
        signatures = ", ".join(
            f"{SCHEMA}.{f.name}(" + ", ".join(f"{p.name} => {p.type}" for p in f.params) + ")"
            for f in functions
        )
        return RestError(
            300,
            "PGRST203",
            f"Could not choose the best candidate function between: {signatures}",
            hint="Try renaming the parameters or the function itself in the database so function "
            "overloading can be resolved",
        )

    @staticmethod
    def _no_rpc(
        name: str,
        keys: set[str],
        kind: str,
        post: bool,
        all_names: Sequence[str],
        overloads: Sequence[Function],
    ) -> RestError:
        """PGRST202 with PostgREST's message, details and fuzzy "Perhaps you meant" hint."""
        qualified = f"{SCHEMA}.{name}"
        listed = ", ".join(sorted(keys))
        only_raw = post and kind in _RAW_TYPES
        if only_raw:
            message = f"Could not find the function {qualified} in the schema cache"
        elif keys:
            message = f"Could not find the function {qualified}({listed}) in the schema cache"
        else:
            message = (
                f"Could not find the function {qualified} without parameters in the schema cache"
            )
        searched = (
            f" with parameter{'s' if len(keys) > 1 else ''} {listed}"
            if keys
            else " without parameters"
        )
        if post and kind in _RAW_TYPES:
            searched = f" with a single unnamed {_RAW_TYPES[kind]} parameter"
        elif post and kind == "json":
            searched += " or with a single unnamed json/jsonb parameter"
        details = (
            f"Searched for the function {qualified}{searched}, "
            "but no matches were found in the schema cache."
        )
        hint = None
        if not only_raw:
            prefix = f"Perhaps you meant to call the function {SCHEMA}."
            if overloads:

                def as_text(names: Iterable[str]) -> str:
                    return "(" + ", ".join(sorted(names)) + ")"

                fuzzy = FuzzySet(as_text(f.names) for f in overloads)
                match = fuzzy.get_one(as_text(keys))
                hint = f"{prefix}{name}{match}" if match else None
            else:
                match = FuzzySet(all_names).get_one(name)
                hint = f"{prefix}{match}" if match else None
        return RestError(404, "PGRST202", message, details=details, hint=hint)

    @staticmethod
    def _call_source(
        function: Function, args: Mapping[str, Any] | _Body
    ) -> tuple[sql.Composable | None, sql.Composable, list[Any]]:
        """The call `fn(a := …)` and what it reads its arguments from.

        Query-string and form arguments are cast in place (PostgREST's DirectArgs); a JSON body is
        read with json_to_record(set) as PostgREST does, so JSON values convert the way they do
        there; a raw body (or a JSON one for a single unnamed json parameter) goes in whole.
        Returns (FROM item or None, the call, parameters).
        """
        fn = sql.Identifier(SCHEMA, function.name)
        types = {p.name: p.type for p in function.params}
        if isinstance(args, _Body) and args.kind == "form":
            args = dict(args.value)
        if not isinstance(args, _Body):
            named = [
                sql.SQL("{} := %s::{}").format(sql.Identifier(k), sql.SQL(types[k])) for k in args
            ]
            call = sql.SQL("{}({})").format(fn, sql.SQL(", ").join(named))
            return None, call, list(args.values())
        body = args
        if function.takes_single(body.kind):
            pg_type = function.params[0].type
            value: Any = body.raw if pg_type == "bytea" else (body.raw.decode() or "{}")
            return None, sql.SQL("{}(%s::{})").format(fn, sql.SQL(pg_type)), [value]
        names = [p.name for p in function.params if p.name in body.keys]
        if not names:
            return None, sql.SQL("{}()").format(fn), []
        record = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(types[n])) for n in names
        )
        reader = "json_to_recordset" if isinstance(body.value, list) else "json_to_record"
        source = sql.SQL("{}(%s::json) as _a({})").format(sql.SQL(reader), record)
        call = sql.SQL("{}({})").format(
            fn,
            sql.SQL(", ").join(
                sql.SQL("{} := _a.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in names
            ),
        )
        return source, call, [body.raw.decode()]

    @staticmethod
    def _call_statement(
        function: Function,
        source: sql.Composable | None,
        call: sql.Composable,
        params: list[Any],
        query: _Query,
        media: _Media,
        prefer: _Prefer,
        offset: int,
        limit: int | None,
    ) -> tuple[sql.Composable, list[Any]]:
        """PostgREST's prepareCall: the call in a CTE, then page, total and the JSON body."""
        shape = function.shape
        from_source = sql.SQL(" from {}").format(source) if source is not None else sql.SQL("")
        if shape == "void":
            return sql.SQL("select {} is null as v{}").format(call, from_source), params
        src = sql.Identifier("_src")
        scalar = shape in ("scalar", "scalar_set")
        where: sql.Composable = sql.SQL("true")
        where_params: list[Any] = []
        order: sql.Composable = sql.SQL("")
        if scalar:
            cte = sql.SQL("select {} as pgrst_scalar{}").format(call, from_source)
            columns: sql.Composable = sql.SQL("{}.pgrst_scalar").format(src)
        else:
            if source is None:
                cte = sql.SQL("select _r.* from {} as _r").format(call)
            else:
                cte = sql.SQL("select _r.* from {} cross join lateral {} as _r").format(
                    source, call
                )
            columns = _columns_sql(src, query.select)
            where, where_params = _where(src, query.filters)
            order = _order_sql(src, query.order)
        single = shape in ("scalar", "object")
        element = sql.SQL("_t.pgrst_scalar" if scalar else "_t")
        if single or media.singular:
            body = sql.SQL("json_agg({})->0").format(element)
        else:
            body = sql.SQL("json_agg({})").format(element)
        if media.strip_nulls:
            body = sql.SQL("json_strip_nulls({})").format(body)
        empty = "null" if single or media.singular else "[]"
        body = sql.SQL("coalesce(({})::text, {})").format(body, sql.Literal(empty))
        total: sql.Composable = sql.SQL("null::bigint")
        total_params: list[Any] = []
        if prefer.count:
            total = sql.SQL("(select count(*) from _src where {})").format(where)
            total_params = list(where_params)
        # Wrapped in an outer SELECT so the statement reads as one (what the
        # security.verbose_errors fault leaks).
        statement = sql.SQL(
            "select * from (with _src as materialized ({cte}) "
            "select {total} as total, {page_total} as page_total, {body} as body "
            "from (select {columns} from _src where {where} {order} limit %s offset %s) as _t"
            ") as _result"
        ).format(
            cte=cte,
            total=total,
            page_total=sql.SQL("1" if single else "count(_t)"),
            body=body,
            columns=columns,
            where=where,
            order=order,
        )
        return statement, [*params, *total_params, *where_params, limit, offset]

    @staticmethod
    def _singular_check(media: _Media) -> Callable[[DictRow], None] | None:
        if not media.singular:
            return None

        def check(row: DictRow) -> None:
            if int(row["page_total"]) != 1:
                raise RestError(
                    406,
                    "PGRST116",
                    "Cannot coerce the result to a single JSON object",
                    details=f"The result contains {row['page_total']} rows",
                )

        return check

    @staticmethod
    def _range(request: Request, query: _Query) -> tuple[int, int | None]:
        """The requested window: limit/offset intersected with a GET's Range header."""
        lower, upper = query.offset, None
        if query.limit is not None:
            if query.limit == 0:
                return query.offset, 0
            upper = query.offset + query.limit - 1
        header = request.headers.get("range") if request.method in ("GET", "HEAD") else None
        match = re.fullmatch(r"([0-9]+)-([0-9]*)", header or "")
        if match:
            lower = max(lower, int(match[1]))
            if match[2]:
                upper = int(match[2]) if upper is None else min(upper, int(match[2]))
        if upper is not None and upper < lower:
            raise RestError(
                416,
                "PGRST103",
                "Requested range not satisfiable",
                details="The lower boundary must be lower than or equal to the upper boundary "
                "in the Range header.",
            )
        return lower, None if upper is None else upper - lower + 1

    # -- tables -------------------------------------------------------------------------------

    async def _table(
        self, request: Request, context: _Context, name: str, negotiated: bool
    ) -> Response:
        method = request.method
        if method not in ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"):
            # PUT (single-row upsert) is not modelled by the sandbox.
            raise RestError(405, "PGRST117", f"Unsupported HTTP method: {method}")
        query = _parse_query(request, rpc_read=False)
        prefer = _prefer(request)
        offset, limit = self._range(request, query)
        body = await self._read_body(request, rpc=False) if method in ("POST", "PATCH") else None
        if name not in self._tables:
            await self.reload_schema_cache()  # a migration may have added it since
        if name not in self._tables:
            hint_match = FuzzySet(self._tables).get_one(name)
            raise RestError(
                404,
                "PGRST205",
                f"Could not find the table '{SCHEMA}.{name}' in the schema cache",
                hint=f"Perhaps you meant the table '{SCHEMA}.{hint_match}'" if hint_match else None,
            )
        if method == "OPTIONS":
            allow = "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
            return Response(headers={"Allow": allow, "Access-Control-Allow-Origin": "*"})
        media = _negotiate(request)
        target = sql.Identifier(SCHEMA, name)
        if method in ("GET", "HEAD"):
            return await self._select(
                request, context, name, target, query, media, prefer, offset, limit, negotiated
            )
        return await self._mutate(request, context, target, query, media, prefer, body, negotiated)

    async def _select(
        self,
        request: Request,
        context: _Context,
        name: str,
        target: sql.Identifier,
        query: _Query,
        media: _Media,
        prefer: _Prefer,
        offset: int,
        limit: int | None,
        negotiated: bool,
    ) -> Response:
        where, params = _where(target, query.filters)
        element: sql.Composable = sql.SQL("json_agg(_t)->0" if media.singular else "json_agg(_t)")
        if media.strip_nulls:
            element = sql.SQL("json_strip_nulls({})").format(element)
        empty = sql.Literal("null" if media.singular else "[]")
        total: sql.Composable = sql.SQL("null::bigint")
        total_params: list[Any] = []
        if prefer.count:
            total = sql.SQL("(select count(*) from {} where {})").format(target, where)
            total_params = list(params)
        statement = sql.SQL(
            "select {total} as total, count(_t) as page_total,"
            " coalesce(({element})::text, {empty}) as body"
            " from (select {columns} from {target} where {where} {order} limit %s offset %s) as _t"
        ).format(
            total=total,
            element=element,
            empty=empty,
            columns=_columns_sql(target, query.select),
            target=target,
            where=where,
            order=_order_sql(target, query.order),
        )
        row = await self._run(
            context,
            statement,
            [*total_params, *params, limit, offset],
            read_only=True,
            check=self._singular_check(media),
        )
        assert row is not None
        status, content_range = _content_range(offset, int(row["page_total"]), row["total"])
        if status == 416:
            raise _range_error(offset, row["total"])
        canonical = _canonical_query(request)
        headers = {
            "Content-Range": content_range,
            "Content-Location": f"/{name}" + (f"?{canonical}" if canonical else ""),
            **prefer.applied(),
        }
        if negotiated:
            headers["Content-Profile"] = SCHEMA
        return Response(
            row["body"], status_code=status, headers=headers, media_type=media.content_type
        )

    async def _mutate(
        self,
        request: Request,
        context: _Context,
        target: sql.Identifier,
        query: _Query,
        media: _Media,
        prefer: _Prefer,
        body: _Body | None,
        negotiated: bool,
    ) -> Response:
        method = request.method
        representation = prefer.representation == "representation"
        returning = sql.SQL("{}.*").format(target) if representation else sql.SQL("1")
        where, params = _where(target, query.filters)
        if method == "POST":
            assert body is not None
            if body.kind == "form":
                rows: Any = [body.value]
            else:
                rows = body.value if isinstance(body.value, list) else [body.value]
            columns = query.columns if query.columns is not None else sorted(body.keys)
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            mutation = sql.SQL(
                "insert into {t} {target_cols} select {cols} "
                "from json_populate_recordset(null::{t}, %s::json) returning {returning}"
            ).format(
                t=target,
                target_cols=sql.SQL("({})").format(cols) if columns else sql.SQL(""),
                cols=cols,
                returning=returning,
            )
            params = [_dumps(rows)]
        elif method == "PATCH":
            assert body is not None
            value = body.value
            if not isinstance(value, dict):
                raise RestError(400, "PGRST102", "Empty or invalid json")
            columns = query.columns if query.columns is not None else list(value)
            if columns:
                assignments = sql.SQL(", ").join(
                    sql.SQL("{} = _b.{}").format(sql.Identifier(c), sql.Identifier(c))
                    for c in columns
                )
                mutation = sql.SQL(
                    "update {t} set {assignments} "
                    "from (select * from json_populate_record(null::{t}, %s::json)) as _b "
                    "where {where} returning {returning}"
                ).format(t=target, assignments=assignments, where=where, returning=returning)
                params = [_dumps(value), *params]
            else:
                mutation = sql.SQL("select {}.* from {} where false").format(target, target)
                params = []
        else:
            mutation = sql.SQL("delete from {t} where {where} returning {returning}").format(
                t=target, where=where, returning=returning
            )
        if representation:
            element = sql.SQL("json_agg(_t)->0" if media.singular else "json_agg(_t)")
            empty = sql.Literal("null" if media.singular else "[]")
            body_sql: sql.Composable = sql.SQL("coalesce(({})::text, {})").format(element, empty)
            columns_sql = _columns_sql(sql.Identifier("_m"), query.select)
        else:
            body_sql, columns_sql = sql.SQL("''"), sql.SQL("1")
        statement = sql.SQL(
            "with _m as ({mutation}) select count(_t) as page_total, {body} as body "
            "from (select {columns} from _m) as _t"
        ).format(mutation=mutation, body=body_sql, columns=columns_sql)
        row = await self._run(context, statement, params, check=self._singular_check(media))
        assert row is not None
        page_total = int(row["page_total"])
        if method == "PATCH":
            _, content_range = _content_range(0, page_total, None)
        else:
            content_range = "*/*"
        if prefer.count:
            content_range = content_range.split("/")[0] + f"/{page_total}"
        headers = {"Content-Range": content_range, **prefer.applied(mutation=True)}
        if not representation:
            return Response(status_code=201 if method == "POST" else 204, headers=headers)
        if negotiated:
            headers["Content-Profile"] = SCHEMA
        status = 201 if method == "POST" else 200
        return Response(
            row["body"], status_code=status, headers=headers, media_type=media.content_type
        )

    # -- the database -----------------------------------------------------------------------

    async def _run(
        self,
        context: _Context,
        statement: sql.Composable,
        params: Sequence[Any],
        *,
        read_only: bool = False,
        after: sql.Composable | None = None,
        check: Callable[[DictRow], None] | None = None,
    ) -> DictRow | None:
        """Run `statement` as the request's role in one transaction; returns its first row.

        `check` runs before the commit; a RestError it raises rolls the transaction back (how
        PostgREST undoes a singular request that matched several rows).
        """
        try:
            async with self.pool.connection() as conn, conn.transaction():
                if read_only:
                    await conn.execute("set transaction read only")
                await conn.execute(
                    "select set_config('search_path', %s, true),"
                    " set_config('role', %s, true),"
                    " set_config('request.jwt.claims', %s, true),"
                    " set_config('request.method', %s, true),"
                    " set_config('request.path', %s, true),"
                    " set_config('request.headers', %s, true),"
                    " set_config('request.cookies', %s, true)",
                    (
                        f'"{SCHEMA}"',
                        context.role,
                        _dumps(context.claims),
                        context.method,
                        context.path,
                        _dumps(context.headers),
                        _dumps(context.cookies),
                    ),
                )
                cur = await conn.execute(statement, params)
                row = await cur.fetchone() if cur.description else None
                if after is not None:
                    await conn.execute(after)
                if check is not None and row is not None:
                    check(row)
                return row
        except psycopg.Error as exc:
            raise self._translate(exc, context, statement) from None

    def _translate(
        self, exc: psycopg.Error, context: _Context, statement: sql.Composable
    ) -> RestError:
        sqlstate = exc.sqlstate or "XX000"
        diag = exc.diag
        message = diag.message_primary or str(exc)
        details, hint = diag.message_detail, diag.message_hint
        if sqlstate == "PGRST":
            return _raise_pgrst(message, details)
        if self.faults.has("security.verbose_errors"):
            # What a misconfigured gateway leaks: the statement and the PL/pgSQL stack.
            text = statement.as_string() if isinstance(statement, sql.SQL | sql.Composed) else ""
            details = f"{details or ''} SQL: {text} CONTEXT: {diag.context or ''}".strip()
            hint = f"{hint or ''} internal query: {diag.internal_query or ''}".strip()
        status = status_for(sqlstate, message, context.authenticated)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return RestError(status, sqlstate, message, details, hint, headers)


def _payload_keys(value: Any) -> set[str]:
    """PostgREST's payloadAttributes: an object's keys, a uniform array's keys, else none."""
    if isinstance(value, dict):
        return set(value)
    if isinstance(value, list) and value:
        if not isinstance(value[0], dict):
            raise RestError(400, "PGRST102", "All object keys must match")
        keys = set(value[0])
        if any(not isinstance(v, dict) or set(v) != keys for v in value):
            raise RestError(400, "PGRST102", "All object keys must match")
        return keys
    return set()


def _raise_pgrst(message: str, details: str | None) -> RestError:
    """`RAISE SQLSTATE 'PGRST'`: the message and detail are JSON that set body and status."""
    try:
        body = json.loads(message)
        if not isinstance(body, dict) or "code" not in body or "message" not in body:
            raise ValueError
    except ValueError:
        return RestError(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            details=f"Invalid JSON value for MESSAGE: '{message}'",
            hint="MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and "
            "optional keys: 'details', 'hint'.",
        )
    detail_hint = (
        "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional "
        "key: 'status_text'."
    )
    if details is None:
        return RestError(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            details="DETAIL is missing in the RAISE statement",
            hint=detail_hint,
        )
    try:
        detail = json.loads(details)
        if not isinstance(detail, dict) or "status" not in detail or "headers" not in detail:
            raise ValueError
        status = int(detail["status"])
        headers = {str(k): str(v) for k, v in dict(detail["headers"]).items()}
    except (ValueError, TypeError):
        return RestError(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            details=f"Invalid JSON value for DETAIL: '{details}'",
            hint=detail_hint,
        )
    return RestError(
        status,
        str(body["code"]),
        str(body["message"]),
        details=body.get("details"),
        hint=body.get("hint"),
        headers=headers,
    )
