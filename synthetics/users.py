"""Throwaway users: addresses with the run id, generated passwords, who must be deleted, and
the cleanup that deletes them and the rows they own, then verifies that nothing is left; what
proves a user (or a profile left behind by one) is a throwaway, for the janitor.

Cleanup talks to the target through two small protocols (`AdminUsers`, `OwnedRowsApi`) so the
same procedure serves the run's `cleanup` check, an interrupted run's teardown and the janitor.
It never says "verified" unless every deletion was confirmed by asking the target again.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from synthetics.errors import ConfigError, SyntheticsError

#: Domains Supabase's extended email validation rejects (or that bounce): never sign up with them.
REJECTED_DOMAINS = ("example.com", "example.net", "example.org", "test.com")
REJECTED_SUFFIXES = (".test", ".local", ".example", ".invalid", ".localhost")


def new_run_id(now: datetime) -> str:
    """A short, sortable, unique run id, e.g. `20261125t130501-3fa2c1`."""
    return f"{now:%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"


#: What `new_run_id` makes: the run's start (UTC, to the second) and 6 random hex digits.
RUN_ID = r"\d{8}t\d{6}-[0-9a-f]{6}"
_RUN_ID = re.compile(rf"^{RUN_ID}$")
#: A throwaway's role in its run (`primary`, `browser`, `fallback`, `second`, …).
ROLE = r"[a-z0-9_]+"


def run_started(run_id: str) -> datetime | None:
    """When the run whose id this is started (UTC), or None when it is not a run id."""
    if not _RUN_ID.match(run_id):
        return None
    try:
        return datetime.strptime(run_id[:15], "%Y%m%dt%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def throwaway_run(user_metadata: Mapping[str, Any]) -> str | None:
    """The run id of a throwaway user, from its metadata; None for any other user.

    A run marks its users `{"synthetic": true, "synthetics_run_id": <run id>}` (the journey's
    `metadata`). Both must be there, exactly: the JSON boolean true (not `"true"`, not 1) and a
    string that is a run id. Anything less is somebody else's user and is never touched.
    """
    if user_metadata.get("synthetic") is not True:
        return None
    run_id = user_metadata.get("synthetics_run_id")
    if not isinstance(run_id, str) or run_started(run_id) is None:
        return None
    return run_id


def new_password(length: int = 24) -> str:
    """A random password with letters, digits and a symbol (meets common strength rules)."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(length - 3))
    return f"{body}Aa1!"[:length] if length >= 4 else body


def check_address(address: str, *, key: str, source: str) -> str:
    """Refuse addresses Supabase's validation rejects or that would bounce."""
    local, sep, domain = address.rpartition("@")
    domain = domain.lower()
    if not sep or not local or "." not in domain:
        raise ConfigError(f"{address!r} is not an email address", key=key, source=source)
    if domain in REJECTED_DOMAINS or domain.endswith(REJECTED_SUFFIXES):
        raise ConfigError(
            f"{domain} is rejected by Supabase's email validation or bounces; use a deliverable "
            "domain you control (or a test inbox provider's)",
            key=key,
            source=source,
        )
    return address


@dataclass
class Throwaway:
    """A user this run created (or tried to)."""

    role: str
    email: str
    password: str
    id: str | None = None
    via: str = "signup"


@dataclass
class Registry:
    """Every user the run created, so cleanup can delete them all, even after a failure."""

    users: list[Throwaway] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, user: Throwaway) -> None:
        """Remember a user (its id may arrive later)."""
        with self._lock:
            self.users.append(user)

    def created(self) -> list[Throwaway]:
        """Users that exist on the target (they have an id)."""
        with self._lock:
            return [u for u in self.users if u.id]

    def unconfirmed_ids(self) -> list[Throwaway]:
        """Users whose creation was sent but never answered (an interrupt, a timeout)."""
        with self._lock:
            return [u for u in self.users if not u.id]

    def forget(self, user: Throwaway) -> None:
        """Drop a user once deleted (its id stays known, for the rows it owned)."""
        with self._lock:
            self.users = [u for u in self.users if u is not user]
            if user.id and user.id not in self.deleted_ids:
                self.deleted_ids.append(user.id)

    def all_ids(self) -> list[str]:
        """Every id the run's users had, deleted or not (their owned rows go too)."""
        with self._lock:
            return list(dict.fromkeys([*self.deleted_ids, *(u.id for u in self.users if u.id)]))


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class OwnedRows:
    """Rows a throwaway user owns where nothing cascades from auth.users: `table.column`, the
    column holding the user's id (Mamapace: `user_profiles.id`)."""

    table: str
    column: str

    @classmethod
    def parse(cls, spec: str) -> OwnedRows:
        """`table.column` → OwnedRows (ValueError when it is not two SQL identifiers)."""
        table, sep, column = spec.partition(".")
        if not sep or not _IDENTIFIER.match(table) or not _IDENTIFIER.match(column):
            raise ValueError(f"{spec!r} is not table.column")
        return cls(table, column)

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


