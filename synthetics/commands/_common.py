"""What the history commands share: the config, the store it names, the folder it is relative to."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from synthetics import config as config_module
from synthetics.history.store import SqlStore, open_store


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """--config and --set, as `synthetics run` has them."""
    parser.add_argument("--config", type=Path, default=None, help="config file (synthetics.toml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="sets",
        help="override a config key, e.g. history.url=sqlite:///h.sqlite (repeatable)",
    )


def load(
    config_path: Path | None, sets: Sequence[str], target: str | None = None
) -> config_module.Settings:
    """The validated settings (ConfigError names the key and where it came from)."""
    return config_module.load(path=config_path, sets=sets, target=target)


def config_folder(config_path: Path | None) -> Path:
    """What a relative `sqlite:///PATH` is relative to: the config file's folder, else here."""
    if config_path is not None:
        return config_path.resolve().parent
    return Path.cwd()


def store_for(settings: config_module.Settings, config_path: Path | None) -> SqlStore:
    """The history store `[history] url` names (HistoryError, never the URL, on failure)."""
    return open_store(settings.config.history.resolved_url(config_folder(config_path)))
