"""What the commands share: the config, the store it names, the folder it is relative to, and
the clients that talk to a real target."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthetics import config as config_module
from synthetics.errors import ConfigError

if TYPE_CHECKING:  # the heavy clients load when a command uses them, not when the CLI starts
    import httpx

    from synthetics.clients.official import Official
    from synthetics.clients.supabase import Supabase
    from synthetics.history.store import SqlStore
    from synthetics.redact import Redactor


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
    from synthetics.history.store import open_store

    folder = config_folder(config_path) if config_path is not None else settings.folder
    return open_store(settings.config.history.resolved_url(folder))


@dataclass
class TargetClients:
    """The clients a command uses against a real target: wire, official, and their redactor."""

    api: Supabase
    official: Official
    redactor: Redactor
    http_client: httpx.Client


@contextmanager
def target_clients(settings: config_module.Settings) -> Iterator[TargetClients]:
    """Clients for the selected (non-sandbox) target on the project's transport: every request
    has a total deadline and a capped body; every key is registered with the redactor."""
    import httpx

    from synthetics.clients.http import Http
    from synthetics.clients.official import Official
    from synthetics.clients.supabase import Supabase
    from synthetics.clients.transport import Transport
    from synthetics.redact import Redactor

    config, target = settings.config, settings.target
    redactor = Redactor()
    redactor.add(*config_module.secret_values(config))
    anon = target.anon_key.get_secret_value() if target.anon_key else ""
    service = target.service_role_key.get_secret_value() if target.service_role_key else None
    client = httpx.Client(
        timeout=config.request_timeout_s,
        transport=Transport(total_timeout=config.request_timeout_s),
    )
    try:
        api = Supabase(Http(client, retries=config.retries), target.url, anon, service, redactor)
        official = Official(target.url, anon, service, http_client=client, redactor=redactor)
        yield TargetClients(api, official, redactor, client)
    finally:
        client.close()


def inbox_config(settings: config_module.Settings, *, url: str | None = None) -> Any:
    """The selected target's inbox config, validated by its provider's model (ConfigError
    naming the key and its source). A Mailpit inbox without a URL gets `url` (the sandbox's)."""
    from pydantic import TypeAdapter, ValidationError

    from synthetics.inbox import InboxConfig

    source = settings.source_of("targets", settings.target_name, "inbox")
    if source == "defaults":
        source = settings.source_of("inbox")
    raw = dict(settings.inbox)
    if raw.get("provider", "mailpit") == "mailpit" and url is not None:
        raw.setdefault("url", url)
    try:
        return TypeAdapter(InboxConfig).validate_python(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        loc = ".".join(str(p) for p in error["loc"])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        raise ConfigError(message, key=f"inbox.{loc}" if loc else "inbox", source=source) from None


def check_report_dir(report_dir: Path, key: str = "--report-dir") -> None:
    """The report directory must be a directory we can write (exit 3 before anything is sent)."""
    if report_dir.exists() and not report_dir.is_dir():
        raise ConfigError(f"{report_dir} exists and is not a directory", key=key)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {report_dir}: {exc.strerror}", key=key) from None
    if not os.access(report_dir, os.W_OK):
        raise ConfigError(f"{report_dir} is not writable", key=key)
