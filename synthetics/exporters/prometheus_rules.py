"""The runbook as Prometheus rules (pure): thresholds and windows → rule groups.

`synthetics rules --prometheus` prints what `rule_groups` builds. The rules read the series that
`prometheus.py` exports (each holds the latest run's value until the next run replaces it):

1. `synthetics-records` (recording rules, in order, one evaluation): a new run
   (`target_location:synthetics_runs:new`, true at exactly one evaluation per finished run),
   each run's runbook outcome per target and location at that evaluation
   (`target_location:synthetics_<metric>:run`: one sample per run, 0/1 or a count), then its
   share over the window (`…:ratio<window>`: `avg_over_time` of the 0/1 outcomes, RPC errors
   per call). One sample per run makes the shares count runs, as the history's rules do, not
   the time a result stayed exposed: a monitor that stopped after a failure does not make that
   failure weigh more by the minute.
2. `synthetics-runbook`: the runbook's "Alerting Thresholds": auth failure > 5/10/20 %
   (info/warning/critical), email delivery within `email_sla_s` < 90/80/50 %, deep-link failure
   > 5/10 %, v2 RPC errors > 5/10 %, mean RPC time > `rpc_info_ms` / `rpc_warning_ms`, zero
   successful registrations for 30 minutes (critical).
3. `synthetics-rollback`: the "Immediate Rollback Triggers": registration success < 50 % for
   15 min, email delivery < 30 % for 10 min, deep-link failure > 30 % for 5 min (Plan A); v2 RPC
   errors > 30 % for 5 min (Plan B); any security check proving access (the Security Incident
   Response, at once); several plans at once (Plan C).
4. `synthetics-monitor`: no finished run for `stale_after` (the monitor itself, not the app).

What counts matches the history's rules (synthetics/rules/metrics.py): a check that said nothing
about the app has no `synthetics_check_success` series, so it is neither good nor bad. A rate
alerts only with `min_runs` runs counted in its window (fewer is not "ok" either: no verdict), so
a monitor that stopped running stops the rate alerts after one window and raises
SyntheticsMonitorNotRunning instead. Each level is its own alert with a `severity` label; route or
inhibit the lower ones in Alertmanager (`equal: [alertname, target, location]`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import yaml

from synthetics.catalog import FIRST_STEPS, MONITOR, PLAN_A, PLAN_B, PLAN_C, SECURITY
from synthetics.exporters.prometheus_config import (
    RulesConfig,
    duration_seconds,
    prometheus_duration,
)
from synthetics.status import Status

#: The `runbook` label of each runbook section (short, stable, for routing).
RUNBOOK_LABELS = {
    PLAN_A: "plan-a",
    PLAN_B: "plan-b",
    PLAN_C: "plan-c",
    SECURITY: "security-incident",
    MONITOR: "monitor",
}
BY = "target, location"
LEVEL = "target_location"
_WHERE = "{{ $labels.target }}{{ with $labels.location }} from {{ . }}{{ end }}"

_AUTH = 'check=~"auth[.](health|signup|session|signin)"'
_CHAIN = ("auth.signup", "email.delivery", "deeplink.redirect", "auth.session")
_DEEPLINK = 'check=~"deeplink[.](redirect|browser|app_links)"'
_EMAIL = 'check="email.delivery"'


def _chain() -> str:
    return 'check=~"' + "|".join(c.replace(".", "[.]") for c in _CHAIN) + '"'


def _success(selector: str) -> str:
    return f"synthetics_check_success{{{selector}}}"


def run_name(metric: str) -> str:
    """The recorded outcome of each run for a runbook metric: one sample per run."""
    return f"{LEVEL}:synthetics_{metric}:run"


def ratio_name(metric: str, window: str) -> str:
    """The recorded share of a runbook metric over `window` (`avg<window>`, for times)."""
    kind = "avg" if metric.endswith("_seconds") else "ratio"
    return f"{LEVEL}:synthetics_{metric}:{kind}{window}"


NEW_RUN = f"{LEVEL}:synthetics_runs:new"


def _record(name: str, expr: str) -> dict[str, Any]:
    return {"record": name, "expr": expr}


def _new_run(interval: str) -> str:
    """A run finished since the last evaluation: its timestamp is newer than any seen up to one
    evaluation ago, or it is the first seen in an hour. True at exactly one evaluation per run,
    whatever the scrape interval, so the shares count runs, not the time a result stayed up."""
    now = f"max by ({BY}) (synthetics_last_run_timestamp_seconds)"
    before = (
        f"max by ({BY}) (max_over_time(synthetics_last_run_timestamp_seconds[1h] "
        f"offset {interval}))"
    )
    return f"{now} > {before}\nor\n({now} unless on ({BY}) {before})"


#: Each runbook metric's outcome in the latest run, per target and location (see the module).
def _outcomes(sla_s: float) -> list[tuple[str, str]]:
    chain = _success(_chain())
    email = f"max by ({BY}) ({_success(_EMAIL)})"
    rpc = _success('group="rpc"')
    rpc_ok = f'label_replace({rpc} == 1, "function", "$1", "check", "rpc[.](.+)")'
    return [
        ("auth_failure", f"max by ({BY}) (1 - {_success(_AUTH)})"),
        # Bad when a link of the chain failed; good only when every link reached a verdict
        # and passed; a link that said nothing (blocked, undecided) leaves the run uncounted.
        (
            "registration",
            f"(min by ({BY}) ({chain}) == 0)\nor\n"
            f"(min by ({BY}) ({chain})\n"
            f"  and on ({BY}) (count by ({BY}) ({chain}) == {len(_CHAIN)}))",
        ),
        (
            "email_delivery",
            f"({email} == 0)\nor\n"
            f"((max by ({BY}) (synthetics_email_delivery_seconds) <= bool {sla_s:g})\n"
            f"  and on ({BY}) {email})",
        ),
        ("email_delivered", email),
        ("deeplink_failure", f"max by ({BY}) (1 - {_success(_DEEPLINK)})"),
        ("rpc_calls", f"count by ({BY}) ({rpc})"),
        ("rpc_errors", f"sum by ({BY}) (1 - {rpc})"),
        (
            "rpc_latency_seconds",
            f"avg by ({BY}) (\n  synthetics_rpc_latency_seconds\n"
            f"  and on ({BY}, function) {rpc_ok}\n)",
        ),
    ]


def _records(window: str, sla_s: float, interval: str) -> list[dict[str, Any]]:
    """New runs, each run's outcome per metric, then the shares over the window."""
    found = [_record(NEW_RUN, _new_run(interval))]
    for metric, expr in _outcomes(sla_s):
        inner = textwrap.indent(expr, "  ")
        found.append(_record(run_name(metric), f"(\n{inner}\n)\nand on ({BY}) {NEW_RUN}"))
    for metric in ("auth_failure", "registration", "email_delivery", "email_delivered"):
        found.append(
            _record(ratio_name(metric, window), f"avg_over_time({run_name(metric)}[{window}])")
        )
    found += [
        _record(
            ratio_name("deeplink_failure", window),
            f"avg_over_time({run_name('deeplink_failure')}[{window}])",
        ),
        _record(
            ratio_name("rpc_error", window),
            f"sum_over_time({run_name('rpc_errors')}[{window}])\n"
            f"/\nsum_over_time({run_name('rpc_calls')}[{window}])",
        ),
        _record(
            ratio_name("rpc_latency_seconds", window),
            f"avg_over_time({run_name('rpc_latency_seconds')}[{window}])",
        ),
    ]
    return found


