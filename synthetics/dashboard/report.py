"""`synthetics report`: the history as one offline HTML page and `report.json` (contract).

report.json (`schema: "synthetics/report@1"`):

    {"schema", "generated_at", "target", "since", "until",
     "series": {"triggers", "rehearsals", "runs"},
     "latest_run": {run_id, started_at, status, interrupted} | null,
     "verdict": {"day": {"verdict": stable|not_stable|unknown, "reasons", "figures", …},
                 "week": {"verdict", "reasons", "consecutive_stable_days", "days"}},
     "rules": {"firing": [{rule, title, level, since, message, evidence}],
               "cleared": [{rule, title, level, since, cleared, message, evidence}],
               "current": [every rule's state now]},
     "rollback": {"plan", "since", "first_steps", "plans", "triggers"} | null,
     "rollbacks": [{plan, since, cleared, plans}],
     "real_users": {"at", "days": [{day, registrations, confirmed}], "last_24h",
                    "registrations": {recent, week_before, span_s}} | null}

Real-user rules (`"real": true`) sit in `rules` next to the synthetic ones.

The page shows, top to bottom: the latest run's status and the verdict; the rollback call; the
rules firing; a trend chart per runbook metric with its threshold lines; a status strip per
check; the incidents (fired and cleared) and the rollbacks. Everything is inline: no script, no
CDN, no external file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from synthetics.alerting.heartbeat import overdue
from synthetics.catalog import order_key
from synthetics.dashboard.charts import Line, trend_svg
from synthetics.results import RunResult
from synthetics.rules import metrics
from synthetics.rules.evaluate import Judgement, judge
from synthetics.rules.policy import Policy, duration_text, percent
from synthetics.rules.rates import NoRegistrationRule
from synthetics.rules.real_users import RealUsers
from synthetics.rules.window import Series, percentile
from synthetics.status import Status

SCHEMA = "synthetics/report@1"
#: Columns of the trend charts and the status strip at most.
BUCKETS = 96
#: What a status-strip cell shows when a bucket holds several results (worst first).
_STRIP_ORDER = ("critical", "warning", "info", "ok", "blocked", "skipped")


@dataclass(frozen=True)
class Trend:
    """One chart: a figure over time and the lines it is judged against."""

    title: str
    unit: str
    value: Callable[[Series, datetime, Policy], float | None]
    lines: tuple[Line, ...]


def _rate(metric: str) -> Callable[[Series, datetime, Policy], float | None]:
    def value(series: Series, at: datetime, policy: Policy) -> float | None:
        totals = series.totals(metric, at - policy.window, at)
        if totals.runs < policy.min_runs:
            return None
        if metrics.METRICS[metric].kind == "success":
            return totals.success_rate
        return totals.failure_rate

    return value


def _mean_time(series: Series, at: datetime, policy: Policy) -> float | None:
    totals = series.totals(metrics.RPC_TIME, at - policy.window, at)
    return totals.mean if totals.runs >= policy.min_runs else None


def _p95_time(series: Series, at: datetime, policy: Policy) -> float | None:
    totals = series.totals(metrics.RPC_TIME, at - policy.window, at)
    if totals.runs < policy.min_runs:
        return None
    return percentile(series.values(metrics.RPC_TIME, at - policy.window, at), 0.95)


def _since_success(series: Series, at: datetime, policy: Policy) -> float | None:
    return NoRegistrationRule().evaluate(series, at, policy).value


def trends(thresholds: Mapping[str, float] | None = None) -> tuple[Trend, ...]:
    """Every runbook metric's chart, with its alert, rollback and stability lines."""
    limits = thresholds or {}
    info_ms = float(limits.get("rpc_info_ms", 500))
    warning_ms = float(limits.get("rpc_warning_ms", 1000))
    crit, warn, info, goal = "critical", "warning", "info", "target"
    times = (Line(f"warning > {warning_ms:.0f} ms", warning_ms, warn),
             Line(f"info > {info_ms:.0f} ms (stable needs less)", info_ms, info))  # fmt: skip
    return (
        Trend("auth failure rate", "%", _rate(metrics.AUTH_FAILURE), (
            Line("critical > 20 %", 0.20, crit), Line("warning > 10 %", 0.10, warn),
            Line("info > 5 %", 0.05, info))),
        Trend("registration success rate", "%", _rate(metrics.REGISTRATION), (
            Line("rollback (Plan A) < 50 % for 15 min", 0.50, crit),
            Line("stable > 95 %", 0.95, goal))),
        Trend("email delivery within the SLA", "%", _rate(metrics.EMAIL_DELIVERY), (
            Line("critical < 50 %", 0.50, crit), Line("warning < 80 %", 0.80, warn),
            Line("info < 90 % (stable needs more)", 0.90, info))),
        Trend("email delivery rate", "%", _rate(metrics.EMAIL_DELIVERED), (
            Line("rollback (Plan A) < 30 % for 10 min", 0.30, crit),)),
        Trend("deep-link failure rate", "%", _rate(metrics.DEEPLINK_FAILURE), (
            Line("rollback (Plan A) > 30 % for 5 min", 0.30, crit),
            Line("critical > 10 %", 0.10, crit), Line("warning > 5 %", 0.05, warn),
            Line("stable < 2 %", 0.02, goal))),
        Trend("v2 RPC error rate", "%", _rate(metrics.RPC_ERROR), (
            Line("rollback (Plan B) > 30 % for 5 min", 0.30, crit),
            Line("critical > 10 %", 0.10, crit), Line("warning > 5 %", 0.05, warn),
            Line("stable < 2 %", 0.02, goal))),
        Trend("mean v2 RPC time", "ms", _mean_time, times),
        Trend("p95 v2 RPC time", "ms", _p95_time, times),
        Trend("minutes since the last successful registration", "min", _since_success, (
            Line("critical: none for 30 min", 30, crit),)),
    )  # fmt: skip


