"""`[history]`: where runs are kept, for how long, and what the rules over them expect.

```toml
[history]
url = "sqlite:///.synthetics/history.sqlite"   # relative to the config file
# url = "${HISTORY_DATABASE_URL}"             # or a shared Postgres (a secret)
retention_days = 90        # runs older than this are pruned when a run is recorded
expected_interval = "30m"  # how often scheduled runs come (the scheduled workflow's cron)
coverage = 0.8             # share of the expected runs a stability verdict needs
window = "2h"              # the rate rules' window
min_runs = 3               # runs a rule needs in its window before it says anything
```

`url` is a secret (a Postgres URL carries a password): it is a `SecretStr`, and nothing here
prints it; errors name the backend only.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from synthetics.durations import parse_duration
from synthetics.rules.policy import Policy

DEFAULT_URL = "sqlite:///.synthetics/history.sqlite"


class HistoryConfig(BaseModel):
    """The `[history]` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = SecretStr(DEFAULT_URL)
    retention_days: Annotated[float, Field(gt=0)] = 90
    expected_interval: str = "30m"
    coverage: Annotated[float, Field(gt=0, le=1)] = 0.8
    window: str = "2h"
    min_runs: Annotated[int, Field(ge=1)] = 3

    @field_validator("expected_interval", "window")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().split(":", 1)[0].lower()
        if scheme not in ("sqlite", "postgresql", "postgres", "postgresql+psycopg"):
            # The scheme alone: the rest may hold a password.
            raise ValueError(f"scheme {scheme!r} is not sqlite:///PATH or postgresql://…")
        return value

    @property
    def retention(self) -> timedelta:
        """How long runs are kept."""
        return timedelta(days=self.retention_days)

    @property
    def interval(self) -> timedelta:
        """How often scheduled runs are expected."""
        return parse_duration(self.expected_interval)

    @property
    def rule_window(self) -> timedelta:
        """The window the rate rules look back over."""
        return parse_duration(self.window)

    def policy(self) -> Policy:
        """The rules' view of this section."""
        return Policy(
            window=self.rule_window,
            min_runs=self.min_runs,
            expected_interval=self.interval,
            coverage=self.coverage,
        )

    def resolved_url(self, base: Path) -> str:
        """The store URL, a relative SQLite path taken from `base` (the config's folder)."""
        return resolve_url(self.url.get_secret_value(), base)


def resolve_url(url: str, base: Path) -> str:
    """`sqlite:///rel/path` → `sqlite:////abs/base/rel/path`; other URLs unchanged."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path = url[len(prefix) :]
    if path in ("", ":memory:") or path.startswith("/"):
        return url
    return prefix + str((base / path).resolve())
