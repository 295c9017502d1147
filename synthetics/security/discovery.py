"""What the anon role could reach: every function and table of the exposed schema, discovered.

Two sources, merged: PostgREST's OpenAPI description (`GET /rest/v1/` with the service key, so
it lists everything the API exposes) and, where a `db_url` is configured, `pg_catalog` (every
overload with its exact argument types, whether it is SECURITY DEFINER and whether anon may
execute it). The catalog is the better source, so its entries replace the OpenAPI's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Param:
    """A function argument as PostgREST takes it (by name)."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class Function:
    """One callable function (one overload when the catalog told us)."""

    name: str
    params: tuple[Param, ...] = ()
    volatile: bool | None = None
    definer: bool | None = None
    anon_execute: bool | None = None
    source: str = "openapi"

    @property
    def signature(self) -> str:
        """`name(p_a uuid, p_b text)`."""
        return f"{self.name}(" + ", ".join(f"{p.name} {p.type}" for p in self.params) + ")"


@dataclass(frozen=True)
class Table:
    """A table or view the API exposes, with its columns."""

    name: str
    columns: tuple[str, ...] = ()
    source: str = "openapi"
    #: Whether it takes writes (a table, or a view the API lists with patch/delete).
    writable: bool = True


@dataclass
class Surface:
    """The discovered functions and tables, and what could not be discovered."""

    functions: list[Function] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def function_names(self) -> list[str]:
        """Distinct function names, in discovery order."""
        return list(dict.fromkeys(f.name for f in self.functions))


def from_openapi(doc: Any) -> Surface:
    """Functions and tables of a PostgREST OpenAPI (Swagger 2.0) document; malformed parts are
    listed as problems, never raised."""
    surface = Surface(sources=["openapi"])
    if not isinstance(doc, Mapping) or not isinstance(doc.get("paths"), Mapping):
        surface.problems.append("the OpenAPI description has no `paths`")
        return surface
    definitions = doc.get("definitions") if isinstance(doc.get("definitions"), Mapping) else {}
    for path, item in doc["paths"].items():
        if not isinstance(path, str) or not isinstance(item, Mapping) or path == "/":
            continue
        if path.startswith("/rpc/"):
            surface.functions.append(_openapi_function(path.removeprefix("/rpc/"), item))
        else:
            name = path.strip("/")
            table = definitions.get(name) if isinstance(definitions, Mapping) else None
            props = table.get("properties") if isinstance(table, Mapping) else None
            columns = tuple(str(c) for c in props) if isinstance(props, Mapping) else ()
            surface.tables.append(Table(name, columns, writable="patch" in item))
    return surface


def _openapi_function(name: str, item: Mapping[str, Any]) -> Function:
    params: list[Param] = []
    post = item.get("post")
    body: Any = None
    if isinstance(post, Mapping) and isinstance(post.get("parameters"), list):
        body = next(
            (
                p.get("schema")
                for p in post["parameters"]
                if isinstance(p, Mapping) and p.get("in") == "body"
            ),
            None,
        )
    if isinstance(body, Mapping) and isinstance(body.get("properties"), Mapping):
        raw = body.get("required")
        required = [str(r) for r in raw] if isinstance(raw, list) else []
        for arg, schema in body["properties"].items():
            pg_type = schema.get("format") if isinstance(schema, Mapping) else None
            params.append(Param(str(arg), str(pg_type or "text"), arg in required))
    return Function(name, tuple(params), volatile="get" not in item)


CATALOG_SQL = """
select p.proname as name, p.prosecdef as definer, p.provolatile = 'v' as volatile,
       coalesce(p.proargnames, '{}') as argnames,
       coalesce(p.proargmodes::text[], '{}') as argmodes,
       array(select format_type(t, null) from unnest(p.proargtypes) as t) as argtypes,
       p.pronargs as nargs, p.pronargdefaults as ndefaults,
       case when exists (select 1 from pg_roles where rolname = 'anon')
            then has_function_privilege('anon', p.oid, 'EXECUTE') end as anon_execute
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = any(%(schemas)s) and p.prokind = 'f'
  and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)
order by p.proname, p.oid
"""
CATALOG_TABLES_SQL = """
select c.relname as name, c.relkind in ('r', 'p') as writable,
       array(select a.attname::text from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
             order by a.attnum) as columns
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'v', 'm', 'p', 'f')
order by c.relname
"""


