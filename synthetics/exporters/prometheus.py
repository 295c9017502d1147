"""A run as Prometheus metrics (the official `prometheus_client`), by three paths.

- `/metrics`: `Exporter` keeps the latest run of each (target, location) in its own registry;
  `exposition(accept)` gives the bytes and content type to serve, `asgi_app()` / `wsgi_app()`
  the client library's apps.
- a node_exporter textfile-collector file (`[prometheus] textfile`, a `.prom` path), written
  atomically: a temporary file in the same directory, then a rename.
- a Pushgateway push for one-shot runs (`[prometheus] pushgateway_url`), grouped by
  job/target/location; each push replaces the group, so a check that did not run this time
  leaves no stale series behind.

Every series carries `target` and `location` labels. Metrics (all gauges: each describes the
latest run):

- `synthetics_check_status{check, group, status}`: one series per status, 1 for the check's
  status and 0 for the others (`ok`, `info`, `warning`, `critical`, `blocked`, `skipped`).
- `synthetics_check_success{check, group}`: like blackbox_exporter's `probe_success`: 1 the
  check worked (ok, info or warning: degraded is not down), 0 it failed (critical); absent when
  it said nothing about the app (see below).
- `synthetics_check_duration_seconds{check, group, phase}`: the check's timed request by phase:
  `dns`, `connect`, `tls`, `wait`, `transfer` (the transport's phases, when the check recorded
  them as `phase_<name>_ms`) and `total` (`phase_total_ms`, else the check's `latency_ms`).
- `synthetics_check_attempts{check, group}`: requests tried, retries included.
- `synthetics_email_delivery_seconds`: sign-up answered → confirmation email in the inbox.
- `synthetics_rpc_latency_seconds{function}`: each v2 RPC's answer time.
- `synthetics_<rate>_ratio`: the runbook's rates over the history's window, when given (`RATES`).
- `synthetics_run_status{status}`: 1 for the run's status, 0 for the other three.
- `synthetics_run_interrupted`: 1 when the run did not finish.
- `synthetics_run_duration_seconds`: the run's wall time.
- `synthetics_run_info{version, trigger, rehearsal}`: 1.
- `synthetics_last_run_timestamp_seconds`: when the run finished (Unix time).

Why one series per status, and a separate 0/1 success gauge: Prometheus practice for an enum is
one series per state with 0/1 (a number code cannot be averaged or compared), and for "did it
work" a 0/1 gauge the rules can `avg_over_time` or `min_over_time` (blackbox's `probe_success`).

A check says nothing about the app, and has no `synthetics_check_success` series, when it was
blocked or skipped, when its reason says the monitor could not decide (`inconclusive`,
`check_error`, `inbox_error`), or when it failed in an interrupted run (the interruption may have
caused it) — except a security check, whose proof of access stands however the run ended. The
runbook rates of the history (synthetics/rules/metrics.py) count the same way.

The textfile and Pushgateway stages export only runs whose trigger is in `[prometheus] triggers`
(default: `schedule`), as the history's rules count only scheduled runs: a release, manual or CI
run never pages anyone. The `/metrics` stage takes every run it is handed (watch mode decides
what it runs). No message, evidence or URL of a run is exported, only numbers and the
labels above, and label values pass through the run's redactor.
"""

from __future__ import annotations

import math
import re
import threading
import urllib.error
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, make_asgi_app, make_wsgi_app
from prometheus_client.exposition import (
    basic_auth_handler,
    choose_encoder,
    default_handler,
    generate_latest,
    push_to_gateway,
    write_to_textfile,
)
from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import SecretStr

from synthetics.errors import SyntheticsError
from synthetics.exporters.prometheus_config import (
    TRIGGERS,
    PrometheusConfig,
    RulesConfig,
    config_of,
    duration_seconds,
    prometheus_duration,
)
from synthetics.finish import Finish, Output
from synthetics.results import CheckResult, RunResult
from synthetics.status import Status
from synthetics.text import one_line

