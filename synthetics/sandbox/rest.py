"""REST under /rest/v1, speaking PostgREST's wire protocol (reference/supabase-api.md, section E).

Every request runs in one transaction on a connection logged in as `authenticator`, which switches
to the JWT's role and publishes the claims with `set_config(..., true)` exactly as PostgREST does:
Postgres privileges and RLS make every access decision, never this module.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from synthetics.sandbox import tokens
from synthetics.sandbox.faults import FaultState

SCHEMA = "public"
_SINGULAR = "application/vnd.pgrst.object+json"
_BEARER = re.compile(r"(?i)^bearer (\S+$)")
_OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_RESERVED_PARAMS = {"select", "order", "limit", "offset", "columns", "on_conflict"}
_FUNCTIONS_SQL = """
select p.proname as name,
       p.pronargs as nargs,
       p.pronargdefaults as ndefaults,
       coalesce(p.proargnames, '{}') as argnames,
       coalesce(p.proargmodes::text[], '{}') as argmodes,
       array(select format_type(t, null) from unnest(p.proargtypes) as t) as argtypes,
       p.proretset as returns_set,
       format_type(p.prorettype, null) as rettype,
       rt.typtype as rettyptype,
       p.provolatile as volatility
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
where n.nspname = %s and p.prokind = 'f'
"""
_TABLES_SQL = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p', 'f')
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

    def response(self) -> JSONResponse:
        """The error as PostgREST sends it."""
        headers = {"Proxy-Status": f"PostgREST; error={self.body['code']}", **self.headers}
        return JSONResponse(self.body, status_code=self.status, headers=headers)


@dataclass(frozen=True)
class Function:
    """One function of the exposed schema, as PostgREST's schema cache knows it."""

    name: str
    params: tuple[str, ...]
    types: tuple[str, ...]
    required: int
    returns_set: bool
    rettype: str
    composite: bool
    volatile: bool

    @property
    def shape(self) -> str:
        """How PostgREST renders the result: void, set (array), object or scalar."""
        if self.rettype == "void":
            return "void"
        if self.returns_set:
            return "set"
        if self.composite or self.rettype == "record":
            return "object"
        return "scalar"

    def accepts(self, names: set[str]) -> bool:
        """Whether a call with these named arguments resolves to this function."""
        return names <= set(self.params) and set(self.params[: self.required]) <= names


