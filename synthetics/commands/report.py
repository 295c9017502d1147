"""`synthetics report [--target T] [--since D] --out DIR`: the history as HTML and JSON."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from synthetics.commands._common import add_config_options, load, store_for
from synthetics.errors import ConfigError

EXIT_OK = 0
#: The week verdict needs seven days; the rules need one window before those.
WEEK = timedelta(days=7)


def add_parser(commands: Any) -> None:
    """`report`."""
    from pathlib import Path

    report = commands.add_parser(
        "report",
        help="the history as an offline HTML dashboard and report.json",
        description="Build DIR/index.html and DIR/report.json from the history: the latest run, "
        "the 24 h / 7-day stability verdict, the runbook's rules, rollback triggers, trends.",
    )
    report.add_argument("--target", default=None, help="target (default: default_target)")
    report.add_argument(
        "--since", default="7d", help="period shown: a duration (24h, 7d) or an ISO date"
    )
    report.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    report.add_argument(
        "--trigger",
        action="append",
        default=None,
        dest="triggers",
        metavar="TRIGGER",
        help="series to judge: schedule (default), release, manual, ci or all (repeatable)",
    )
    report.add_argument(
        "--rehearsals", action="store_true", help="include sandbox fault rehearsals"
    )
    report.add_argument(
        "--at", default=None, metavar="ISO", help="judge as of this moment (default: now)"
    )
    add_config_options(report)
    report.set_defaults(handler=run_report)


def _moment(text: str, key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not an ISO date or time", key=key) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _since(text: str, now: datetime) -> datetime:
    from synthetics.durations import parse_duration

    try:
        return now - parse_duration(text)
    except ValueError:
        return _moment(text, "--since")


def run_report(args: argparse.Namespace) -> int:
    """Read the history, judge it, write the page and the JSON."""
    from synthetics.dashboard.report import build, utc_now
    from synthetics.history.trigger import TRIGGERS

    settings = load(args.config, args.sets, args.target)
    history = settings.config.history
    now = _moment(args.at, "--at") if args.at else utc_now()
    since = _since(args.since, now)
    if since >= now:
        raise ConfigError("must be before now", key="--since")
    triggers: tuple[str, ...] | None = ("schedule",)
    if args.triggers:
        if "all" in args.triggers:
            triggers = None
        else:
            unknown = sorted(set(args.triggers) - set(TRIGGERS))
            if unknown:
                raise ConfigError(
                    f"unknown trigger(s) {', '.join(unknown)}; triggers: {', '.join(TRIGGERS)}",
                    key="--trigger",
                )
            triggers = tuple(args.triggers)
    policy = history.policy()
    from synthetics.alerting.state import SqlStateStore

    store = store_for(settings, args.config)
    try:
        runs = store.runs(
            target=settings.target_name,
            since=min(since, now - WEEK) - policy.window,
            until=now + timedelta(milliseconds=1),
            triggers=triggers,
        )
        muted = SqlStateStore(store.engine, create=False).muted_runs(target=settings.target_name)
    finally:
        store.close()
    real = None
    db_url = settings.target.db_url
    if db_url is not None:
        from synthetics.history.real_users import read_real_users

        real = read_real_users(db_url.get_secret_value(), now)
    report = build(
        runs,
        now=now,
        since=since,
        policy=policy,
        target=settings.target_name,
        triggers=triggers,
        rehearsals=args.rehearsals,
        thresholds=settings.config.thresholds.model_dump(),
        real=real,
        muted=muted,
    )
    page, doc = report.write(args.out)
    verdict = report.data["verdict"]
    rollback = report.data["rollback"]
    if report.data["monitor"]["overdue"]:
        print(f"synthetics: warning: {report.data['monitor']['message']}", file=sys.stderr)
    print(
        f"report: {page} and {doc.name}; {len(report.data['rules']['firing'])} rule(s) firing; "
        f"24 h: {verdict['day']['verdict']}, 7 days: {verdict['week']['verdict']}; "
        f"rollback: {rollback['plan'] if rollback else 'none'}"
    )
    return EXIT_OK