__all__ = [
    "PHASES",
    "RATES",
    "Exporter",
    "ExporterError",
    "PrometheusConfig",
    "PushgatewayOutput",
    "RateSource",
    "RegistryOutput",
    "RulesConfig",
    "Snapshot",
    "TextfileOutput",
    "check_rates",
    "duration_seconds",
    "families",
    "history_rates",
    "outputs",
    "prometheus_duration",
    "render",
    "success",
]

#: The transport's timing phases (synthetics.clients.transport), as `phase` label values.
PHASES = ("dns", "connect", "tls", "wait", "transfer", "total")
#: Reasons that say the monitor could not decide: such a check tells nothing about the app.
UNDECIDED = frozenset({"inconclusive", "check_error", "inbox_error"})
#: Run statuses, in severity order (blocked and skipped are check statuses only).
RUN_STATUSES = (Status.OK, Status.INFO, Status.WARNING, Status.CRITICAL)

#: The runbook's rates a history can supply: name (synthetics/rules/metrics.py) → metric, help.
RATES: dict[str, tuple[str, str]] = {
    "registration": (
        "synthetics_registration_success_ratio",
        "Share of registrations (sign-up, email, deep link, session) that succeeded over the "
        "history's rule window",
    ),
    "email_delivery": (
        "synthetics_email_delivery_within_sla_ratio",
        "Share of confirmation emails delivered within email_sla_s over the history's window",
    ),
    "email_delivered": (
        "synthetics_email_delivered_ratio",
        "Share of confirmation emails delivered at all over the history's window",
    ),
    "deeplink_failure": (
        "synthetics_deeplink_failure_ratio",
        "Share of runs whose deep link failed over the history's window",
    ),
    "rpc_error": (
        "synthetics_rpc_error_ratio",
        "Share of v2 RPC calls that failed over the history's window",
    ),
    "auth_failure": (
        "synthetics_auth_failure_ratio",
        "Share of runs whose auth checks failed over the history's window",
    ),
}

_BASE_LABELS = ("target", "location")


class ExporterError(SyntheticsError):
    """An export failed (a textfile could not be written, a push was refused); never a secret."""


# -- metrics from a run ----------------------------------------------------------------------

Redact = Callable[[str], str]


def _same(text: str) -> str:
    return text


def success(check: CheckResult, run: RunResult) -> float | None:
    """`synthetics_check_success`: 1 worked, 0 failed, None when it says nothing about the app."""
    if check.status in (Status.BLOCKED, Status.SKIPPED) or check.reason in UNDECIDED:
        return None
    if check.status is Status.CRITICAL:
        if run.interrupted and check.group != "security":
            return None
        return 0.0
    return 1.0


def _phase_seconds(check: CheckResult) -> dict[str, float]:
    found = {
        phase: check.measurements[f"phase_{phase}_ms"] / 1000
        for phase in PHASES
        if f"phase_{phase}_ms" in check.measurements
    }
    if "total" not in found and "latency_ms" in check.measurements:
        found["total"] = check.measurements["latency_ms"] / 1000
    return found


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def check_rates(rates: Mapping[str, float]) -> dict[str, float]:
    """The rates, checked: known names, ratios between 0 and 1 (ExporterError otherwise)."""
    checked = {}
    for name, value in rates.items():
        if name not in RATES:
            raise ExporterError(f"unknown rate {name!r}; rates: {', '.join(RATES)}")
        number = float(value)
        if not _finite(number) or not 0 <= number <= 1:
            raise ExporterError(f"rate {name} must be a ratio between 0 and 1, got {value!r}")
        checked[name] = number
    return checked


@dataclass(frozen=True)
class Snapshot:
    """One run and the history's rates for its target, as one set of series."""

    run: RunResult
    rates: Mapping[str, float] = field(default_factory=dict)
    #: Label values pass through it (the run's redactor).
    redact: Redact = _same


