"""The errors this package raises.

    SyntheticsError
    ├── ConfigError        bad configuration or usage; the CLI exits 3 and sends nothing
    ├── SandboxError       the local sandbox could not start or stop
    │   └── DatabaseError  the sandbox's Postgres failed (init, start, bootstrap)
    │       └── MigrationError  the app's own SQL (--migrations) did not load
    ├── TransportFailure   a target could not be reached, after retries (clients.http)
    ├── BadResponse        a target answered something its API does not promise (clients.http)
    ├── InboxError         a test inbox provider failed (inbox.base)
    ├── BrowserError       Chromium failed to start or to click (deeplink.browser)
    ├── HistoryError       the history store cannot be opened, migrated, read, written
    └── ExporterError      a Prometheus export failed: textfile, Pushgateway (exporters.prometheus)

Third-party errors (subprocess, psycopg, SQLAlchemy, OSError, Playwright) are translated into
these at the boundary where they happen, so callers never need to know which library failed.
"""

from __future__ import annotations

from typing import Any


class SyntheticsError(Exception):
    """Base of every error raised on purpose by this package."""


class ConfigError(SyntheticsError):
    """A configuration value or command-line usage is invalid."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        self.key = key
        self.source = source
        where = ""
        if key is not None:
            where = f"{key}: " if source is None else f"{key} (from {source}): "
        super().__init__(f"{where}{message}")


class SandboxError(SyntheticsError):
    """The local sandbox could not start, run or stop."""


class DatabaseError(SandboxError):
    """The embedded Postgres could not be initialised, started, bootstrapped or stopped."""


class MigrationError(DatabaseError):
    """A statement of the app's own SQL failed; `failures` says which and why."""

    def __init__(self, message: str, failures: list[Any]) -> None:
        super().__init__(message)
        self.failures = failures

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole (the sandbox's own process hands it to the run: synthetics.sandbox_child).
        return (type(self), (str(self), self.failures))


class HistoryError(SyntheticsError):
    """The history store could not be opened, migrated, read or written (never names its URL)."""
