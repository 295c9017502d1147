"""Fault specs: parsing, validation messages, and the state the services query."""

from __future__ import annotations

import pytest

from synthetics.errors import ConfigError
from synthetics.sandbox.database import schema_sql
from synthetics.sandbox.faults import (
    FAULTS,
    Fault,
    FaultState,
    database_statements,
    parse_fault,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("email.drop", Fault("email.drop")),
        ("email.delay=2.5", Fault("email.delay", "2.5")),
        ("rpc.latency=800", Fault("rpc.latency", "800")),
        ("rpc.latency=get_home_feed_v2:800", Fault("rpc.latency", "get_home_feed_v2:800")),
        ("rpc.missing=get_home_feed_v2", Fault("rpc.missing", "get_home_feed_v2")),
        (" flaky=3 ", Fault("flaky", "3")),
    ],
)
def test_valid_specs(spec: str, expected: Fault) -> None:
    assert parse_fault(spec) == expected
    assert str(expected) == spec.strip()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("email.explode", "unknown fault 'email.explode'"),
        ("email.drop=1", "takes no value"),
        ("email.delay", "needs a value: email.delay=SECONDS"),
        ("email.delay=soon", "'soon' is not a number"),
        ("email.delay=-1", "must not be negative"),
        ("auth.latency=1.5", "is not a whole number"),
        ("rpc.latency=bad name:10", "is not a function name"),
        ("rpc.error=x;drop", "is not a function name"),
        ("site.app_links=wobbly", "'wobbly' is not one of broken_json, wrong_type, redirect"),
    ],
)
def test_invalid_specs_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match="fault") as error:
        parse_fault(spec)
    assert message in str(error.value)


def test_every_documented_fault_parses() -> None:
    examples = {
        "SECONDS": "1",
        "MS": "5",
        "MS or FUNCTION:MS": "f:5",
        "FUNCTION": "f",
        "N": "1",
        "KIND": "broken_json",
    }
    for name, shape in FAULTS.items():
        spec = name if shape is None else f"{name}={examples[shape]}"
        assert parse_fault(spec).name == name


def test_state_keeps_one_value_per_target() -> None:
    state = FaultState()
    state.replace(
        [
            Fault("rpc.latency", "100"),
            Fault("rpc.latency", "feed:700"),
            Fault("rpc.missing", "a"),
            Fault("rpc.missing", "b"),
            Fault("email.delay", "1"),
            Fault("email.delay", "4"),
        ]
    )
    assert state.rpc_latency_s("feed") == 0.7
    assert state.rpc_latency_s("other") == 0.1
    assert state.rpc_targets("rpc.missing") == {"a", "b"}
    assert state.email_delay_s() == 4
    assert state.remove("rpc.missing") and not state.rpc_targets("rpc.missing")
    assert not state.remove("rpc.missing")


def test_flaky_counts_down() -> None:
    state = FaultState()
    state.add(Fault("flaky", "2"))
    assert [state.take_flaky() for _ in range(3)] == [True, True, False]
    state.replace([])
    assert not state.take_flaky()


def test_database_statements_switch_both_ways() -> None:
    on = database_statements("security.anon_grant", True)
    off = database_statements("security.anon_grant", False)
    assert on == [schema_sql("fault_anon_grant.sql")]
    assert "grant execute on all functions in schema public to public, anon" in on[0]
    # Clearing runs the hardened state again rather than undoing the fault's own grants.
    assert off == [schema_sql("hardening.sql")]
    assert database_statements("email.drop", True) == []
    vulnerable = database_statements("security.cross_user", True)[0]
    hardened = database_statements("security.cross_user", False)[0]
    assert "delete_post_v2" in vulnerable and vulnerable != hardened