class _Families:
    """The metric families of one exposition, filled run by run (each family appears once)."""

    def __init__(self) -> None:
        check = (*_BASE_LABELS, "check", "group")
        self.status = GaugeMetricFamily(
            "synthetics_check_status",
            "The check's status in the latest run: 1 for its status, 0 for the others",
            labels=(*check, "status"),
        )
        self.success = GaugeMetricFamily(
            "synthetics_check_success",
            "1 the check worked (ok, info or warning), 0 it failed (critical); absent when it "
            "said nothing about the app (blocked, skipped, undecided, cut by an interruption)",
            labels=check,
        )
        self.duration = GaugeMetricFamily(
            "synthetics_check_duration_seconds",
            "The check's timed request by phase (dns, connect, tls, wait, transfer, total)",
            labels=(*check, "phase"),
        )
        self.attempts = GaugeMetricFamily(
            "synthetics_check_attempts",
            "Requests the check tried, retries of transient failures included",
            labels=check,
        )
        self.email = GaugeMetricFamily(
            "synthetics_email_delivery_seconds",
            "Sign-up answered to confirmation email in the inbox",
            labels=_BASE_LABELS,
        )
        self.rpc = GaugeMetricFamily(
            "synthetics_rpc_latency_seconds",
            "The v2 RPC's answer time",
            labels=(*_BASE_LABELS, "function"),
        )
        self.rates = {
            name: GaugeMetricFamily(metric, text, labels=_BASE_LABELS)
            for name, (metric, text) in RATES.items()
        }
        self.run_status = GaugeMetricFamily(
            "synthetics_run_status",
            "The latest run's status: 1 for its status, 0 for the others",
            labels=(*_BASE_LABELS, "status"),
        )
        self.interrupted = GaugeMetricFamily(
            "synthetics_run_interrupted",
            "1 when the latest run did not finish (a signal or its deadline stopped it)",
            labels=_BASE_LABELS,
        )
        self.run_duration = GaugeMetricFamily(
            "synthetics_run_duration_seconds",
            "The latest run's wall time",
            labels=_BASE_LABELS,
        )
        self.info = InfoMetricFamily(
            "synthetics_run",
            "What ran the latest run: synthetics version, trigger, and whether it was a sandbox "
            "fault rehearsal",
            labels=_BASE_LABELS,
        )
        self.last_run = GaugeMetricFamily(
            "synthetics_last_run_timestamp_seconds",
            "When the latest run finished, in seconds since the Unix epoch",
            labels=_BASE_LABELS,
        )

    def add(self, snapshot: Snapshot) -> None:
        run, redact = snapshot.run, snapshot.redact
        base = (redact(run.target), redact(run.location))
        for check in run.checks:
            labels = (*base, redact(check.id), redact(check.group))
            for status in Status:
                self.status.add_metric((*labels, status.value), float(check.status is status))
            worked = success(check, run)
            if worked is not None:
                self.success.add_metric(labels, worked)
            for phase, seconds in _phase_seconds(check).items():
                self.duration.add_metric((*labels, phase), seconds)
            if check.status not in (Status.BLOCKED, Status.SKIPPED):
                self.attempts.add_metric(labels, float(check.attempts))
            if check.id == "email.delivery" and "delivery_s" in check.measurements:
                self.email.add_metric(base, check.measurements["delivery_s"])
            if check.id.startswith("rpc.") and "latency_ms" in check.measurements:
                function = redact(check.id.removeprefix("rpc."))
                self.rpc.add_metric((*base, function), check.measurements["latency_ms"] / 1000)
        for name, value in snapshot.rates.items():
            self.rates[name].add_metric(base, value)
        status = run.status
        for candidate in RUN_STATUSES:
            self.run_status.add_metric((*base, candidate.value), float(status is candidate))
        self.interrupted.add_metric(base, float(run.interrupted))
        self.run_duration.add_metric(base, run.duration_ms / 1000)
        self.info.add_metric(
            base,
            {
                "version": redact(run.version),
                "trigger": redact(run.trigger),
                "rehearsal": "true" if run.faults else "false",
            },
        )
        end = run.finished_at or run.started_at
        self.last_run.add_metric(base, end.timestamp())

    def all(self) -> list[Metric]:
        every = [
            self.status,
            self.success,
            self.duration,
            self.attempts,
            self.email,
            self.rpc,
            *self.rates.values(),
            self.run_status,
            self.interrupted,
            self.run_duration,
            self.info,
            self.last_run,
        ]
        # A family with nothing to say this time (no rates given, no RPC ran) is left out.
        return [family for family in every if family.samples]


