"""The `[alerts]` section: lifecycle thresholds, channels, routes, maintenance windows.

```toml
[alerts]
failure_threshold = 2         # consecutive failing runs before a check fires
success_threshold = 2         # consecutive passing runs before it resolves
repeat_interval = "1h"        # reminders while it fires
report_url = ""               # link in every notification; {run_id} and {target} are filled in
                              # (default in GitHub Actions: the workflow run's page)
timeout_s = 10                # each delivery attempt's total deadline
retries = 2                   # 429 / 5xx / no answer: tries again, honouring Retry-After
max_wait_s = 60               # a Retry-After longer than this gives up
[alerts.channels.NAME]        # any name; `type` picks the provider
type = "slack"                # slack | webhook | pagerduty | github
[[alerts.routes]]             # see routing.py; none configured: the defaults
[[alerts.maintenance]]        # see maintenance.py
```

Webhook URLs, routing keys and signing secrets are `SecretStr`: they come from `${ENV}`
references, never print, and are registered with the run's redactor before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthetics.alerting.github import GitHubConfig
from synthetics.alerting.lifecycle import Policy
from synthetics.alerting.maintenance import MaintenanceWindow
from synthetics.alerting.pagerduty import PagerDutyConfig
from synthetics.alerting.routing import Route, default_routes
from synthetics.alerting.slack import SlackConfig
from synthetics.alerting.webhook import WebhookConfig
from synthetics.durations import parse_duration

#: One channel's config, chosen by its `type`.
ChannelConfig = Annotated[
    SlackConfig | WebhookConfig | PagerDutyConfig | GitHubConfig, Field(discriminator="type")
]


class AlertsConfig(BaseModel):
    """The `[alerts]` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_threshold: Annotated[int, Field(strict=True, ge=1, le=100)] = 2
    success_threshold: Annotated[int, Field(strict=True, ge=1, le=100)] = 2
    repeat_interval: str = "1h"
    report_url: str = ""
    timeout_s: Annotated[float, Field(ge=0.1, le=120)] = 10
    retries: Annotated[int, Field(strict=True, ge=0, le=10)] = 2
    max_wait_s: Annotated[float, Field(ge=0, le=600)] = 60
    channels: dict[str, ChannelConfig] = {}
    routes: list[Route] = []
    maintenance: list[MaintenanceWindow] = []

    @field_validator("repeat_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _known_channels(self) -> AlertsConfig:
        for n, route in enumerate(self.routes):
            for name in route.channels:
                if name not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none configured"
                    raise ValueError(f"routes[{n}] names channel {name!r}; channels: {known}")
                if self.channels[name].type == "github":
                    raise ValueError(
                        f"routes[{n}] names github channel {name!r}: it reports every run and "
                        "is not routed"
                    )
        return self

    @property
    def policy(self) -> Policy:
        """The lifecycle's view of this section."""
        return Policy(
            failure_threshold=self.failure_threshold,
            success_threshold=self.success_threshold,
            repeat_interval=self.repeat_interval_td,
        )

    @property
    def repeat_interval_td(self) -> timedelta:
        """`repeat_interval` as a timedelta."""
        return parse_duration(self.repeat_interval)

    @property
    def channel_types(self) -> Mapping[str, str]:
        """Channel name → type."""
        return {name: config.type for name, config in self.channels.items()}

    def effective_routes(self) -> list[Route]:
        """The configured routes, or the defaults when there are none."""
        return list(self.routes) if self.routes else default_routes(self.channel_types)

    def report_link(self, run_id: str, target: str, env: Mapping[str, str]) -> str:
        """The report link for a run: `report_url` filled in, else the Actions run page."""
        if self.report_url:
            return self.report_url.replace("{run_id}", run_id).replace("{target}", target)
        keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
        server, repo, run = (env.get(k, "") for k in keys)
        if server and repo and run:
            return f"{server}/{repo}/actions/runs/{run}"
        return ""