@dataclass(frozen=True)
class RateAlert:
    """One runbook rate with its levels (most severe first)."""

    alert: str
    #: The metric whose share (or mean) is graded, and the one whose runs are counted.
    metric: str
    counted: str
    title: str
    worse: Literal["above", "below"]
    levels: tuple[tuple[Status, float], ...]
    runbook: str
    unit: Literal["ratio", "seconds"] = "ratio"


def _shown(value: float, unit: str) -> str:
    if unit == "seconds":
        return f"{value * 1000:g} ms"
    return f"{value * 100:g}%"


def _annotations(summary: str, runbook: str, description: str) -> dict[str, str]:
    return {
        "summary": summary,
        "description": f"{description} Runbook: {runbook}. First step: {FIRST_STEPS[runbook]}.",
        "runbook_plan": runbook,
        "first_step": FIRST_STEPS[runbook],
    }


def _labels(severity: Status, runbook: str) -> dict[str, str]:
    return {"severity": severity.value, "runbook": RUNBOOK_LABELS[runbook]}


def rate_alerts(thresholds: Mapping[str, float], window: str) -> tuple[RateAlert, ...]:
    """THE table of the runbook's alerting thresholds (RPC time and the SLA from `[thresholds]`)."""
    c, w, i = Status.CRITICAL, Status.WARNING, Status.INFO
    sla_s = float(thresholds.get("email_sla_s", 30))
    info_s = float(thresholds.get("rpc_info_ms", 500)) / 1000
    warning_s = float(thresholds.get("rpc_warning_ms", 1000)) / 1000
    return (
        RateAlert("SyntheticsAuthFailureRate", "auth_failure", "auth_failure",
                  "auth failure rate", "above", ((c, 0.20), (w, 0.10), (i, 0.05)), PLAN_A),
        RateAlert("SyntheticsEmailDeliveryRate", "email_delivery", "email_delivery",
                  f"email delivery within the {sla_s:g} s SLA", "below",
                  ((c, 0.50), (w, 0.80), (i, 0.90)), PLAN_A),
        RateAlert("SyntheticsDeepLinkFailureRate", "deeplink_failure", "deeplink_failure",
                  "deep-link failure rate", "above", ((c, 0.10), (w, 0.05)), PLAN_A),
        RateAlert("SyntheticsRpcErrorRate", "rpc_error", "rpc_calls",
                  "v2 RPC error rate", "above", ((c, 0.10), (w, 0.05)), PLAN_B),
        RateAlert("SyntheticsRpcSlow", "rpc_latency_seconds", "rpc_latency_seconds",
                  "mean v2 RPC time", "above", ((w, warning_s), (i, info_s)), PLAN_B,
                  unit="seconds"),
    )  # fmt: skip