def families(snapshots: Iterable[Snapshot]) -> list[Metric]:
    """Every metric family for these runs (one per target and location), in a stable order."""
    found = _Families()
    for snapshot in snapshots:
        found.add(snapshot)
    return found.all()


class _SnapshotCollector(Collector):
    """A collector over whatever runs `source` holds at scrape time."""

    def __init__(self, source: Callable[[], Sequence[Snapshot]]) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        return families(self._source())


def _registry(source: Callable[[], Sequence[Snapshot]]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(source))
    return registry


def render(
    run: RunResult, rates: Mapping[str, float] | None = None, redact: Redact = _same
) -> bytes:
    """One run in the Prometheus text format (what the textfile and the push carry)."""
    snapshot = Snapshot(run, check_rates(rates or {}), redact)
    return generate_latest(_registry(lambda: [snapshot]))


class Exporter:
    """The in-process registry behind `/metrics`: the latest run of each (target, location)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], Snapshot] = {}
        self.registry = _registry(self._snapshots)

    def _snapshots(self) -> list[Snapshot]:
        with self._lock:
            return list(self._latest.values())

    def update(
        self, run: RunResult, rates: Mapping[str, float] | None = None, redact: Redact = _same
    ) -> None:
        """Make `run` its target's and location's latest (ExporterError for bad rates); label
        values pass through `redact`."""
        snapshot = Snapshot(run, check_rates(rates or {}), redact)
        with self._lock:
            self._latest[(run.target, run.location)] = snapshot

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The body and content type to answer a scrape with (OpenMetrics when `accept` asks)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def asgi_app(self) -> Callable[..., Any]:
        """prometheus_client's ASGI app serving this registry (mount it at /metrics)."""
        return make_asgi_app(self.registry)

    def wsgi_app(self) -> Callable[..., Any]:
        """prometheus_client's WSGI app serving this registry."""
        return make_wsgi_app(self.registry)


# -- the run-finishing stages ----------------------------------------------------------------

#: Where the runbook's rates come from: the history's rules, given the run just finished.
RateSource = Callable[[RunResult, Finish], Mapping[str, float] | None]


def history_rates(run: RunResult, finish: Finish) -> dict[str, float]:
    """The rates of the history stage's judgement (`Finish.judgement`) over `[history] window`,
    for the metrics with at least `min_runs` runs in it (fewer: no rate, as the rules say
    "insufficient data"); nothing when the run was not judged (no history, `--no-history`)."""
    judgement = finish.judgement
    settings = finish.settings
    if judgement is None or settings is None:
        return {}
    from synthetics.rules.metrics import METRICS

    policy = settings.config.history.policy()
    start = judgement.now - policy.window
    found = {}
    for name in RATES:
        totals = judgement.series.totals(name, start, judgement.now)
        kind = METRICS[name].kind
        rate = totals.success_rate if kind == "success" else totals.failure_rate
        if rate is not None and totals.runs >= policy.min_runs:
            found[name] = float(rate)
    return found


def _rates(source: RateSource | None, run: RunResult, finish: Finish) -> dict[str, float]:
    return check_rates(source(run, finish) or {}) if source is not None else {}


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def _file_part(value: str) -> str:
    """A label value made safe as part of a file name."""
    return _UNSAFE_NAME.sub("_", value) or "_"


