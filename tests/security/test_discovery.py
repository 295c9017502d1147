"""Discovery reads PostgREST's OpenAPI and the catalog, and merges them."""

from __future__ import annotations

from typing import Any

from synthetics.security.discovery import (
    Surface,
    from_catalog,
    from_openapi,
    merge,
    with_configured,
)

OPENAPI: dict[str, Any] = {
    "swagger": "2.0",
    "paths": {
        "/": {"get": {}},
        "/posts": {"get": {}, "post": {}, "patch": {}, "delete": {}},
        "/feed_view": {"get": {}},
        "/rpc/get_home_feed_v2": {
            "get": {},
            "post": {
                "parameters": [
                    {
                        "name": "args",
                        "in": "body",
                        "schema": {
                            "properties": {
                                "p_limit": {"format": "integer", "type": "integer"},
                                "p_offset_time": {"format": "timestamp with time zone"},
                            },
                            "required": [],
                        },
                    }
                ]
            },
        },
        "/rpc/create_post_v2": {
            "post": {
                "parameters": [
                    {
                        "in": "body",
                        "schema": {
                            "properties": {"p_body": {"format": "text"}},
                            "required": ["p_body"],
                        },
                    }
                ]
            }
        },
    },
    "definitions": {"posts": {"properties": {"id": {"format": "uuid"}, "body": {}}}},
}


def test_openapi_lists_functions_with_arguments_and_tables_with_columns() -> None:
    surface = from_openapi(OPENAPI)
    feed = next(f for f in surface.functions if f.name == "get_home_feed_v2")
    assert [p.name for p in feed.params] == ["p_limit", "p_offset_time"]
    assert feed.params[1].type == "timestamp with time zone"
    assert not feed.params[0].required
    assert feed.volatile is False  # it has a GET: not volatile
    create = next(f for f in surface.functions if f.name == "create_post_v2")
    assert create.volatile is True and create.params[0].required
    tables = {t.name: t for t in surface.tables}
    assert tables["posts"].columns == ("id", "body") and tables["posts"].writable
    assert not tables["feed_view"].writable


def test_a_malformed_document_is_a_problem_not_a_crash() -> None:
    for junk in (None, [], {"paths": "no"}, {"paths": {"/rpc/x": "junk"}}):
        surface = from_openapi(junk)
        assert isinstance(surface, Surface)


def row(name: str, args: list[tuple[str, str]], defaults: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "definer": True,
        "volatile": True,
        "argnames": [a for a, _ in args],
        "argmodes": [],
        "argtypes": [t for _, t in args],
        "nargs": len(args),
        "ndefaults": defaults,
        "anon_execute": True,
        **extra,
    }


def test_the_catalog_brings_every_overload_and_replaces_the_openapi_entry() -> None:
    catalog = from_catalog(
        [
            row("create_post_v2", [("p_body", "text")]),
            row("create_post_v2", [("p_body", "text"), ("p_attachments", "jsonb")], defaults=1),
            row("create_post", [("p_user_id", "uuid"), ("p_body", "text")]),
        ],
        [{"name": "user_profiles", "columns": ["id", "password_hash"], "writable": True}],
    )
    merged = merge(from_openapi(OPENAPI), catalog)
    creates = [f for f in merged.functions if f.name == "create_post_v2"]
    assert len(creates) == 2 and all(f.source == "pg_catalog" for f in creates)
    assert creates[1].params[1].required is False
    assert {f.name for f in merged.functions} == {
        "get_home_feed_v2",
        "create_post_v2",
        "create_post",
    }
    assert {t.name for t in merged.tables} == {"posts", "feed_view", "user_profiles"}
    assert merged.sources == ["openapi", "pg_catalog"]


def test_configured_functions_discovery_missed_are_probed_too() -> None:
    surface = with_configured(from_openapi(OPENAPI), ["get_home_feed_v2", "is_following_v2"])
    assert surface.function_names()[-1] == "is_following_v2"
    assert surface.functions[-1].source == "config"