def status_for(sqlstate: str, role: str) -> int:
    """PostgREST's SQLSTATE → HTTP status mapping."""
    if sqlstate == "42501":
        return 401 if role == "anon" else 403
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    exact = {
        "P0001": 400,
        "23505": 409,
        "23503": 409,
        "23502": 400,
        "42883": 404,
        "42P01": 404,
        "25006": 405,
        "40001": 409,
        "57014": 500,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    prefix = {"08": 503, "09": 500, "0L": 403, "0P": 403, "28": 403, "2D": 500, "38": 500}
    prefix |= {"39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500, "57": 500}
    prefix |= {"58": 500, "F0": 500, "HV": 500, "P0": 500, "XX": 500}
    return prefix.get(sqlstate[:2], 400)


def _bearer(request: Request) -> str | None:
    match = _BEARER.match(request.headers.get("authorization", ""))
    return match.group(1) if match else None


class RestService:
    """PostgREST's RPC and table endpoints over a pool of `authenticator` connections."""

    def __init__(
        self, *, pool: AsyncConnectionPool[Any], jwt_secret: str, faults: FaultState
    ) -> None:
        self.pool = pool
        self.jwt_secret = jwt_secret
        self.faults = faults
        self._functions: dict[str, list[Function]] = {}
        self._tables: set[str] = set()

    def router(self) -> Router:
        """The ASGI app to mount under /rest/v1."""
        return Router(
            routes=[
                Route("/", self.root, methods=["GET"]),
                Route(
                    "/rpc/{name}",
                    self.rpc,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
                Route("/{table}", self.table, methods=["GET", "POST", "PATCH", "DELETE"]),
            ]
        )

    async def reload_schema_cache(self) -> None:
        """Re-read functions and tables of the exposed schema (PostgREST's NOTIFY reload)."""
        functions: dict[str, list[Function]] = {}
        async with self.pool.connection() as conn:
            cur = await conn.execute(_FUNCTIONS_SQL, (SCHEMA,))
            for row in await cur.fetchall():
                fn = self._function(row)
                functions.setdefault(fn.name, []).append(fn)
            cur = await conn.execute(_TABLES_SQL, (SCHEMA,))
            tables = {str(r["relname"]) for r in await cur.fetchall()}
        self._functions, self._tables = functions, tables

    @staticmethod
    def _function(row: Mapping[str, Any]) -> Function:
        modes = list(row["argmodes"]) or ["i"] * row["nargs"]
        names = list(row["argnames"]) + [""] * (len(modes) - len(row["argnames"]))
        params = tuple(n for n, m in zip(names, modes, strict=False) if m in ("i", "b", "v"))
        return Function(
            name=row["name"],
            params=params,
            types=tuple(row["argtypes"]),
            required=row["nargs"] - row["ndefaults"],
            returns_set=row["returns_set"],
            rettype=row["rettype"],
            composite=row["rettyptype"] == "c",
            volatile=row["volatility"] == "v",
        )

    # -- request context --------------------------------------------------------------------

    def _role(self, request: Request) -> tuple[str, dict[str, Any]]:
        token = _bearer(request)
        if token is None:
            return "anon", {"role": "anon"}
        try:
            claims = tokens.decode(token, self.jwt_secret)
        except tokens.InvalidToken as exc:
            if exc.expired:
                raise RestError(
                    401,
                    "PGRST303",
                    "JWT expired",
                    headers={
                        "WWW-Authenticate": 'Bearer error="invalid_token", '
                        'error_description="JWT expired"'
                    },
                ) from None
            raise RestError(
                401,
                "PGRST301",
                "No suitable key or wrong key type",
                headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                    'error_description="No suitable key or wrong key type"'
                },
            ) from None
        role = claims.get("role")
        return (role if isinstance(role, str) and role else "anon"), claims

    @staticmethod
    def _check_profile(request: Request) -> None:
        for header in ("accept-profile", "content-profile"):
            profile = request.headers.get(header)
            if profile and profile != SCHEMA:
                raise RestError(
                    406,
                    "PGRST106",
                    f"The schema must be one of the following: {SCHEMA}",
                    details=None,
                    hint=None,
                )

    async def _run(
        self,
        request: Request,
        role: str,
        claims: Mapping[str, Any],
        statement: sql.Composable,
        params: Sequence[Any],
        *,
        read_only: bool = False,
        before: sql.Composable | None = None,
    ) -> tuple[list[DictRow], int]:
        """Run `statement` as `role` in one transaction; returns rows and the affected count."""
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}
        try:
            async with self.pool.connection() as conn, conn.transaction():
                if read_only:
                    await conn.execute("set transaction read only")
                await conn.execute(
                    "select set_config('role', %s, true),"
                    " set_config('request.jwt.claims', %s, true),"
                    " set_config('request.method', %s, true),"
                    " set_config('request.path', %s, true),"
                    " set_config('request.headers', %s, true)",
                    (
                        role,
                        json.dumps(claims),
                        request.method,
                        request.url.path,
                        json.dumps(headers),
                    ),
                )
                if before is not None:
                    await conn.execute(before)
                cur = await conn.execute(statement, params)
                rows = await cur.fetchall() if cur.description else []
                return rows, cur.rowcount
        except psycopg.Error as exc:
            raise self._translate(exc, role, statement) from None

    def _translate(self, exc: psycopg.Error, role: str, statement: sql.Composable) -> RestError:
        sqlstate = exc.sqlstate or "XX000"
        diag = exc.diag
        message = diag.message_primary or str(exc)
        details, hint = diag.message_detail, diag.message_hint
        if self.faults.has("security.verbose_errors"):
            # What a misconfigured gateway leaks: the statement and the PL/pgSQL stack.
            text = statement.as_string() if isinstance(statement, sql.SQL | sql.Composed) else ""
            details = f"{details or ''} SQL: {text} CONTEXT: {diag.context or ''}".strip()
            hint = f"{hint or ''} internal query: {diag.internal_query or ''}".strip()
        headers = {"WWW-Authenticate": "Bearer"} if sqlstate == "42501" and role == "anon" else {}
        return RestError(status_for(sqlstate, role), sqlstate, message, details, hint, headers)

    # -- endpoints --------------------------------------------------------------------------

    async def root(self, request: Request) -> Response:
        """GET /: a minimal OpenAPI document listing what is exposed."""
        if not self._functions:
            await self.reload_schema_cache()
        paths: dict[str, dict[str, Any]] = {f"/{t}": {} for t in sorted(self._tables)}
        paths |= {f"/rpc/{f}": {} for f in sorted(self._functions)}
        return JSONResponse({"swagger": "2.0", "info": {"title": "sandbox"}, "paths": paths})

    async def rpc(self, request: Request) -> Response:
        """POST|GET /rpc/<name>: call a function with named arguments."""
        try:
            return await self._rpc(request)
        except RestError as error:
            return error.response()

    async def _rpc(self, request: Request) -> Response:
        name = request.path_params["name"]
        if request.method not in ("GET", "POST"):
            raise RestError(405, "PGRST101", f"Cannot use the {request.method} method on RPC")
        self._check_profile(request)
        role, claims = self._role(request)
        args = await self._rpc_args(request)
        function = await self._resolve(name, set(args))
        if request.method == "GET" and function.volatile:
            read_only = True
        else:
            read_only = request.method == "GET"
        latency = self.faults.rpc_latency_s(name)
        if latency:
            await asyncio.sleep(latency)  # the rpc.latency fault: a slow function on purpose
        before = None
        if name in self.faults.rpc_targets("rpc.error"):
            # The rpc.error fault: the function raises, as a broken migration would make it.
            before = sql.SQL(
                "do $$ begin raise exception 'function {} failed' using errcode = 'P0001'; end $$"
            ).format(sql.SQL(name))
        statement, params = self._call_sql(function, args)
        rows, _ = await self._run(
            request, role, claims, statement, params, read_only=read_only, before=before
        )
        result = rows[0]["result"] if rows else None
        if function.shape == "void":
            return Response(status_code=204)
        if _SINGULAR in request.headers.get("accept", ""):
            result = self._singular(result if isinstance(result, list) else [result])
        return JSONResponse(result, headers={"Content-Range": "0-0/*"})

    async def _rpc_args(self, request: Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query_params)
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise RestError(400, "PGRST102", "Empty or invalid json") from None
        if not isinstance(body, dict):
            raise RestError(400, "PGRST102", "Empty or invalid json")
        return body

    async def _resolve(self, name: str, names: set[str]) -> Function:
        if name in self.faults.rpc_targets("rpc.missing"):
            candidates: list[Function] = []
        else:
            candidates = self._functions.get(name, [])
            if not candidates:
                await self.reload_schema_cache()  # a migration may have added it since
                candidates = self._functions.get(name, [])
        for function in candidates:
            if function.accepts(names):
                return function
        qualified = f"{SCHEMA}.{name}"
        if names:
            listed = ", ".join(sorted(names))
            message = f"Could not find the function {qualified}({listed}) in the schema cache"
            searched = f"with parameters {listed}"
        else:
            message = (
                f"Could not find the function {qualified} without parameters in the schema cache"
            )
            searched = "without parameters"
        details = (
            f"Searched for the function {qualified} {searched} or with a single unnamed "
            "json/jsonb parameter, but no matches were found in the schema cache."
        )
        hint = None
        if candidates:
            params = ", ".join(candidates[0].params)
            hint = f"Perhaps you meant to call the function {qualified}({params})"
        raise RestError(404, "PGRST202", message, details=details, hint=hint)

    @staticmethod
    def _call_sql(function: Function, args: Mapping[str, Any]) -> tuple[sql.Composable, list[Any]]:
        types = dict(zip(function.params, function.types, strict=False))
        named: list[sql.Composable] = []
        params: list[Any] = []
        for key, value in args.items():
            named.append(sql.SQL("{} => %s::{}").format(sql.Identifier(key), sql.SQL(types[key])))
            params.append(_to_param(value, types[key]))
        call = sql.SQL("{}.{}({})").format(
            sql.Identifier(SCHEMA), sql.Identifier(function.name), sql.SQL(", ").join(named)
        )
        shape = function.shape
        if shape == "set":
            query = sql.SQL(
                "select coalesce(json_agg(_r), '[]'::json) as result from {} as _r"
            ).format(call)
        elif shape == "object":
            query = sql.SQL(
                "select case when _r is null then null else to_json(_r) end as result from {} as _r"
            ).format(call)
        elif shape == "void":
            query = sql.SQL("select {} is null as result").format(call)
        else:
            query = sql.SQL("select to_json({}) as result").format(call)
        return query, params

    @staticmethod
    def _singular(rows: list[Any]) -> Any:
        if len(rows) != 1:
            raise RestError(
                406,
                "PGRST116",
                "JSON object requested, multiple (or no) rows returned",
                details=f"The result contains {len(rows)} rows",
            )
        return rows[0]

    async def table(self, request: Request) -> Response:
        """GET|POST|PATCH|DELETE /<table>: the direct access the security probes try."""
        try:
            return await self._table(request)
        except RestError as error:
            return error.response()

    async def _table(self, request: Request) -> Response:
        name = request.path_params["table"]
        self._check_profile(request)
        role, claims = self._role(request)
        if name not in self._tables:
            await self.reload_schema_cache()
        if name not in self._tables:
            raise RestError(
                404,
                "PGRST205",
                f"Could not find the table '{SCHEMA}.{name}' in the schema cache",
            )
        target = sql.Identifier(SCHEMA, name)
        where, params = self._filters(request)
        prefer = request.headers.get("prefer", "")
        representation = "return=representation" in prefer
        if request.method == "GET":
            return await self._select(request, role, claims, target, where, params, prefer)
        if request.method == "POST":
            body = await self._json_body(request)
            rows = body if isinstance(body, list) else [body]
            columns = sorted({k for row in rows if isinstance(row, dict) for k in row})
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            statement = sql.SQL(
                "insert into {t} ({cols}) select {cols} from json_populate_recordset(null::{t}, %s)"
                " returning to_json({t}.*) as row"
            ).format(t=target, cols=cols)
            result, _ = await self._run(request, role, claims, statement, [json.dumps(rows)])
            status = 201
        elif request.method == "PATCH":
            body = await self._json_body(request)
            if not isinstance(body, dict):
                raise RestError(400, "PGRST102", "Empty or invalid json")
            assignments = sql.SQL(", ").join(
                sql.SQL("{} = %s").format(sql.Identifier(k)) for k in body
            )
            statement = sql.SQL("update {} set {} where {} returning to_json({}.*) as row").format(
                target, assignments, where, target
            )
            result, _ = await self._run(
                request, role, claims, statement, [*map(_plain, body.values()), *params]
            )
            status = 200 if representation else 204
        else:
            statement = sql.SQL("delete from {} where {} returning to_json({}.*) as row").format(
                target, where, target
            )
            result, _ = await self._run(request, role, claims, statement, params)
            status = 200 if representation else 204
        if not representation:
            return Response(status_code=201 if status == 201 else 204)
        return JSONResponse([r["row"] for r in result], status_code=status)

    async def _select(
        self,
        request: Request,
        role: str,
        claims: Mapping[str, Any],
        target: sql.Composable,
        where: sql.Composable,
        params: list[Any],
        prefer: str,
    ) -> Response:
        select = request.query_params.get("select", "*").strip() or "*"
        if select == "*":
            columns: sql.Composable = sql.SQL("*")
        else:
            names = [c.strip() for c in select.split(",") if c.strip()]
            columns = sql.SQL(", ").join(sql.Identifier(n) for n in names)
        order = self._order(request.query_params.get("order"))
        limit = _int_param(request, "limit")
        offset = _int_param(request, "offset") or 0
        statement = sql.SQL(
            "select coalesce(json_agg(_t), '[]'::json) as result,"
            " (select count(*) from {t} where {w}) as total"
            " from (select {c} from {t} where {w} {o} limit %s offset %s) as _t"
        ).format(t=target, w=where, c=columns, o=order)
        rows, _ = await self._run(
            request, role, claims, statement, [*params, *params, limit, offset], read_only=True
        )
        result = rows[0]["result"] if rows else []
        total = rows[0]["total"] if rows else 0
        shown = len(result)
        span = f"{offset}-{offset + shown - 1}" if shown else "*"
        count = str(total) if "count=" in prefer else "*"
        headers = {"Content-Range": f"{span}/{count}"}
        if _SINGULAR in request.headers.get("accept", ""):
            return JSONResponse(self._singular(result), headers=headers)
        return JSONResponse(result, headers=headers)

    @staticmethod
    def _order(raw: str | None) -> sql.Composable:
        if not raw:
            return sql.SQL("")
        terms = []
        for part in raw.split(","):
            column, _, direction = part.strip().partition(".")
            word = sql.SQL("desc" if direction.startswith("desc") else "asc")
            terms.append(sql.SQL("{} {}").format(sql.Identifier(column), word))
        return sql.SQL("order by {}").format(sql.SQL(", ").join(terms))

    @staticmethod
    def _filters(request: Request) -> tuple[sql.Composable, list[Any]]:
        clauses: list[sql.Composable] = []
        params: list[Any] = []
        for key, raw in request.query_params.multi_items():
            if key in _RESERVED_PARAMS or key == "apikey":
                continue
            op, _, value = raw.partition(".")
            negate = op == "not"
            if negate:
                op, _, value = value.partition(".")
            column = sql.Identifier(key)
            if op in _OPERATORS:
                clause = sql.SQL("{} {} %s").format(column, sql.SQL(_OPERATORS[op]))
                params.append(value)
            elif op == "is" and value in ("null", "true", "false"):
                clause = sql.SQL("{} is {}").format(column, sql.SQL(value))
            elif op == "in" and value.startswith("(") and value.endswith(")"):
                items = [v.strip().strip('"') for v in value[1:-1].split(",") if v.strip()]
                clause = sql.SQL("{}::text = any(%s)").format(column)
                params.append(items)
            elif op in ("like", "ilike"):
                clause = sql.SQL("{} {} %s").format(column, sql.SQL(op))
                params.append(value.replace("*", "%"))
            else:
                raise RestError(
                    400,
                    "PGRST100",
                    f'"failed to parse filter ({raw})" (line 1, column 1)',
                    details=f'unexpected "{raw[:1]}" expecting operator',
                )
            clauses.append(sql.SQL("not ({})").format(clause) if negate else clause)
        if not clauses:
            return sql.SQL("true"), params
        return sql.SQL(" and ").join(clauses), params

    @staticmethod
    async def _json_body(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except ValueError:
            raise RestError(400, "PGRST102", "Empty or invalid json") from None


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        raise RestError(400, "PGRST100", f'"failed to parse {name} ({raw})"') from None


def _plain(value: Any) -> Any:
    """A JSON value as a query parameter: containers as JSON text, scalars as text."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def _to_param(value: Any, pg_type: str) -> Any:
    if isinstance(value, list) and pg_type.endswith("[]"):
        return value
    return _plain(value)
