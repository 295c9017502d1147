"""What a key claims, read from the key alone: roles, project refs, expiry, opaque prefixes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from synthetics.clients.keys import judge_keys, project_ref, read_key
from synthetics.findings import Level

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
HOSTED = "https://abcdefghijklmnopqrst.supabase.co"


def key(role: str | None, ref: str | None = None, exp: datetime | None = None) -> str:
    claims: dict[str, object] = {"iss": "supabase"}
    if role is not None:
        claims["role"] = role
    if ref is not None:
        claims["ref"] = ref
    if exp is not None:
        claims["exp"] = int(exp.timestamp())
    return jwt.encode(claims, SECRET, algorithm="HS256")


ANON, SERVICE = key("anon"), key("service_role")
REF = "abcdefghijklmnopqrst"


def levels(anon: str | None, service: str | None, url: str = "http://127.0.0.1:54321") -> dict:
    found = judge_keys({"anon_key": anon, "service_role_key": service}, url, NOW)
    return {f.id: (f.level, f.message) for f in found}


def test_the_right_keys_are_ok() -> None:
    found = levels(ANON, SERVICE)
    assert found["keys.anon_key"][0] is Level.OK
    assert found["keys.service_role_key"][0] is Level.OK
    assert "role anon" in found["keys.anon_key"][1]


def test_swapped_keys_are_named_as_swapped() -> None:
    found = levels(SERVICE, ANON)
    for name in ("keys.anon_key", "keys.service_role_key"):
        level, message = found[name]
        assert level is Level.FAIL
        assert "swapped" in message


def test_opaque_keys_swapped_are_named_as_swapped() -> None:
    found = levels("sb_secret_0123456789abcdef", "sb_publishable_0123456789abcdef")
    assert all(level is Level.FAIL and "swapped" in m for level, m in found.values())


def test_opaque_keys_in_their_places_are_ok() -> None:
    found = levels("sb_publishable_0123456789abcdef", "sb_secret_0123456789abcdef")
    assert all(level is Level.OK for level, _ in found.values())


@pytest.mark.parametrize(
    ("anon", "service", "failing", "words"),
    [
        (SERVICE, SERVICE, "keys.anon_key", "bypasses RLS"),
        (ANON, ANON, "keys.service_role_key", "admin API refuses it"),
        (key("authenticated"), SERVICE, "keys.anon_key", "role authenticated"),
        (key(None), SERVICE, "keys.anon_key", "no role claim"),
        ("not-a-key-at-all", SERVICE, "keys.anon_key", "neither a JWT"),
        (key("anon", exp=NOW - timedelta(days=1)), SERVICE, "keys.anon_key", "expired"),
    ],
)
def test_a_wrong_key_fails_and_says_why(anon: str, service: str, failing: str, words: str) -> None:
    found = levels(anon, service)
    level, message = found[failing]
    assert level is Level.FAIL
    assert words in message


def test_the_ref_claim_must_match_the_project_url() -> None:
    found = levels(key("anon", ref=REF), key("service_role", ref=REF), HOSTED)
    assert all(level is Level.OK for level, _ in found.values())
    found = levels(key("anon", ref="zzzzzzzzzzzzzzzzzzzz"), key("service_role", ref=REF), HOSTED)
    assert found["keys.anon_key"][0] is Level.FAIL
    assert "zzzzzzzzzzzzzzzzzzzz" in found["keys.anon_key"][1]
    assert found["keys.service_role_key"][0] is Level.OK


def test_keys_of_two_projects_fail_where_the_url_names_neither() -> None:
    found = levels(key("anon", ref="aaaa"), key("service_role", ref="bbbb"))
    assert all(level is Level.FAIL and "different projects" in m for level, m in found.values())


def test_a_missing_service_key_is_not_judged_here() -> None:
    assert set(levels(ANON, None)) == {"keys.anon_key"}


@pytest.mark.parametrize(
    ("url", "ref"),
    [
        (HOSTED, REF),
        ("https://abcdefghijklmnopqrst.supabase.co/", REF),
        ("https://api.mamapace.com", None),
        ("http://127.0.0.1:54321", None),
        ("https://supabase.co", None),
    ],
)
def test_project_ref_comes_from_hosted_urls_only(url: str, ref: str | None) -> None:
    assert project_ref(url) == ref


def test_nothing_of_a_key_is_in_its_description() -> None:
    read = read_key(ANON)
    assert read.kind == "jwt" and read.role == "anon"
    assert ANON not in read.describe()