class AdminUsers(Protocol):
    """The admin users API of a target (raises SyntheticsError when it cannot answer)."""

    def delete_user(self, user_id: str) -> bool:
        """Delete a user; False when it was already gone."""
        ...

    def user_exists(self, user_id: str) -> bool:
        """Whether the user still exists."""
        ...


class OwnedRowsApi(Protocol):
    """Deleting and counting rows by owner with the service role (raises SyntheticsError)."""

    def delete_rows(self, rows: OwnedRows, ids: Sequence[str]) -> int:
        """Delete the rows whose column is one of `ids`; how many went."""
        ...

    def count_rows(self, rows: OwnedRows, ids: Sequence[str]) -> int:
        """How many rows whose column is one of `ids` remain."""
        ...


@dataclass
class CleanupReport:
    """What a cleanup did and could prove."""

    users_deleted: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)
    #: What may be left: addresses of users and `table.column` rows not proven gone.
    left: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    verified: bool = False
    #: Whether there was anything to delete (a user the run created, or its id).
    attempted: bool = False

    def verdict(self) -> tuple[bool, str | None, str]:
        """(passed, reason, message) for the cleanup check."""
        rows = sum(self.rows_deleted.values())
        if self.verified and not self.left and not self.users_deleted and not self.attempted:
            return True, None, "the run created no throwaway user: nothing to clean up"
        done = f"deleted {self.users_deleted} throwaway user(s) and {rows} owned row(s)"
        if self.verified and not self.left:
            return True, None, f"{done}, and verified that none remain"
        why = "; ".join(self.problems) or "deletion could not be verified"
        left = ", ".join(self.left) or "unknown"
        return False, "unverified", f"{done}; may be left behind: {left} ({why})"


def clean_up(
    registry: Registry,
    *,
    admin: AdminUsers,
    rows_api: OwnedRowsApi,
    owned: Sequence[OwnedRows],
) -> CleanupReport:
    """Delete every user of the run and the rows they own, then verify nothing remains."""
    report = CleanupReport(attempted=bool(registry.users or registry.deleted_ids))
    for user in registry.created():
        assert user.id is not None
        try:
            report.users_deleted += admin.delete_user(user.id)
            registry.forget(user)
        except SyntheticsError as exc:
            report.problems.append(f"deleting {user.email}: {exc}")
    ids = registry.all_ids()
    for rows in owned if ids else ():
        try:
            report.rows_deleted[str(rows)] = rows_api.delete_rows(rows, ids)
        except SyntheticsError as exc:
            report.problems.append(f"deleting {rows} rows: {exc}")
    verified = True
    for user in registry.users:  # not deleted: certainly left
        report.left.append(user.email)
        verified = False
    for user_id in registry.deleted_ids:
        try:
            if admin.user_exists(user_id):
                report.left.append(f"user {user_id}")
                report.problems.append(f"user {user_id} still exists after its deletion")
        except SyntheticsError as exc:
            report.left.append(f"user {user_id}")
            report.problems.append(f"verifying user {user_id}: {exc}")
            verified = False
    for rows in owned if ids else ():
        try:
            remaining = rows_api.count_rows(rows, ids)
        except SyntheticsError as exc:
            report.left.append(f"{rows} rows")
            report.problems.append(f"verifying {rows} rows: {exc}")
            verified = False
            continue
        if remaining:
            report.left.append(f"{remaining} {rows} row(s)")
            report.problems.append(f"{remaining} {rows} row(s) still there")
    report.verified = verified and not report.left
    return report
