"""Probe verdicts are pure: a table of answers → refused, executed, granted or inconclusive."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from synthetics.security.discovery import Function, Param
from synthetics.security.probes import (
    Verdict,
    judge_call,
    judge_table,
    label,
    probe_params,
    probe_value,
)


def err(code: str, message: str = "boom") -> dict[str, Any]:
    return {"code": code, "message": message, "details": None, "hint": None}


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (401, err("42501", "permission denied for function get_home_feed_v2"), Verdict.REFUSED),
        (403, err("42501"), Verdict.REFUSED),
        (200, [{"id": "x"}], Verdict.EXECUTED),
        (200, [], Verdict.EXECUTED),  # ran, found nothing: EXECUTE is granted
        (204, None, Verdict.EXECUTED),
        (400, err("P0001", "Post must have content"), Verdict.EXECUTED),
        (409, err("23503"), Verdict.EXECUTED),
        (400, err("23502"), Verdict.EXECUTED),
        (405, err("25006", "cannot execute INSERT in a read-only transaction"), Verdict.EXECUTED),
        # Decided before any privilege check: never proof of access.
        (300, err("PGRST203"), Verdict.INCONCLUSIVE),
        (404, err("PGRST202"), Verdict.INCONCLUSIVE),
        (400, err("22P02", "invalid input syntax for type uuid"), Verdict.INCONCLUSIVE),
        (404, err("42883"), Verdict.INCONCLUSIVE),
        (500, err("XX000"), Verdict.INCONCLUSIVE),
        (503, None, Verdict.INCONCLUSIVE),
        (401, err("PGRST301", "JWT invalid"), Verdict.INCONCLUSIVE),
        (400, "<html>proxy</html>", Verdict.INCONCLUSIVE),
        (None, None, Verdict.INCONCLUSIVE),  # no answer at all
    ],
)
def test_function_probe_verdicts(status: int | None, body: Any, verdict: Verdict) -> None:
    assert judge_call(status, body)[0] is verdict


def test_a_page_instead_of_json_decides_nothing() -> None:
    assert judge_call(200, None, json=False)[0] is Verdict.INCONCLUSIVE  # a proxy's page
    assert judge_call(204, None, json=False)[0] is Verdict.EXECUTED  # a void function
    assert judge_table(200, None, method="GET", json=False)[0] is Verdict.INCONCLUSIVE


@pytest.mark.parametrize(
    ("status", "body", "method", "verdict", "rows"),
    [
        (401, err("42501"), "GET", Verdict.REFUSED, None),
        (200, [{"id": 1}], "GET", Verdict.EXECUTED, 1),  # data came out
        (200, [], "GET", Verdict.GRANTED, 0),  # the grant is there, RLS let nothing through
        (204, None, "PATCH", Verdict.GRANTED, 0),
        (200, [], "DELETE", Verdict.GRANTED, 0),
        (404, err("PGRST205"), "GET", Verdict.INCONCLUSIVE, None),
        (502, None, "GET", Verdict.INCONCLUSIVE, None),
        (None, None, "GET", Verdict.INCONCLUSIVE, None),
    ],
)
def test_table_probe_verdicts(
    status: int | None, body: Any, method: str, verdict: Verdict, rows: int | None
) -> None:
    found, _, count = judge_table(status, body, method=method)
    assert (found, count) == (verdict, rows)


def test_probe_values_are_harmless_and_typed() -> None:
    uuid.UUID(probe_value("uuid"))  # a random id: it matches nothing
    assert probe_value("uuid") != probe_value("uuid")
    assert probe_value("integer") == "0"
    assert probe_value("timestamp with time zone").startswith("1900")
    assert probe_value("jsonb") == "[]"
    assert probe_value("text[]") == "{}"
    assert probe_value("some_enum") == "synthetic-probe"


def test_every_argument_is_sent_so_overloads_are_told_apart() -> None:
    both = Function(
        "create_post_v2", (Param("p_body", "text"), Param("p_attachments", "jsonb", False))
    )
    assert set(probe_params(both.params)) == {"p_body", "p_attachments"}
    assert label(both) == "create_post_v2"
    assert label(both, overloaded=True) == "create_post_v2(p_body text, p_attachments jsonb)"
