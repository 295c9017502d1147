"""Throwaway users: addresses with the run id, generated passwords, and who must be deleted."""

from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import datetime

from synthetics.errors import ConfigError

#: Domains Supabase's extended email validation rejects (or that bounce): never sign up with them.
REJECTED_DOMAINS = ("example.com", "example.net", "example.org", "test.com")
REJECTED_SUFFIXES = (".test", ".local", ".example", ".invalid", ".localhost")


def new_run_id(now: datetime) -> str:
    """A short, sortable, unique run id, e.g. `20261125t130501-3fa2c1`."""
    return f"{now:%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"


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
        """Drop a user once deleted."""
        with self._lock:
            self.users = [u for u in self.users if u is not user]
