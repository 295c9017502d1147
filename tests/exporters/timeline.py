"""Runs as Prometheus would have scraped them: promtool `input_series` from the real exporter.

Each run goes through `synthetics.exporters.prometheus.render` (what the textfile or the
Pushgateway would expose); a scrape every minute sees the latest run that had finished by then.
A series the latest run no longer exposes gets a staleness marker, as a real scrape writes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from synthetics.exporters.prometheus import render
from synthetics.results import RunResult
from tests.exporters.tools import promtool

#: The series the rules read (the rest of the exposition is left out to keep the files small).
READ_BY_RULES = frozenset(
    {
        "synthetics_check_success",
        "synthetics_email_delivery_seconds",
        "synthetics_rpc_latency_seconds",
        "synthetics_last_run_timestamp_seconds",
    }
)


def _key(name: str, labels: dict[str, str]) -> str:
    inside = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inside}}}"


def scraped(run: RunResult) -> dict[str, float]:
    """series → value of one run's exposition."""
    found = {}
    for family in text_string_to_metric_families(render(run).decode()):
        for sample in family.samples:
            if sample.name in READ_BY_RULES:
                found[_key(sample.name, dict(sample.labels))] = sample.value
    return found


def input_series(
    runs: Iterable[RunResult], minutes: int, scrape_s: int = 60
) -> list[dict[str, str]]:
    """promtool input series: a scrape every `scrape_s` seconds from 0 to `minutes`."""
    # Each (target, location) is its own scrape target: a Pushgateway group or a textfile.
    by_source: dict[tuple[str, str], list[tuple[float, dict[str, float]]]] = {}
    for run in runs:
        finished = (run.finished_at or run.started_at).timestamp()
        by_source.setdefault((run.target, run.location), []).append((finished, scraped(run)))
    keys = sorted({key for done in by_source.values() for _, exposed in done for key in exposed})
    values: dict[str, list[str]] = {key: [] for key in keys}
    for step in range(minutes * 60 // scrape_s + 1):
        exposed = {}
        for done in by_source.values():
            latest = [e for at, e in sorted(done, key=lambda d: d[0]) if at <= step * scrape_s]
            exposed.update(latest[-1] if latest else {})
        for key in keys:
            history = values[key]
            if key in exposed:
                history.append(repr(exposed[key]))
            elif history and history[-1] not in ("_", "stale"):
                history.append("stale")
            else:
                history.append("_")
    return [{"series": key, "values": " ".join(v)} for key, v in values.items()]


def every(
    minutes: int, until: int, make: Callable[[int], RunResult], since: int = 0
) -> list[RunResult]:
    """A run every `minutes` from `since` to `until` (inclusive), each made by `make(minute)`."""
    return [make(m) for m in range(since, until + 1, minutes)]


Alert = tuple[str, str, str]  # alertname, severity, alertstate


def alerts_query(
    expected: Iterable[dict[str, str]], at: str, alertnames: str = "Synthetics.*"
) -> dict[str, Any]:
    """A promql_expr_test: exactly these ALERTS series (firing or pending) at `at`."""
    return {
        "expr": f'ALERTS{{alertname=~"{alertnames}"}}',
        "eval_time": at,
        "exp_samples": [
            {"labels": _key("ALERTS", dict(labels)), "value": 1} for labels in expected
        ],
    }


def run_tests(
    tmp_path: Path,
    rules_yaml: str,
    runs: Sequence[RunResult],
    minutes: int,
    expr_tests: Sequence[dict[str, Any]] = (),
    alert_tests: Sequence[dict[str, Any]] = (),
    scrape_s: int = 60,
) -> str:
    """`promtool test rules` on these runs; its output (AssertionError with it on failure)."""
    (tmp_path / "rules.yml").write_text(rules_yaml)
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": [
            "synthetics-records",
            "synthetics-runbook",
            "synthetics-rollback",
            "synthetics-monitor",
        ],
        "tests": [
            {
                "interval": f"{scrape_s}s",
                "input_series": input_series(runs, minutes, scrape_s),
                "promql_expr_test": list(expr_tests),
                "alert_rule_test": list(alert_tests),
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False, width=10_000))
    return promtool("test", "rules", "test.yml", cwd=tmp_path)
