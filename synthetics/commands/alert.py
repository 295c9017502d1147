"""`synthetics alert test [--channel NAME]`: a clearly marked test through each channel.

Each configured channel (or the one named) gets one notification whose title starts with
`TEST:` and says nothing is wrong; a PagerDuty channel gets the test `trigger` and then its
`resolve` at once, so nobody is left with an open incident. Every answer is printed, one line a
channel; the exit status is 0 when every channel accepted it, 1 when any did not, 3 for a
configuration error (nothing sent).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from synthetics.errors import ConfigError
from synthetics.status import Status

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(commands: Any) -> None:
    """`alert test` and its options."""
    alert = commands.add_parser("alert", help="alert channels: send a test notification")
    actions = alert.add_subparsers(dest="alert_command", required=True)
    test = actions.add_parser(
        "test", help="send a clearly marked test notification through each configured channel"
    )
    test.add_argument("--channel", default=None, help="only this channel ([alerts.channels.NAME])")
    test.add_argument("--config", type=Path, default=None, help="config file (synthetics.toml)")
    test.add_argument("--target", default=None, help="target named in the test (default_target)")
    test.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
        help="override a config key (repeatable)",
    )  # fmt: skip
    test.set_defaults(handler=run_test)


def run_test(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Send the test and print what each channel answered."""
    from synthetics import config as config_module
    from synthetics.alerting import build_channel
    from synthetics.alerting.model import Notification
    from synthetics.alerting.sender import Sender
    from synthetics.redact import Redactor

    stream = out or sys.stdout
    settings = config_module.load(path=args.config, sets=args.sets, target=args.target)
    alerts = settings.config.alerts
    if not alerts.channels:
        raise ConfigError(
            "no channel is configured ([alerts.channels.NAME])", key="alerts.channels"
        )
    names = list(alerts.channels)
    if args.channel is not None:
        if args.channel not in alerts.channels:
            raise ConfigError(
                f"no channel {args.channel!r}; channels: {', '.join(names)}", key="--channel"
            )
        names = [args.channel]
    redactor = Redactor()
    channels = [build_channel(n, alerts.channels[n], stream=stream) for n in names]
    for channel in channels:
        redactor.add(*channel.secrets())
    now = datetime.now(UTC)
    note = Notification(
        kind="test",
        target=settings.target_name,
        subject="alert-test",
        severity=Status.INFO,
        at=now,
        message="a test notification from `synthetics alert test`: nothing is wrong",
        trigger="manual",
        report_url=alerts.report_link("alert-test", settings.target_name, {}),
    )
    sender = Sender(
        timeout_s=alerts.timeout_s, retries=alerts.retries, max_wait_s=alerts.max_wait_s,
        redactor=redactor,
    )  # fmt: skip
    failed = False
    try:
        for channel in channels:
            receipt = channel.send(note, sender)
            if receipt.ok and channel.type == "pagerduty":
                resolved = channel.send(
                    Notification(**{**note.__dict__, "kind": "resolve", "at": now}), sender
                )
                if not resolved.ok:
                    receipt = resolved
            failed = failed or not receipt.ok
            print(redactor.redact(receipt.line()), file=stream)
    finally:
        sender.close()
    return EXIT_FAILED if failed else EXIT_OK
