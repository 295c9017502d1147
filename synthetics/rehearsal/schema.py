"""What the after schema's functions take, to say which parameter a PGRST202 lost.

A v2 RPC the app calls with `(p_limit, p_offset_time)` answers PGRST202 once a migration renames
a parameter; the check's message names what the app sent, and the after schema's catalog says
what the function takes now. `explain()` is pure; `read_signatures()` reads the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: PostgREST's PGRST202 message: `Could not find the function public.f(a, b) in the schema cache`.
_PGRST202 = re.compile(r"PGRST202: Could not find the function (?:(\w+)\.)?(\w+)(?:\(([^)]*)\))?")
_INPUT_MODES = ("i", "b", "v")


@dataclass(frozen=True)
class Signature:
    """One overload: its input parameters in order, and how many of the last have defaults."""

    params: tuple[str, ...]
    defaults: int = 0

    @property
    def required(self) -> tuple[str, ...]:
        """The parameters a call must send."""
        return self.params[: len(self.params) - self.defaults]


def pgrst202_function(message: str) -> tuple[str, list[str]] | None:
    """The function and the arguments a PGRST202 message says the call sent."""
    match = _PGRST202.search(message)
    if match is None:
        return None
    args = match.group(3)
    sent = [a.strip() for a in args.split(",") if a.strip()] if args else []
    return match.group(2), sent


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def explain(message: str, signatures: Mapping[str, Sequence[Signature]]) -> str:
    """Why the call in a PGRST202 `message` finds no function in the after schema ("" when the
    message is no PGRST202)."""
    found = pgrst202_function(message)
    if found is None:
        return ""
    name, sent = found
    overloads = signatures.get(name, ())
    if not overloads:
        return f"{name} no longer exists; the app calls it"

    def distance(sig: Signature) -> tuple[int, int]:
        return (len(set(sent) - set(sig.params)), len(set(sig.required) - set(sent)))

    best = min(overloads, key=distance)
    takes = f"{name} now takes ({', '.join(best.params)})"
    lost = [a for a in sent if a not in best.params]
    if lost:
        verb = "no longer exists" if len(lost) == 1 else "no longer exist"
        pronoun = "it" if len(lost) == 1 else "them"
        return f"{_quoted(lost)} {verb}: {takes}; the app sends {pronoun}"
    unsent = [p for p in best.required if p not in sent]
    if unsent:
        return f"{takes} and requires {_quoted(unsent)}, which the app does not send"
    return takes


def signatures_from_rows(rows: Iterable[Sequence[Any]]) -> dict[str, list[Signature]]:
    """Catalog rows (proname, proargnames, proargmodes, pronargs, pronargdefaults) → overloads."""
    found: dict[str, list[Signature]] = {}
    for name, names, modes, nargs, ndefaults in rows:
        names = list(names or [])
        if modes:
            params = [n for n, m in zip(names, modes, strict=False) if m in _INPUT_MODES]
        else:
            params = names[: int(nargs)]
        found.setdefault(str(name), []).append(Signature(tuple(params), int(ndefaults or 0)))
    return found


def read_signatures(conn: Any, names: Sequence[str]) -> dict[str, list[Signature]]:
    """The overloads of `names` in schema public (a psycopg connection)."""
    rows = conn.execute(
        "select p.proname, p.proargnames, p.proargmodes::text[], p.pronargs, p.pronargdefaults "
        "from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname = any(%s)",
        [list(names)],
    ).fetchall()
    return signatures_from_rows(rows)