@dataclass
class TextfileOutput:
    """node_exporter's textfile collector: `<dir>/<name>.prom`, replaced atomically."""

    path: str
    triggers: Sequence[str] = ("schedule",)
    rates: RateSource | None = None
    name: str = "prometheus textfile"

    def file_for(self, run: RunResult) -> Path:
        """The file `run` goes to (`{target}` and `{location}` filled in)."""
        return Path(
            self.path.format(target=_file_part(run.target), location=_file_part(run.location))
        )

    def write(self, run: RunResult, finish: Finish) -> None:
        """Write the run's metrics to a temporary file beside the target, then rename it."""
        if run.trigger not in self.triggers:
            return
        path = self.file_for(run)
        if not path.parent.is_dir():
            raise ExporterError(
                f"textfile directory {path.parent} does not exist (node_exporter's "
                "--collector.textfile.directory)"
            )
        snapshot = Snapshot(run, _rates(self.rates, run, finish), finish.redactor.redact)
        registry = _registry(lambda: [snapshot])
        try:
            write_to_textfile(str(path), registry)
        except OSError as exc:
            raise ExporterError(f"cannot write {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class _Gateway:
    """A Pushgateway URL split into what may be shown and the credentials."""

    url: str
    shown: str
    username: str | None
    password: str | None


def _gateway(url: SecretStr) -> _Gateway:
    parts = urlsplit(url.get_secret_value())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    bare = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    username = parts.username
    password = parts.password
    return _Gateway(bare, urlunsplit((parts.scheme, netloc, "", "", "")), username, password)


@dataclass
class PushgatewayOutput:
    """A push to the Pushgateway, grouped by job, target and location (the group is replaced)."""

    url: SecretStr
    job: str = "synthetics"
    timeout_s: float = 10.0
    triggers: Sequence[str] = ("schedule",)
    rates: RateSource | None = None
    name: str = "prometheus pushgateway"

    def write(self, run: RunResult, finish: Finish) -> None:
        """PUT the run's metrics to `/metrics/job/<job>/target/<t>/location/<l>`."""
        if run.trigger not in self.triggers:
            return
        gateway = _gateway(self.url)
        finish.redactor.add(self.url, gateway.password)
        redact = finish.redactor.redact
        snapshot = Snapshot(run, _rates(self.rates, run, finish), redact)
        registry = _registry(lambda: [snapshot])
        handler: Callable[..., Callable[[], None]] = default_handler
        if gateway.username is not None:
            handler = partial(
                basic_auth_handler, username=gateway.username, password=gateway.password or ""
            )
        try:
            push_to_gateway(
                gateway.url,
                job=self.job,
                registry=registry,
                grouping_key={"target": redact(run.target), "location": redact(run.location)},
                timeout=self.timeout_s,
                handler=handler,
            )
        except urllib.error.HTTPError as exc:
            detail = one_line(exc.read()[:300], limit=300).strip() if exc.fp is not None else ""
            said = f": {redact(detail)}" if detail and detail != str(exc.reason) else ""
            raise ExporterError(
                f"the Pushgateway at {gateway.shown} refused the push: {exc.code} {exc.reason}"
                f"{said}"
            ) from None
        except urllib.error.URLError as exc:
            raise ExporterError(
                f"cannot reach the Pushgateway at {gateway.shown}: {redact(str(exc.reason))}"
            ) from None
        except (OSError, ValueError) as exc:
            raise ExporterError(
                f"push to the Pushgateway at {gateway.shown} failed: {redact(str(exc))}"
            ) from None


@dataclass
class RegistryOutput:
    """Keeps the `/metrics` registry (an `Exporter`) at the latest run."""

    exporter: Exporter
    triggers: Sequence[str] = TRIGGERS
    rates: RateSource | None = None
    name: str = "prometheus /metrics"

    def write(self, run: RunResult, finish: Finish) -> None:
        """Make `run` the latest of its target and location."""
        if run.trigger in self.triggers:
            self.exporter.update(run, _rates(self.rates, run, finish), finish.redactor.redact)


def outputs(
    finish: Finish,
    *,
    exporter: Exporter | None = None,
    rates: RateSource | None = history_rates,
) -> list[Output]:
    """The stages `[prometheus]` enables: the textfile, the push, and (given one) the `/metrics`
    registry, which takes every run it is handed (watch mode decides what it runs). Put them
    after the history stage: by default the rates are its judgement's (`history_rates`)."""
    config = config_of(finish)
    stages: list[Output] = []
    if config.textfile:
        stages.append(TextfileOutput(config.textfile, tuple(config.triggers), rates))
    if config.pushgateway_url is not None:
        stages.append(
            PushgatewayOutput(
                config.pushgateway_url,
                config.job,
                config.push_timeout_s,
                tuple(config.triggers),
                rates,
            )
        )
    if exporter is not None:
        stages.append(RegistryOutput(exporter, rates=rates))
    return stages
