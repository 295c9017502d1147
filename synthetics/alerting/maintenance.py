"""Maintenance windows: while one is active, notifications are muted (recorded, never sent).

```toml
[[alerts.maintenance]]            # a one-off window
name = "db-upgrade"
start = "2026-12-05T01:00:00+09:00"
duration = "2h"
[[alerts.maintenance]]            # every week, in a timezone
name = "weekly-deploy"
days = ["sat"]
at = "02:00"
duration = "1h"
timezone = "Asia/Tokyo"
targets = ["production"]          # default: every target
```

Windows mute notifications only: runs, results, history and the lifecycle go on. `active` is
pure: the clock is its argument.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from synthetics.durations import parse_duration

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class MaintenanceWindow(BaseModel):
    """One window: `start` + `duration`, or weekly `days` + `at` + `duration` in `timezone`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    start: datetime | None = None
    days: list[Day] = []
    at: str = ""
    duration: str
    timezone: str = "UTC"
    targets: list[str] = []

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA timezone (e.g. Asia/Tokyo)") from None
        return value

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        weekly = bool(self.days or self.at)
        if self.start is not None and weekly:
            raise ValueError("a window is either one-off (start) or weekly (days and at), not both")
        if self.start is None and not weekly:
            raise ValueError("a window needs `start` (one-off) or `days` and `at` (weekly)")
        if weekly and not (self.days and _CLOCK.match(self.at)):
            raise ValueError("a weekly window needs `days` (mon…sun) and `at` as HH:MM")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2026-12-05T01:00:00+09:00")
        if weekly and self.length > timedelta(days=7):
            raise ValueError("a weekly window cannot last longer than a week")
        return self

    @property
    def length(self) -> timedelta:
        """How long the window lasts."""
        return parse_duration(self.duration)

    @property
    def label(self) -> str:
        """The name, or a description when it has none."""
        if self.name:
            return self.name
        if self.start is not None:
            return f"maintenance from {self.start.isoformat()} for {self.duration}"
        return f"maintenance {','.join(self.days)} {self.at} {self.timezone} for {self.duration}"

    def covers(self, now: datetime, target: str | None = None) -> bool:
        """Whether `now` (timezone-aware) falls inside this window for `target`."""
        if target is not None and self.targets and target not in self.targets:
            return False
        if self.start is not None:
            return self.start <= now < self.start + self.length
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        hour, minute = (int(part) for part in self.at.split(":"))
        # A window that began on one of the last 7 days (or today) may still be open.
        for back in range(8):
            day = (local - timedelta(days=back)).date()
            if DAYS[day.weekday()] not in self.days:
                continue
            opened = datetime.combine(day, time(hour, minute), tzinfo=zone)
            if opened <= local < opened + self.length:
                return True
        return False


def active(
    windows: Sequence[MaintenanceWindow], now: datetime, target: str | None = None
) -> MaintenanceWindow | None:
    """The first window that covers `now` for `target`, if any."""
    return next((w for w in windows if w.covers(now, target)), None)
