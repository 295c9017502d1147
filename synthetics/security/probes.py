"""Pure verdicts of security probes: what an answer proves about access, and harmless arguments.

A probe's verdict is one of:
- *refused*: refused by privilege (401/403 with 42501);
- *executed*: the function ran for the caller: a 2xx, or an error raised inside its body (P0001
  and other P0 codes, 23xxx constraint errors, 25006 a write refused by the read-only
  transaction of a GET) — proof that EXECUTE is granted;
- *inconclusive*: the answer decides nothing (PGRST202/203: not found or ambiguous before any
  privilege check; a transport failure; 5xx; a cast of our argument refused before the call;
  anything unexpected).

Only *executed* is a security finding. Functions are probed with GET, which PostgREST runs in a
READ ONLY transaction whatever the function's volatility (docs: references/transactions, "Access
Mode on Functions"), so a probe can read but never change data.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from synthetics.security.discovery import Function, Param


class Verdict(StrEnum):
    """What one probe proved."""

    REFUSED = "refused"
    EXECUTED = "executed"
    GRANTED = "granted"  # a table privilege without data seen (RLS let nothing through)
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Probe:
    """One probe's target, verdict and the evidence in a few words."""

    target: str
    verdict: Verdict
    detail: str
    rows: int | None = None


#: Codes raised from inside a function body: the call got past the privilege check.
_BODY_CODES = ("P0", "23", "25006")
#: Codes PostgREST or Postgres return before executing anything.
_BEFORE_CALL = ("PGRST", "42883", "42P01", "22", "42804", "42846")


def _code(body: Any) -> str:
    return str(body.get("code") or "") if isinstance(body, Mapping) else ""


def _message(body: Any) -> str:
    return str(body.get("message") or "")[:120] if isinstance(body, Mapping) else ""


def judge_call(status: int | None, body: Any, *, json: bool = True) -> tuple[Verdict, str]:
    """The verdict of a function probe's answer (`status` None: the request failed).

    A 42501 raised by the body itself (an `auth.uid() is null` guard) looks the same as a missing
    grant, and is the same for a caller: nothing ran for them.
    """
    if status is None:
        return Verdict.INCONCLUSIVE, "no answer (transport failure)"
    code = _code(body)
    if status in (401, 403) and code == "42501":
        return Verdict.REFUSED, "42501"
    if 200 <= status < 300:
        if not json and status != 204:
            # PostgREST answers a function in JSON (204 for void): a page is a proxy's.
            return Verdict.INCONCLUSIVE, f"answered {status} with something that is not JSON"
        rows = f", {len(body)} row(s)" if isinstance(body, list) else ""
        return Verdict.EXECUTED, f"answered {status}{rows}"
    if status >= 500:
        return Verdict.INCONCLUSIVE, f"{status} {code}".strip()
    if code and code.startswith(_BODY_CODES):
        return Verdict.EXECUTED, f"ran and raised {code} inside ({_message(body)})"
    if code == "PGRST203":
        return (
            Verdict.INCONCLUSIVE,
            "PGRST203: ambiguous overloads, refused before any privilege check",
        )
    if code == "PGRST202":
        return Verdict.INCONCLUSIVE, "PGRST202: not found with these arguments"
    if code.startswith(_BEFORE_CALL):
        return Verdict.INCONCLUSIVE, f"{status} {code} before the call ({_message(body)})"
    return Verdict.INCONCLUSIVE, f"unexpected {status} {code}".strip()


def judge_table(
    status: int | None, body: Any, *, method: str, json: bool = True
) -> tuple[Verdict, str, int | None]:
    """The verdict of a table probe: a read that returns rows is *executed* (data exposed); a
    granted read with no rows, or a no-op write that was allowed, is *granted*."""
    if status is None:
        return Verdict.INCONCLUSIVE, "no answer (transport failure)", None
    code = _code(body)
    if status in (401, 403) and code == "42501":
        return Verdict.REFUSED, "42501", None
    if 200 <= status < 300:
        if not json and status != 204 and method == "GET":
            return Verdict.INCONCLUSIVE, f"{method} answered {status}, not JSON", None
        if method == "GET" and isinstance(body, list) and body:
            return Verdict.EXECUTED, f"{method} returned {len(body)} row(s)", len(body)
        return Verdict.GRANTED, f"{method} allowed ({status})", 0
    return Verdict.INCONCLUSIVE, f"{method} answered {status} {code}".strip(), None


_VALUES: dict[str, str] = {
    "uuid": "",  # a fresh random uuid: it matches nothing
    "text": "synthetic-probe",
    "character varying": "synthetic-probe",
    "character": "s",
    "citext": "synthetic-probe",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "numeric": "0",
    "real": "0",
    "double precision": "0",
    "boolean": "false",
    "timestamp with time zone": "1900-01-01T00:00:00Z",
    "timestamp without time zone": "1900-01-01T00:00:00",
    "date": "1900-01-01",
    "time without time zone": "00:00:00",
    "interval": "0 seconds",
    "json": "[]",
    "jsonb": "[]",
    "inet": "192.0.2.1",
}


def probe_value(pg_type: str) -> str:
    """A harmless value of `pg_type` for a GET query parameter (ids that match nothing)."""
    if pg_type.endswith("[]"):
        return "{}"
    value = _VALUES.get(pg_type)
    if value == "" or pg_type == "uuid":
        return str(uuid.uuid4())
    return value if value is not None else "synthetic-probe"


def probe_params(params: tuple[Param, ...]) -> dict[str, str]:
    """Query parameters for a GET probe: every named argument (so overloads are told apart)."""
    return {p.name: probe_value(p.type) for p in params}


def label(function: Function, *, overloaded: bool = False) -> str:
    """How a probed function is named in messages: its name, or its signature among overloads."""
    return function.signature if overloaded else function.name