def _buckets(start: datetime, end: datetime, count: int) -> list[datetime]:
    """`count` evenly spaced moments ending at `end` (bucket ends)."""
    count = max(2, count)
    step = (end - start) / count
    return [start + step * (n + 1) for n in range(count)]


def _strip(runs: Sequence[RunResult], start: datetime, end: datetime, count: int) -> dict[str, Any]:
    """The per-check status strip: rows of check ids, columns of time buckets."""
    count = max(1, count)
    step = (end - start) / count
    cells: dict[str, list[dict[str, int]]] = {}
    for run in runs:
        if not start < run.started_at <= end:
            continue
        column = min(count - 1, int((run.started_at - start) / step))
        for check in run.checks:
            row = "rpc.*" if check.id.startswith("rpc.") else check.id
            if row not in cells:
                cells[row] = [{} for _ in range(count)]
            counts = cells[row][column]
            counts[check.status.value] = counts.get(check.status.value, 0) + 1
    rows = []
    for row in sorted(cells, key=_row_order):
        columns = []
        for n, counts in enumerate(cells[row]):
            worst = next((s for s in _STRIP_ORDER if s in counts), "none")
            begin = start + step * n
            detail = ", ".join(f"{counts[s]} {s}" for s in _STRIP_ORDER if s in counts)
            columns.append(
                {
                    "status": worst,
                    "title": f"{row} {begin:%m-%d %H:%M} to {begin + step:%H:%M}: "
                    f"{detail or 'no run'}",
                }
            )
        rows.append({"check": row, "cells": columns})
    return {"rows": rows, "start": start, "end": end}


def _row_order(row: str) -> tuple[int, int, str]:
    try:
        return (*order_key(row.replace("*", "x")), row)
    except KeyError:  # a check this version does not know: after the known ones
        return (10_000, 0, row)


