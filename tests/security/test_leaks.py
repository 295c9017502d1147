"""error_leak reads what a client shows: the decoded message, details and hint."""

from __future__ import annotations

import json

import pytest

from synthetics.security.leaks import leaks, shown_text


@pytest.mark.parametrize(
    ("body", "found"),
    [
        # In the raw JSON the quotes are escaped: the old text match missed this one.
        (
            json.dumps(
                {
                    "code": "42P01",
                    "message": 'relation "post_reactions" does not exist',
                    "details": None,
                    "hint": None,
                }
            ),
            ["a relation or constraint name"],
        ),
        (
            json.dumps(
                {
                    "code": "23505",
                    "message": "duplicate key",
                    "details": "Key (post_id, user_id)=(a, b) already exists.",
                }
            ),
            ["row values"],
        ),
        (
            json.dumps(
                {
                    "code": "P0001",
                    "message": "boom",
                    "details": "PL/pgSQL function create_post_v2(text) line 5 at RAISE",
                }
            ),
            ["a PL/pgSQL stack"],
        ),
        (
            json.dumps({"message": "x", "hint": "SELECT * FROM posts WHERE id = $1"}),
            ["an SQL statement"],
        ),
        ("Traceback (most recent call last):\n  File x", ["a stack trace"]),
        (json.dumps({"code": "42501", "message": "permission denied for function f"}), []),
        (
            json.dumps(
                {
                    "code": "PGRST202",
                    "message": "Could not find the function public.f(p)",
                    "hint": "Perhaps you meant to call the function public.g",
                }
            ),
            [],
        ),
    ],
)
def test_leaks_are_read_from_the_message(body: str, found: list[str]) -> None:
    assert leaks(body) == found


def test_non_json_bodies_are_read_as_text() -> None:
    assert shown_text(b"<html>relation x</html>") == "<html>relation x</html>"
    assert shown_text(b"\xff\xfe") == "\ufffd\ufffd"
