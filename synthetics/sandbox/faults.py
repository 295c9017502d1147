"""Sandbox faults: what `--fault NAME[=VALUE]` can break, parsed, validated and held as state.

The state is plain data read by the Auth, REST and mail code on every request, so a fault set at
run time through the faults endpoint takes effect on the next request. Faults that live in the
database (privileges, a vulnerable function) are applied by `database_statements`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from synthetics.errors import ConfigError

#: Every fault the sandbox knows, with the shape of its value (None = takes no value).
FAULTS: dict[str, str | None] = {
    "email.drop": None,
    "email.delay": "SECONDS",
    "email.rate_limit": None,
    "auth.redirect_disallowed": None,
    "auth.autoconfirm": None,
    "auth.signup_error": None,
    "auth.latency": "MS",
    "rpc.latency": "MS or FUNCTION:MS",
    "rpc.missing": "FUNCTION",
    "rpc.error": "FUNCTION",
    "security.anon_grant": None,
    "security.cross_user": None,
    "security.verbose_errors": None,
    "flaky": "N",
    "site.app_links": "KIND",
}
#: How `site.app_links` breaks the association files (see synthetics.sandbox.site).
APP_LINKS_FAULTS = ("broken_json", "wrong_type", "redirect", "missing_app", "path_uncovered")
_FUNCTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Fault:
    """One parsed fault, e.g. `Fault("rpc.latency", "get_home_feed_v2:800")`."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}={self.value}"


def _number(spec: str, value: str, *, integer: bool) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"fault {spec!r}: {value!r} is not {kind}", key="fault") from None
    if number < 0:
        raise ConfigError(f"fault {spec!r}: the value must not be negative", key="fault")
    return number


def parse_fault(spec: str, *, source: str = "--fault") -> Fault:
    """Parse and validate one `NAME[=VALUE]` spec; raises ConfigError naming the problem."""
    name, sep, value = spec.strip().partition("=")
    if name not in FAULTS:
        known = ", ".join(sorted(FAULTS))
        raise ConfigError(
            f"unknown fault {name!r}; known faults: {known}", key="fault", source=source
        )
    shape = FAULTS[name]
    if shape is None:
        if sep:
            raise ConfigError(f"fault {name!r} takes no value", key="fault", source=source)
        return Fault(name)
    if not value:
        raise ConfigError(
            f"fault {name!r} needs a value: {name}={shape}", key="fault", source=source
        )
    if name in ("email.delay",):
        _number(spec, value, integer=False)
    elif name in ("auth.latency", "flaky"):
        _number(spec, value, integer=True)
    elif name == "site.app_links":
        if value not in APP_LINKS_FAULTS:
            raise ConfigError(
                f"fault {spec!r}: {value!r} is not one of {', '.join(APP_LINKS_FAULTS)}",
                key="fault",
                source=source,
            )
    elif name == "rpc.latency":
        function, _, ms = value.rpartition(":")
        if function and not _FUNCTION.match(function):
            raise ConfigError(f"fault {spec!r}: {function!r} is not a function name", key="fault")
        _number(spec, ms, integer=True)
    elif not _FUNCTION.match(value):
        raise ConfigError(f"fault {spec!r}: {value!r} is not a function name", key="fault")
    return Fault(name, value)


def parse_faults(specs: Iterable[str], *, source: str = "--fault") -> list[Fault]:
    """Parse several specs, failing on the first bad one."""
    return [parse_fault(spec, source=source) for spec in specs]


@dataclass
class FaultState:
    """The active faults, queried by the services on each request."""

    active: list[Fault] = field(default_factory=list)
    _flaky_left: int = 0

    def replace(self, faults: Iterable[Fault]) -> None:
        """Make `faults` the whole active set."""
        self.active = []
        self._flaky_left = 0
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        """Activate one fault; a valued fault replaces an earlier one with the same target."""
        self.active = [f for f in self.active if _slot(f) != _slot(fault)]
        self.active.append(fault)
        if fault.name == "flaky":
            self._flaky_left = int(fault.value or 0)

    def remove(self, name: str) -> bool:
        """Deactivate every fault called `name`; returns whether any was active."""
        before = len(self.active)
        self.active = [f for f in self.active if f.name != name]
        if name == "flaky":
            self._flaky_left = 0
        return len(self.active) != before

    def has(self, name: str) -> bool:
        """Whether a fault called `name` is active."""
        return any(f.name == name for f in self.active)

    def value(self, name: str) -> str | None:
        """The value of the active fault `name`, if any."""
        for fault in self.active:
            if fault.name == name:
                return fault.value
        return None

    def email_delay_s(self) -> float:
        """Seconds to hold back each confirmation email."""
        value = self.value("email.delay")
        return float(value) if value else 0.0

    def auth_latency_s(self) -> float:
        """Extra seconds before Auth answers."""
        value = self.value("auth.latency")
        return int(value) / 1000 if value else 0.0

    def rpc_latency_s(self, function: str) -> float:
        """Extra seconds before `function` answers (a per-function fault beats a global one)."""
        default = 0.0
        for fault in self.active:
            if fault.name != "rpc.latency" or fault.value is None:
                continue
            target, _, ms = fault.value.rpartition(":")
            if target == function:
                return int(ms) / 1000
            if not target:
                default = int(ms) / 1000
        return default

    def rpc_targets(self, name: str) -> set[str]:
        """Functions named by every active `rpc.missing` or `rpc.error` fault."""
        return {f.value for f in self.active if f.name == name and f.value}

    def take_flaky(self) -> bool:
        """Whether this request must fail with 502 (counts down `flaky=N`)."""
        if self._flaky_left <= 0:
            return False
        self._flaky_left -= 1
        return True

    def describe(self) -> list[str]:
        """The active faults as `NAME[=VALUE]` strings."""
        return [str(f) for f in self.active]


def _slot(fault: Fault) -> tuple[str, str | None]:
    """Faults that can stack per function (rpc.*) are keyed by their target too."""
    if fault.name in ("rpc.missing", "rpc.error"):
        return (fault.name, fault.value)
    if fault.name == "rpc.latency" and fault.value:
        return (fault.name, fault.value.rpartition(":")[0])
    return (fault.name, None)


#: Database-level faults, in the order they are applied: the body of delete_post_v2 first, then
#: privileges, so whatever the first one runs cannot change who may call what.
DATABASE_FAULTS = ("security.cross_user", "security.anon_grant")


def database_statements(name: str, on: bool) -> list[str]:
    """SQL that switches a database-level fault on or off (empty for other faults).

    Switching off runs the hardened file again rather than undoing the fault's own statements,
    so the database ends in exactly the bootstrap's state whatever happened in between.
    """
    from synthetics.sandbox.database import schema_sql

    if name == "security.anon_grant":
        return [schema_sql("fault_anon_grant.sql" if on else "hardening.sql")]
    if name == "security.cross_user":
        return [schema_sql("fault_cross_user.sql" if on else "delete_post_v2.sql")]
    return []


async def sync_database(conn: Any, state: FaultState) -> None:
    """Make the database match `state` for every database-level fault (idempotent)."""
    async with conn.transaction():
        for name in DATABASE_FAULTS:
            for statement in database_statements(name, state.has(name)):
                await conn.execute(statement.encode())
