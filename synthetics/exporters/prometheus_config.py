"""`[prometheus]`: where a finished run's metrics go (synthetics.exporters.prometheus sends
them), and the Prometheus durations its rules take.

Apart from the exporter, so that loading a configuration does not load `prometheus_client`:
a run whose settings export nothing never imports it.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

if TYPE_CHECKING:
    from synthetics.finish import Finish

#: What may start a run; `[prometheus] triggers` names those whose runs are exported.
TRIGGERS = ("schedule", "release", "manual", "ci")
Trigger = Literal["schedule", "release", "manual", "ci"]


#: A Prometheus duration (`90s`, `15m`, `2h`, `1d`, `1h30m`), as rules and `for:` take it.
_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def duration_seconds(text: str) -> float:
    """A Prometheus duration in seconds (ValueError naming the accepted forms)."""
    match = _DURATION.match(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a Prometheus duration like 90s, 15m, 2h or 1h30m")
    seconds = 0.0
    for part in match.groups():
        if part:
            if part.endswith("ms"):
                seconds += int(part[:-2]) / 1000
            else:
                seconds += int(part[:-1]) * _UNIT_SECONDS[part[-1]]
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RulesConfig(_Strict):
    """`[prometheus.rules]`: what `synthetics rules --prometheus` adds to `[history]` (whose
    `window` and `min_runs` the rules share with the history's own rules).

    `stale_after` is how long without a finished run before the monitor itself is reported as not
    running; `interval` how often Prometheus evaluates the rule groups.
    """

    stale_after: str = "90m"
    interval: str = "1m"

    @field_validator("stale_after", "interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value


def prometheus_duration(span: timedelta) -> str:
    """A span as Prometheus writes durations: `2h`, `90m`, `1h30m15s`, `1500ms`."""
    millis = round(span.total_seconds() * 1000)
    if millis <= 0:
        raise ValueError(f"{span} must be longer than zero")
    if millis % 1000:
        return f"{millis}ms"
    seconds, text = millis // 1000, ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            text += f"{count}{unit}"
    # 90 minutes read better than 1h30m, as the runbook and `[history]` say them
    if text.endswith("m") and "d" not in text and "h" in text and "s" not in text:
        text = f"{millis // 60_000}m"
    return text


class PrometheusConfig(_Strict):
    """`[prometheus]`: where a finished run's metrics go (nothing is exported by default).

    ```toml
    [prometheus]
    textfile = "/var/lib/prometheus/node-exporter/synthetics_{target}.prom"
    pushgateway_url = "${PUSHGATEWAY_URL}"   # a secret: https://user:password@host works
    job = "synthetics"
    triggers = ["schedule"]
    ```

    `textfile` may name `{target}` and `{location}`, so several targets on one host keep one file
    each. `pushgateway_url` is a `SecretStr`: credentials in it become HTTP basic auth and are
    never printed; errors name the gateway's scheme, host and port alone.
    """

    textfile: str = ""
    pushgateway_url: SecretStr | None = None
    job: Annotated[str, Field(min_length=1, max_length=200)] = "synthetics"
    push_timeout_s: Annotated[float, Field(ge=0.001, le=300, allow_inf_nan=False)] = 10
    triggers: Annotated[list[Trigger], Field(min_length=1)] = ["schedule"]
    rules: RulesConfig = RulesConfig()

    @property
    def exports(self) -> bool:
        """Whether a finished run is exported at all (a textfile, a push)."""
        return bool(self.textfile) or self.pushgateway_url is not None

    @field_validator("textfile")
    @classmethod
    def _textfile(cls, value: str) -> str:
        if not value:
            return value
        if not value.endswith(".prom"):
            raise ValueError(
                f"{value!r} must end in .prom (node_exporter's textfile collector reads only those)"
            )
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
        unknown = sorted(names - {"target", "location"})
        if unknown:
            raise ValueError(
                f"{value!r} names {', '.join('{' + n + '}' for n in unknown)}; only {{target}} "
                "and {location} can be filled in"
            )
        return value

    @field_validator("pushgateway_url")
    @classmethod
    def _gateway(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if "${" in raw:
            return value  # resolved only for the target a run uses
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 (urlsplit checks the port's range when asked)
        except ValueError:
            raise ValueError("is not a valid URL (its value is a secret: not shown)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # The scheme alone: the rest may hold a password.
            raise ValueError(f"must be an http(s) URL with a host, got scheme {parts.scheme!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment (its value is a secret)")
        return value


def config_of(finish: Finish) -> PrometheusConfig:
    """The run's `[prometheus]` settings (defaults when the run has no settings)."""
    settings = finish.settings
    config = getattr(getattr(settings, "config", None), "prometheus", None)
    return config if isinstance(config, PrometheusConfig) else PrometheusConfig()
