"""PostgREST's OpenAPI (Swagger 2.0) description of the exposed schema (`GET /rest/v1/`).

Follows PostgREST's `openapi-mode = follow-privileges` (its default, and Supabase's): the document
lists only the tables and functions the requesting role holds a privilege on. Shapes follow
PostgREST's `Response/OpenAPI.hs`: a table path has `get` (plus `post`, `patch` and `delete` when
the role may write) and a definition with its columns' `format`; a function path has `post` with
one body parameter `args` whose schema lists the arguments (`required` for those without
defaults), plus `get` with query parameters unless the function is volatile. Overloads share one
path: like PostgREST, the last one wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OPENAPI_SQL = """
select 'function' as kind, p.proname as name, p.provolatile as volatility,
       coalesce(p.proargnames, '{}') as argnames,
       coalesce(p.proargmodes::text[], '{}') as argmodes,
       array(select format_type(t, null) from unnest(p.proargtypes) as t) as argtypes,
       p.pronargs as nargs, p.pronargdefaults as ndefaults,
       false as writable, '{}'::text[] as columns, '{}'::text[] as coltypes,
       '{}'::boolean[] as colnotnull
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where n.nspname = %(schema)s and p.prokind = 'f' and p.prorettype <> 'trigger'::regtype
  and has_function_privilege(%(role)s, p.oid, 'EXECUTE')
union all
select 'table', c.relname, null, '{}', '{}', '{}', 0, 0,
       has_table_privilege(%(role)s, c.oid, 'INSERT,UPDATE,DELETE'),
       array(select a.attname::text from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum),
       array(select format_type(a.atttypid, a.atttypmod) from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum),
       array(select a.attnotnull from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relkind in ('r', 'v', 'm', 'p', 'f')
  and has_table_privilege(%(role)s, c.oid, 'SELECT,INSERT,UPDATE,DELETE')
order by 1 desc, 2
"""

_STRING_TYPES = {"character varying", "character", "text"}
_TYPES = {
    "boolean": "boolean",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
}


def swagger_type(pg_type: str) -> str | None:
    """PostgREST's `toSwaggerType`: json/jsonb have none, arrays are arrays, the rest strings."""
    if pg_type in ("json", "jsonb"):
        return None
    if pg_type in _TYPES:
        return _TYPES[pg_type]
    if pg_type in _STRING_TYPES:
        return "string"
    return "array" if pg_type.endswith("[]") else "string"


def _typed(pg_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"format": pg_type}
    kind = swagger_type(pg_type)
    if kind is not None:
        schema["type"] = kind
    return schema


def _params(row: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    modes: Sequence[str] = list(row["argmodes"]) or ["i"] * row["nargs"]
    names = list(row["argnames"]) + [""] * (len(modes) - len(row["argnames"]))
    inputs = [n for n, m in zip(names, modes, strict=False) if m in ("i", "b", "v")]
    required = row["nargs"] - row["ndefaults"]
    return [
        (name, pg_type, index < required)
        for index, (name, pg_type) in enumerate(zip(inputs, row["argtypes"], strict=False))
        if name
    ]


def document(rows: Sequence[Mapping[str, Any]], *, base_path: str = "/") -> dict[str, Any]:
    """The Swagger 2.0 document for the rows of `OPENAPI_SQL`."""
    paths: dict[str, Any] = {"/": {"get": {"tags": ["Introspection"]}}}
    definitions: dict[str, Any] = {}
    for row in rows:
        name = str(row["name"])
        if row["kind"] == "table":
            columns = list(zip(row["columns"], row["coltypes"], row["colnotnull"], strict=False))
            definitions[name] = {
                "type": "object",
                "properties": {col: _typed(pg_type) for col, pg_type, _ in columns},
                "required": [col for col, _, notnull in columns if notnull],
            }
            item: dict[str, Any] = {"get": {"tags": [name]}}
            if row["writable"]:
                item |= {"post": {"tags": [name]}, "patch": {"tags": [name]}}
                item["delete"] = {"tags": [name]}
            paths[f"/{name}"] = item
            continue
        params = _params(row)
        body = {
            "type": "object",
            "properties": {n: _typed(t) for n, t, _ in params},
            "required": [n for n, _, required in params if required],
        }
        tags = [f"(rpc) {name}"]
        rpc: dict[str, Any] = {
            "post": {
                "tags": tags,
                "parameters": [{"name": "args", "in": "body", "required": True, "schema": body}],
            }
        }
        if row["volatility"] != "v":
            rpc["get"] = {
                "tags": tags,
                "parameters": [
                    {
                        "name": n,
                        "in": "query",
                        "required": required,
                        "type": swagger_type(t)
                        if swagger_type(t) not in (None, "array")
                        else "string",
                        "format": t,
                    }
                    for n, t, required in params
                ],
            }
        paths[f"/rpc/{name}"] = rpc  # overloads: the last one wins, as in PostgREST
    return {
        "swagger": "2.0",
        "info": {"title": "standard public schema", "version": "13.0.4"},
        "basePath": base_path,
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": definitions,
    }
