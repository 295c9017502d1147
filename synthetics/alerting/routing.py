"""Routing: which channels hear about a notification. Pure.

```toml
[[alerts.routes]]
severity = "critical"        # this severity or worse
channels = ["pager", "oncall"]
triggers = ["schedule"]      # default: schedule only
targets = ["production"]     # default: every target
```

Every route that matches a notification adds its channels. Without any `[[alerts.routes]]` the
defaults are: critical → every PagerDuty, Slack and webhook channel; warning → every Slack and
webhook channel; info → none (it shows in the GitHub job summary only). Release, manual and CI
runs are routed nowhere unless a route lists their trigger. A resolve goes to exactly the
channels that were told about the alert, whatever the routes say now; a muted notification goes
nowhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthetics.alerting.lifecycle import Step
from synthetics.status import Status

Trigger = Literal["schedule", "release", "manual", "ci"]
_LEVELS = {"info": Status.INFO, "warning": Status.WARNING, "critical": Status.CRITICAL}


class Route(BaseModel):
    """Notifications of at least `severity`, from runs started by `triggers`, for `targets`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Literal["info", "warning", "critical"] = "warning"
    channels: Annotated[list[str], Field(min_length=1)]
    triggers: Annotated[list[Trigger], Field(min_length=1)] = ["schedule"]
    targets: list[str] = []

    @property
    def level(self) -> Status:
        """The least severity this route takes."""
        return _LEVELS[self.severity]

    def matches(self, severity: Status, trigger: str, target: str) -> bool:
        """Whether a notification of `severity` from a `trigger` run on `target` goes here."""
        if severity.rank < self.level.rank or trigger not in self.triggers:
            return False
        return not self.targets or target in self.targets


def default_routes(channel_types: Mapping[str, str]) -> list[Route]:
    """The routes used when none are configured (channel name → type)."""
    pagers = [n for n, t in channel_types.items() if t == "pagerduty"]
    chat = [n for n, t in channel_types.items() if t in ("slack", "webhook")]
    routes = []
    if pagers or chat:
        routes.append(Route(severity="critical", channels=pagers + chat))
    if chat:
        routes.append(Route(severity="warning", channels=chat))
    return routes


def channels_for(
    severity: Status, trigger: str, target: str, routes: Sequence[Route]
) -> tuple[str, ...]:
    """Every channel of every matching route, in route order, each once."""
    found: dict[str, None] = {}
    for route in routes:
        if route.matches(severity, trigger, target):
            found.update(dict.fromkeys(route.channels))
    return tuple(found)


def assign(step: Step, routes: Sequence[Route], *, trigger: str, target: str) -> Step:
    """`step` with channels on each notification and remembered in its state."""
    notes = []
    for note in step.notifications:
        if note.muted_by or note.kind == "resolve":
            notes.append(note if not note.muted_by else replace(note, channels=()))
            continue
        chosen = channels_for(note.severity, trigger, target, routes)
        notes.append(replace(note, channels=chosen))
        state = step.states.get(note.subject)
        if state is not None and chosen:
            known = tuple(dict.fromkeys([*state.channels, *chosen]))
            step.states[note.subject] = state.evolve(channels=known)
    return Step(states=step.states, notifications=notes)
