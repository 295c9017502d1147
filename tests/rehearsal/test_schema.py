"""Which parameter a PGRST202 lost: the app's call against the after schema's overloads."""

from __future__ import annotations

from synthetics.rehearsal.schema import (
    Signature,
    explain,
    pgrst202_function,
    signatures_from_rows,
)

MESSAGE = (
    "get_home_feed_v2 answered 404 PGRST202: Could not find the function "
    "public.get_home_feed_v2(p_limit, p_offset_time) in the schema cache"
)


def test_the_call_is_read_from_the_message() -> None:
    assert pgrst202_function(MESSAGE) == ("get_home_feed_v2", ["p_limit", "p_offset_time"])
    bare = "PGRST202: Could not find the function public.get_my_profile_v2 without parameters"
    assert pgrst202_function(bare) == ("get_my_profile_v2", [])
    assert pgrst202_function("get_home_feed_v2 answered 400 P0001: nope") is None


def test_a_renamed_parameter_is_named() -> None:
    after = {"get_home_feed_v2": [Signature(("p_limit", "p_before"), defaults=2)]}
    assert explain(MESSAGE, after) == (
        "`p_offset_time` no longer exists: get_home_feed_v2 now takes (p_limit, p_before); "
        "the app sends it"
    )


def test_the_closest_overload_explains() -> None:
    after = {
        "get_home_feed_v2": [
            Signature(("p_cursor",), defaults=0),
            Signature(("p_limit", "p_cursor"), defaults=1),
        ]
    }
    assert explain(MESSAGE, after).startswith(
        "`p_offset_time` no longer exists: get_home_feed_v2 now takes (p_limit, p_cursor)"
    )


def test_a_dropped_function_and_a_new_required_parameter() -> None:
    assert explain(MESSAGE, {}) == "get_home_feed_v2 no longer exists; the app calls it"
    after = {"get_home_feed_v2": [Signature(("p_region", "p_limit", "p_offset_time"), defaults=2)]}
    assert explain(MESSAGE, after) == (
        "get_home_feed_v2 now takes (p_region, p_limit, p_offset_time) and requires "
        "`p_region`, which the app does not send"
    )


def test_no_pgrst202_no_explanation() -> None:
    assert explain("answered 500", {"f": [Signature(())]}) == ""


def test_catalog_rows_keep_input_parameters_only() -> None:
    rows = [
        # get_feed(p_limit int, OUT id uuid, OUT body text): modes i, o, o
        ("get_feed", ["p_limit", "id", "body"], ["i", "o", "o"], 1, 1),
        # no modes: every argument is an input
        ("get_feed", ["p_cursor", "p_limit"], None, 2, 0),
        ("count", None, None, 0, 0),
    ]
    assert signatures_from_rows(rows) == {
        "get_feed": [Signature(("p_limit",), 1), Signature(("p_cursor", "p_limit"), 0)],
        "count": [Signature((), 0)],
    }
