"""What a sandbox tells the run that uses it: where it listens (SandboxInfo), what loading the
SQL did (LoadReport, Failure) and its mailbox's counters (MailboxStats).

Plain data, and nothing to import but the standard library: a run whose sandbox lives in a
process of its own (synthetics.sandbox_child) receives these over a pipe without loading the
sandbox's code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SandboxInfo:
    """Where a running sandbox listens and the keys to talk to it."""

    api_url: str
    inbox_url: str
    db_url: str
    anon_key: str
    service_role_key: str
    jwt_secret: str
    smtp_host: str
    smtp_port: int
    #: The app's website: apple-app-site-association, assetlinks.json, the callback page.
    site_url: str = ""

    def contract(self) -> dict[str, str]:
        """The `synthetics sandbox --json` line (contract keys, in order)."""
        return {
            "api_url": self.api_url,
            "inbox_url": self.inbox_url,
            "db_url": self.db_url,
            "anon_key": self.anon_key,
            "service_role_key": self.service_role_key,
            "jwt_secret": self.jwt_secret,
        }


@dataclass(frozen=True)
class Failure:
    """A statement PostgreSQL rejected."""

    file: str
    line: int
    statement: str
    sqlstate: str
    error: str
    #: How to fix an environment problem (a missing extension), if that is what it was.
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}: `{self.statement}` failed: {self.error}"
        if self.sqlstate:
            text += f" (SQLSTATE {self.sqlstate})"
        return f"{text}. {self.fix}" if self.fix else text

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy, its fields by name (the template cache keeps a load's report)."""
        return asdict(self)


@dataclass
class LoadReport:
    """What a load did: files, statements, failures, time."""

    files: int = 0
    statements: int = 0
    failures: list[Failure] = field(default_factory=list)
    elapsed_s: float = 0.0
    #: True when the cluster came from a template built by an earlier, identical load.
    cached: bool = False

    def summary(self) -> str:
        """One line for the sandbox's banner."""
        source = " (cluster from the template cache)" if self.cached else ""
        failed = f", {len(self.failures)} failed" if self.failures else ""
        return (
            f"{self.files} files, {self.statements} statements in "
            f"{self.elapsed_s:.2f} s{failed}{source}"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "files": self.files,
            "statements": self.statements,
            "elapsed_s": self.elapsed_s,
            "failures": [f.to_json() for f in self.failures],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadReport:
        """The report a cached template was built with."""
        return cls(
            files=int(data["files"]),
            statements=int(data["statements"]),
            elapsed_s=float(data["elapsed_s"]),
            failures=[Failure(**f) for f in data["failures"]],
            cached=True,
        )


@dataclass(frozen=True)
class MailboxStats:
    """Mailbox totals and counters since the store was created (for /api/v1/info)."""

    total: int
    unread: int
    accepted: int
    accepted_size: int
    deleted: int
    uptime_s: float