@dataclass(frozen=True)
class Trigger:
    """One immediate rollback trigger: a share past a threshold, held for a while."""

    alert: str
    metric: str
    counted: str
    title: str
    worse: Literal["above", "below"]
    threshold: float
    hold: str
    plan: str


def triggers(window: str) -> tuple[Trigger, ...]:
    """THE table of the runbook's immediate rollback triggers (security apart)."""
    return (
        Trigger("SyntheticsRollbackRegistration", "registration", "registration",
                "registration success", "below", 0.50, "15m", PLAN_A),
        Trigger("SyntheticsRollbackEmail", "email_delivered", "email_delivered",
                "email delivery", "below", 0.30, "10m", PLAN_A),
        Trigger("SyntheticsRollbackDeepLink", "deeplink_failure", "deeplink_failure",
                "deep-link failure", "above", 0.30, "5m", PLAN_A),
        Trigger("SyntheticsRollbackRpc", "rpc_error", "rpc_calls",
                "v2 RPC errors", "above", 0.30, "5m", PLAN_B),
    )  # fmt: skip


def _graded(metric: str, counted: str, sign: str, threshold: float, window: str, runs: int) -> str:
    """`metric`'s share past `threshold`, with at least `runs` runs counted in the window."""
    return (
        f"{ratio_name(metric, window)} {sign} {threshold:g}\n"
        f"and on ({BY}) count_over_time({run_name(counted)}[{window}]) >= {runs}"
    )


def _value(unit: str) -> str:
    if unit == "seconds":
        return "{{ $value | humanizeDuration }}"
    return "{{ $value | humanizePercentage }}"


def _rate_rules(alert: RateAlert, window: str, min_runs: int) -> list[dict[str, Any]]:
    sign = ">" if alert.worse == "above" else "<"
    found = []
    for severity, threshold in alert.levels:
        limit = _shown(threshold, alert.unit)
        found.append(
            {
                "alert": alert.alert,
                "expr": _graded(alert.metric, alert.counted, sign, threshold, window, min_runs),
                "labels": _labels(severity, alert.runbook),
                "annotations": _annotations(
                    f"{alert.title[0].upper()}{alert.title[1:]} on {_WHERE} is "
                    f"{_value(alert.unit)} over {window} ({severity.value}: {sign} {limit})",
                    alert.runbook,
                    f"The {alert.title} over the last {window} of synthetic runs is "
                    f"{sign} {limit} (at least {min_runs} runs in the window).",
                ),
            }
        )
    return found


#: The spans "no successful registration" looks back over, shortest first (see below).
_NO_REGISTRATION_SPANS = ("30m", "1h", "90m", "2h")


def _no_registration(window: str, min_runs: int) -> dict[str, Any]:
    """Zero successful registrations for 30 minutes, decided on `min_runs` failed attempts.

    The history's rule asks for 30 minutes since the last success and `min_runs` failed attempts
    since then; PromQL has no window that ends at the last success, so the rule asks the same of
    a ladder of spans from 30 minutes up: in one of them every attempt failed and there were
    `min_runs` of them. Frequent runs decide at 30 minutes, runs every 30 minutes at 90; a
    monitor that stopped adds no attempts, so it never fires (SyntheticsMonitorNotRunning does).
    """
    spans = list(_NO_REGISTRATION_SPANS)
    if duration_seconds(window) > duration_seconds(spans[-1]):
        spans.append(window)
    runs = run_name("registration")
    expr = "\nor\n".join(
        f"(max_over_time({runs}[{span}]) == 0 and on ({BY}) "
        f"count_over_time({runs}[{span}]) >= {min_runs})"
        for span in spans
    )
    return {
        "alert": "SyntheticsNoSuccessfulRegistration",
        "expr": expr,
        "labels": _labels(Status.CRITICAL, PLAN_A),
        "annotations": _annotations(
            f"No successful registration on {_WHERE} for 30 minutes or more",
            PLAN_A,
            f"Every synthetic registration (sign-up, email, deep link, session) of the last 30 "
            f"minutes or more failed, at least {min_runs} attempts.",
        ),
    }