def report_json(
    judgement: Judgement,
    *,
    target: str | None,
    since: datetime,
    latest: RunResult | None,
    triggers: Collection[str] | None,
    rehearsals: bool,
) -> dict[str, Any]:
    """The contract's report.json document."""
    open_by_rule = {i.rule: i for i in judgement.incidents if i.cleared is None}
    firing = []
    for ev in judgement.firing:
        incident = open_by_rule.get(ev.rule)
        firing.append(
            {
                "rule": ev.rule,
                "title": ev.title,
                "level": ev.level.value if ev.level else None,
                "since": (incident.since if incident else ev.at).isoformat(),
                "message": ev.message,
                "evidence": list(ev.evidence),
            }
        )
    cleared = [i.to_json() for i in judgement.incidents if i.cleared is not None]
    return {
        "schema": SCHEMA,
        "generated_at": judgement.now.isoformat(),
        "target": target,
        "since": since.isoformat(),
        "until": judgement.now.isoformat(),
        "series": {
            "triggers": sorted(triggers) if triggers is not None else None,
            "rehearsals": rehearsals,
            "runs": len(judgement.series.points),
        },
        "latest_run": None
        if latest is None
        else {
            "run_id": latest.run_id,
            "started_at": latest.started_at.isoformat(),
            "status": latest.status.value,
            "interrupted": latest.interrupted,
        },
        "verdict": {"day": judgement.day.to_json(), "week": judgement.week.to_json()},
        "rules": {
            "firing": firing,
            "cleared": cleared,
            "current": [e.to_json() for e in judgement.current],
        },
        "rollback": judgement.rollback.to_json() if judgement.rollback else None,
        "rollbacks": [r.to_json() for r in judgement.rollbacks],
        "real_users": judgement.real.to_json() if judgement.real else None,
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: (resources.files("synthetics.dashboard") / name).read_text("utf-8")
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""
    env.filters["iso_when"] = lambda text: (
        datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC") if text else ""
    )
    env.filters["percent"] = percent
    return env


@dataclass(frozen=True)
class Report:
    """A built report: the JSON document and the HTML page."""

    data: dict[str, Any]
    html: str

    def write(self, out: Path) -> tuple[Path, Path]:
        """Write `out/index.html` and `out/report.json` (each atomically)."""
        out.mkdir(parents=True, exist_ok=True)
        page, doc = out / "index.html", out / "report.json"
        _atomic(page, self.html)
        _atomic(doc, json.dumps(self.data, indent=2, ensure_ascii=False) + "\n")
        return page, doc


def _atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(
    runs: Iterable[RunResult],
    *,
    now: datetime,
    since: datetime,
    policy: Policy,
    target: str | None = None,
    triggers: Collection[str] | None = metrics.DEFAULT_TRIGGERS,
    rehearsals: bool = False,
    thresholds: Mapping[str, float] | None = None,
    real: RealUsers | None = None,
    muted: Sequence[str] = (),
) -> Report:
    """The report over `runs` (judged at `now`; charts and strip from `since`), with the app's
    own figures (`real`) when the target's database was read."""
    all_runs = list(runs)
    chosen = [
        r
        for r in metrics.select(all_runs, target=target, triggers=triggers, rehearsals=rehearsals)
        if r.started_at <= now
    ]
    judgement = judge(
        chosen, now, policy, triggers=None, rehearsals=True, thresholds=thresholds, real=real
    )
    latest = chosen[-1] if chosen else None
    data = report_json(
        judgement,
        target=target,
        since=since,
        latest=latest,
        triggers=triggers,
        rehearsals=rehearsals,
    )
    gap = overdue([r.started_at for r in chosen], now, policy.expected_interval)
    data["monitor"] = {
        "overdue": gap is not None,
        "message": gap.message(policy.expected_interval) if gap else "",
        "last_run": max((r.started_at for r in chosen), default=None),
    }
    if data["monitor"]["last_run"] is not None:
        data["monitor"]["last_run"] = data["monitor"]["last_run"].isoformat()
    data["muted_runs"] = list(muted)
    in_period = [r for r in chosen if r.started_at > since]
    count = min(BUCKETS, max(2, len(in_period)))
    moments = _buckets(since, now, count)
    series = judgement.series
    charts = [
        trend_svg(
            t.title,
            [(at, t.value(series, at, policy)) for at in moments],
            t.lines,
            unit=t.unit,
            start=since,
            end=now,
        )
        for t in trends(thresholds)
    ]
    context = {
        "data": data,
        "judgement": judgement,
        "charts": charts,
        "strip": _strip(in_period, since, now, count),
        "incidents": [i.to_json() for i in reversed(judgement.incidents)],
        "rollbacks": [r.to_json() for r in reversed(judgement.rollbacks)],
        "latest": latest,
        "policy": {
            "window": duration_text(policy.window),
            "min_runs": policy.min_runs,
            "interval": duration_text(policy.expected_interval),
            "coverage": percent(policy.coverage),
        },
        "period": duration_text(now - since),
        "status_rank": {s.value: s.rank for s in Status},
    }
    html = _environment().get_template("page.html").render(**context)
    return Report(data, html)


def default_since(now: datetime, days: float = 7) -> datetime:
    """The default report period: the last `days` days."""
    return now - timedelta(days=days)


def utc_now() -> datetime:
    """The wall clock, in UTC (the CLI's; everything else takes `now`)."""
    return datetime.now(UTC)