def catalog_params(row: Mapping[str, Any]) -> tuple[Param, ...]:
    """The named input arguments of a pg_proc row (unnamed ones cannot be sent by name)."""
    modes: Sequence[str] = list(row["argmodes"]) or ["i"] * int(row["nargs"])
    names = list(row["argnames"]) + [""] * (len(modes) - len(row["argnames"]))
    inputs = [n for n, m in zip(names, modes, strict=False) if m in ("i", "b", "v")]
    required = int(row["nargs"]) - int(row["ndefaults"])
    return tuple(
        Param(name, pg_type, index < required)
        for index, (name, pg_type) in enumerate(zip(inputs, row["argtypes"], strict=False))
        if name
    )


def from_catalog(
    function_rows: Iterable[Mapping[str, Any]], table_rows: Iterable[Mapping[str, Any]]
) -> Surface:
    """Functions (every overload) and tables from the catalog queries' rows."""
    surface = Surface(sources=["pg_catalog"])
    for row in function_rows:
        surface.functions.append(
            Function(
                str(row["name"]),
                catalog_params(row),
                volatile=bool(row["volatile"]),
                definer=bool(row["definer"]),
                anon_execute=row["anon_execute"],
                source="pg_catalog",
            )
        )
    for row in table_rows:
        surface.tables.append(
            Table(
                str(row["name"]),
                tuple(row["columns"] or ()),
                source="pg_catalog",
                writable=bool(row.get("writable", True)),
            )
        )
    return surface


def merge(*surfaces: Surface) -> Surface:
    """One surface: the catalog's overloads replace the OpenAPI's entry of the same name."""
    merged = Surface()
    by_name: dict[str, list[Function]] = {}
    tables: dict[str, Table] = {}
    for surface in surfaces:
        merged.sources += surface.sources
        merged.problems += surface.problems
        catalog_names = {f.name for f in surface.functions if f.source == "pg_catalog"}
        for name in catalog_names:
            by_name[name] = []
        for function in surface.functions:
            if function.source == "pg_catalog" or function.name not in by_name:
                by_name.setdefault(function.name, []).append(function)
        for table in surface.tables:
            if table.name not in tables or table.source == "pg_catalog":
                tables[table.name] = table
    merged.functions = [f for group in by_name.values() for f in group]
    merged.tables = list(tables.values())
    return merged


def with_configured(surface: Surface, names: Iterable[str]) -> Surface:
    """Add the configured functions that discovery did not find (probed without arguments)."""
    known = set(surface.function_names())
    extra = [Function(n, source="config") for n in names if n not in known]
    surface.functions = [*surface.functions, *extra]
    return surface


def callable_overloads(functions: Iterable[Function]) -> tuple[list[Function], list[Function]]:
    """(reachable, unreachable): an overload no request can pick through PostgREST is set apart.

    PostgREST sends named arguments; overload F sent with all its names is ambiguous when another
    overload G of the same name also accepts them (G's required ⊆ F's names ⊆ G's names), so F
    can never be called through the API (create_post_v2(text) beside create_post_v2(text, jsonb
    default)). Its grants still matter, and the advisor sees them in the catalog.
    """
    found = list(functions)
    reachable: list[Function] = []
    unreachable: list[Function] = []
    for function in found:
        names = {p.name for p in function.params}
        shadowed = any(
            other is not function
            and other.name == function.name
            and {p.name for p in other.params if p.required}
            <= names
            <= {p.name for p in other.params}
            for other in found
        )
        (unreachable if shadowed else reachable).append(function)
    return reachable, unreachable


_CANDIDATE = re.compile(r"(\w+)\.(\w+)\(([^()]*)\)")


def candidates(message: str) -> list[Function]:
    """The overloads PostgREST names in a PGRST203 message (`Could not choose the best
    candidate function between: public.f(a => text), public.f(a => text, b => jsonb)`)."""
    found: list[Function] = []
    for _schema, name, args in _CANDIDATE.findall(message):
        params = []
        for arg in (a.strip() for a in args.split(",") if a.strip()):
            arg_name, _, pg_type = arg.partition("=>")
            params.append(Param(arg_name.strip(), pg_type.strip() or "text"))
        found.append(Function(name, tuple(params), source="pgrst203"))
    return found