def _rollback_rules(window: str, min_runs: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for trigger in triggers(window):
        sign = ">" if trigger.worse == "above" else "<"
        limit = _shown(trigger.threshold, "ratio")
        found.append(
            {
                "alert": trigger.alert,
                "expr": _graded(
                    trigger.metric, trigger.counted, sign, trigger.threshold, window, min_runs
                ),
                "for": trigger.hold,
                "labels": _labels(Status.CRITICAL, trigger.plan),
                "annotations": _annotations(
                    f"Roll back ({trigger.plan.split(':')[0]}): {trigger.title} on {_WHERE} is "
                    f"{_value('ratio')} ({sign} {limit} for {trigger.hold})",
                    trigger.plan,
                    f"Immediate rollback trigger: {trigger.title} {sign} {limit} over the last "
                    f"{window} of synthetic runs, held for {trigger.hold}.",
                ),
            }
        )
    found.append(
        {
            "alert": "SyntheticsSecurityIncident",
            "expr": _success('group="security"') + " == 0",
            "labels": _labels(Status.CRITICAL, SECURITY),
            "annotations": _annotations(
                f"Security incident on {_WHERE}: {{{{ $labels.check }}}} proved access",
                SECURITY,
                "A security check proved unauthorized access (an inconclusive probe never "
                "counts): act immediately.",
            ),
        }
    )
    names = "|".join(
        [t.alert.removeprefix("Synthetics") for t in triggers(window)] + ["SecurityIncident"]
    )
    found.append(
        {
            "alert": "SyntheticsRollbackPlanC",
            "expr": f"count by ({BY}) (\n  count by ({BY}, runbook) (\n"
            f'    ALERTS{{alertstate="firing", alertname=~"Synthetics({names})"}}\n'
            "  )\n) >= 2",
            "labels": _labels(Status.CRITICAL, PLAN_C),
            "annotations": _annotations(
                f"{{{{ $value }}}} rollback plans at once on {_WHERE}: consider the complete "
                "migration rollback",
                PLAN_C,
                "Rollback triggers of more than one plan (A, B, security) are firing.",
            ),
        }
    )
    return found


def _monitor_rules(stale_after: str) -> list[dict[str, Any]]:
    seconds = duration_seconds(stale_after)
    return [
        {
            "alert": "SyntheticsMonitorNotRunning",
            "expr": f"time() - max by ({BY}) (synthetics_last_run_timestamp_seconds) > {seconds:g}",
            "labels": _labels(Status.WARNING, MONITOR),
            "annotations": _annotations(
                f"No synthetic run has finished on {_WHERE} for more than {stale_after}",
                MONITOR,
                "The monitor is not running (its rates stop alerting after one window): this is "
                "about the monitor, not the app.",
            ),
        }
    ]


def rule_groups(
    thresholds: Mapping[str, float],
    rules: RulesConfig,
    window: timedelta = timedelta(hours=2),
    min_runs: int = 3,
) -> dict[str, Any]:
    """The whole rules file (`groups:`) for these thresholds, the rate window (`[history]
    window`) and the runs a rate needs in it (`[history] min_runs`)."""
    interval = rules.interval
    span = prometheus_duration(window)
    sla_s = float(thresholds.get("email_sla_s", 30))
    runbook: list[dict[str, Any]] = []
    for alert in rate_alerts(thresholds, span):
        runbook += _rate_rules(alert, span, min_runs)
    runbook.append(_no_registration(span, min_runs))
    return {
        "groups": [
            {"name": "synthetics-records", "interval": interval,
             "rules": _records(span, sla_s, interval)},
            {"name": "synthetics-runbook", "interval": interval, "rules": runbook},
            {"name": "synthetics-rollback", "interval": interval,
             "rules": _rollback_rules(span, min_runs)},
            {"name": "synthetics-monitor", "interval": interval,
             "rules": _monitor_rules(rules.stale_after)},
        ]
    }  # fmt: skip


class _Dumper(yaml.SafeDumper):
    """YAML with multi-line expressions as literal blocks, as people write rule files."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def to_yaml(document: Mapping[str, Any], header: str = "") -> str:
    """The rules document as a Prometheus rules file; `header` lines become comments."""
    comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000, indent=2
    )
    return comments + body
