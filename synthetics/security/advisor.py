"""Our own catalog checks in the spirit of Supabase's Security Advisor (needs a `db_url`).

Each finding names the object and the SQL that fixes it:
- anon-executable SECURITY DEFINER functions (critical: anyone with the anon key runs them as
  their owner);
- RLS disabled on a table of an exposed schema (critical when anon holds a privilege on it);
- policies on a table whose RLS is off (they do nothing);
- SECURITY DEFINER functions with a mutable `search_path`.

The queries only read the catalog; `read_catalog` runs them in a read-only transaction with a
statement timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from synthetics.errors import SyntheticsError
from synthetics.security.discovery import CATALOG_SQL, CATALOG_TABLES_SQL

ANON_DEFINER_SQL = """
select p.oid::regprocedure::text as object
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = any(%(schemas)s) and p.prosecdef and p.prokind = 'f'
  and exists (select 1 from pg_roles where rolname = 'anon')
  and has_function_privilege('anon', p.oid, 'EXECUTE')
order by 1
"""
RLS_OFF_SQL = """
select c.oid::regclass::text as object,
       exists (select 1 from pg_roles where rolname = 'anon')
         and has_table_privilege('anon', c.oid, 'SELECT,INSERT,UPDATE,DELETE') as anon
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p') and not c.relrowsecurity
order by 1
"""
POLICIES_WITHOUT_RLS_SQL = """
select distinct c.oid::regclass::text as object
from pg_policy pol join pg_class c on c.oid = pol.polrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s) and not c.relrowsecurity
order by 1
"""
MUTABLE_SEARCH_PATH_SQL = """
select p.oid::regprocedure::text as object
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = any(%(schemas)s) and p.prosecdef and p.prokind = 'f'
  and not exists (
    select 1 from unnest(coalesce(p.proconfig, '{}')) as setting
    where setting like 'search_path=%%'
  )
order by 1
"""


class CatalogError(SyntheticsError):
    """The database could not be read (connection, permission, timeout)."""


@dataclass(frozen=True)
class Finding:
    """One advisor finding: what, on which object, how bad, and the SQL that fixes it."""

    rule: str
    object: str
    exposed: bool
    problem: str
    fix: str


@dataclass
class Catalog:
    """What the advisor and discovery read from the database."""

    anon_definer: list[str]
    rls_off: list[tuple[str, bool]]
    policies_without_rls: list[str]
    mutable_search_path: list[str]
    function_rows: list[dict[str, Any]]
    table_rows: list[dict[str, Any]]


def read_catalog(
    db_url: str, *, schemas: Sequence[str] = ("public",), timeout_s: float = 10
) -> Catalog:
    """Run the catalog queries (read only, with a statement timeout); CatalogError on failure.

    The error never carries the URL: it is a secret.
    """
    params = {"schemas": list(schemas)}
    try:
        with psycopg.connect(
            db_url,
            connect_timeout=max(1, int(timeout_s)),
            options=f"-c statement_timeout={int(timeout_s * 1000)} "
            "-c default_transaction_read_only=on",
            row_factory=dict_row,
        ) as conn:

            def rows(query: str) -> list[dict[str, Any]]:
                return list(conn.execute(query, params).fetchall())

            return Catalog(
                anon_definer=[r["object"] for r in rows(ANON_DEFINER_SQL)],
                rls_off=[(r["object"], bool(r["anon"])) for r in rows(RLS_OFF_SQL)],
                policies_without_rls=[r["object"] for r in rows(POLICIES_WITHOUT_RLS_SQL)],
                mutable_search_path=[r["object"] for r in rows(MUTABLE_SEARCH_PATH_SQL)],
                function_rows=rows(CATALOG_SQL),
                table_rows=rows(CATALOG_TABLES_SQL),
            )
    except psycopg.Error as exc:
        kind = type(exc).__name__
        sqlstate = getattr(exc, "sqlstate", None) or ""
        raise CatalogError(
            f"the catalog could not be read through db_url ({kind} {sqlstate})".strip()
        ) from None


def findings(catalog: Catalog) -> list[Finding]:
    """The advisor's findings, most severe first (pure)."""
    found: list[Finding] = []
    for signature in catalog.anon_definer:
        found.append(
            Finding(
                "anon_security_definer",
                signature,
                True,
                "SECURITY DEFINER function executable by anon: anyone with the anon key runs it "
                "as its owner, past RLS",
                f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC, anon;",
            )
        )
    for table, anon in catalog.rls_off:
        found.append(
            Finding(
                "rls_disabled",
                table,
                anon,
                "row level security is off on a table of an exposed schema"
                + (" and anon holds privileges on it" if anon else ""),
                f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
                + (f" REVOKE ALL ON TABLE {table} FROM anon;" if anon else ""),
            )
        )
    for table in catalog.policies_without_rls:
        found.append(
            Finding(
                "policy_without_rls",
                table,
                False,
                "policies exist but row level security is off, so they do nothing",
                f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;",
            )
        )
    for signature in catalog.mutable_search_path:
        found.append(
            Finding(
                "mutable_search_path",
                signature,
                False,
                "SECURITY DEFINER function without a fixed search_path: a caller's objects can "
                "shadow the ones it means",
                f"ALTER FUNCTION {signature} SET search_path = '';",
            )
        )
    found.sort(key=lambda f: not f.exposed)
    return found


def summary(found: Iterable[Finding]) -> Mapping[str, int]:
    """How many findings of each rule."""
    counts: dict[str, int] = {}
    for finding in found:
        counts[finding.rule] = counts.get(finding.rule, 0) + 1
    return counts
