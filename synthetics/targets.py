"""What a run is aimed at, decided before anything is sent: the validated plan (target, faults,
inbox, trigger), and the sandbox and browser that start in the background as early as possible.

This module imports little on purpose: `synthetics run` loads it, validates the plan and starts
the sandbox and Chromium before pytest, the official client and the checks are even imported, so
their start overlaps the suite's own.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from synthetics.config import Settings
from synthetics.errors import ConfigError
from synthetics.sandbox.faults import Fault, parse_faults
from synthetics.sandbox_child import ChildLauncher, can_fork
from synthetics.users import check_address

if TYPE_CHECKING:
    from synthetics.deeplink.browser import BrowserThread

SANDBOX_INBOX = "http://127.0.0.1:54324"


@dataclass(frozen=True)
class Plan:
    """A validated run plan: everything checked before any request is sent."""

    settings: Settings
    faults: list[Fault]
    inbox: Any  # an InboxConfig model
    report_dir: Path
    trigger: str = "manual"
    #: Whether the run is recorded in the history (`--no-history` says no).
    history: bool = True
    #: The app's own SQL for the sandbox (`--migrations`) and where PostgreSQL is.
    migrations: Any = None  # a sandbox.migrations.Migrations
    postgres_bin: Path | None = None
    #: Migration files applied after that schema (`--next`), as `synthetics rehearse` tries them.
    next_migrations: Any = None  # a sandbox.migrations.Migrations


def resolve_trigger(explicit: str | None, env: Mapping[str, str]) -> str:
    """What started the run (`--trigger`, else the environment): see synthetics.history.trigger."""
    from synthetics.history.trigger import trigger_from

    try:
        return trigger_from(env, explicit)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--trigger") from None


def plan(
    settings: Settings,
    *,
    faults: Sequence[str] = (),
    report_dir: Path = Path("reports"),
    trigger: str | None = None,
    env: Mapping[str, str] | None = None,
    migrations: Any = None,
    postgres_bin: Path | None = None,
    history: bool = True,
    next_migrations: Any = None,
) -> Plan:
    """Validate what a run needs (faults, inbox, addresses); raises ConfigError, exit 3."""
    parsed = parse_faults(faults)
    if parsed and not settings.target.sandbox:
        raise ConfigError(
            f"faults can only be injected into the sandbox, not into target "
            f"{settings.target_name!r}",
            key="--fault",
        )
    database_options = {
        "--migrations": migrations,
        "--next": next_migrations,
        "--postgres-bin": postgres_bin,
    }
    given = [option for option, value in database_options.items() if value is not None]
    if given and not settings.target.sandbox:
        raise ConfigError(
            f"the sandbox's database options do not apply to target {settings.target_name!r}",
            key=given[0],
        )
    if migrations is not None or next_migrations is not None:
        # A build without what the SQL creates is exit 3 here, before anything starts (the
        # sandbox itself is made on the launcher's thread, where it could only fail the run).
        from synthetics.sandbox.database import install_for

        install_for(migrations, postgres_bin, next_migrations)
    source = settings.source_of("targets", settings.target_name, "inbox")
    if source == "defaults":
        source = settings.source_of("inbox")
    from synthetics.inbox import InboxConfig

    raw = dict(settings.inbox)
    if settings.target.sandbox and raw.get("provider", "mailpit") == "mailpit":
        raw.setdefault("url", SANDBOX_INBOX)  # replaced by the sandbox's own once it runs
    try:
        inbox = TypeAdapter(InboxConfig).validate_python(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        loc = ".".join(str(p) for p in error["loc"])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        raise ConfigError(message, key=f"inbox.{loc}" if loc else "inbox", source=source) from None
    if settings.target.sandbox and getattr(inbox, "provider", "") != "mailpit":
        raise ConfigError("the sandbox target reads its own Mailpit inbox", key="inbox.provider")
    template = getattr(inbox, "address_template", None)
    if isinstance(template, str):
        if "{tag}" not in template:
            raise ConfigError(
                "must contain {tag} (the run id goes there)",
                key="inbox.address_template",
                source=source,
            )
        check_address(
            template.replace("{tag}", "probe"), key="inbox.address_template", source=source
        )
    _require_browser(settings)
    run_trigger = resolve_trigger(trigger, os.environ if env is None else env)
    return Plan(
        settings,
        parsed,
        inbox,
        report_dir,
        trigger=run_trigger,
        history=history,
        migrations=migrations,
        postgres_bin=postgres_bin,
        next_migrations=next_migrations,
    )


def _require_browser(settings: Settings) -> None:
    """With `deeplink.browser = "required"`, a missing browser is a configuration error (exit 3,
    nothing sent), not a critical deep-link alert: the runbook's rollback plans are for the app."""
    deeplink = settings.config.deeplink
    if deeplink.browser != "required":
        return
    from synthetics.deeplink.browser import find_chromium, missing_reason, playwright_chromium

    explicit = deeplink.browser_path
    # A system Chromium answers without starting Playwright's driver; ask Playwright only if not.
    if find_chromium(explicit, playwright_path=lambda: None) or find_chromium(
        explicit, playwright_path=playwright_chromium
    ):
        return
    key = "deeplink.browser_path" if explicit else "deeplink.browser"
    raise ConfigError(
        f'deeplink.browser is "required" but {missing_reason(explicit)}',
        key=key,
        source=settings.source_of(*key.split(".")),
    )


def browser_for(run_plan: Plan, *, once: bool = False) -> BrowserThread | None:
    """A Chromium for the browser checks, starting now in the background (None when off).

    It resolves only loopback and the target's host: nothing else is reachable from it.
    `synthetics run` starts it before pytest loads, next to the sandbox, so it is up by the time
    the first browser check needs it; `once` closes it when the run's checks are over.
    """
    config, target = run_plan.settings.config, run_plan.settings.target
    if config.deeplink.browser == "off":
        return None
    from synthetics.deeplink.browser import BrowserThread

    hosts = [] if target.sandbox else [urlsplit(target.url).hostname or ""]
    return BrowserThread(
        mode=config.deeplink.browser,
        explicit_path=config.deeplink.browser_path,
        allow_hosts=hosts,
        once=once,
    )


def _site_settings(settings: Settings) -> Any:
    """The sandbox's app site, associated with the configured app ids and callback path."""
    from synthetics.sandbox.site import SiteSettings

    deeplink, default = settings.config.deeplink, SiteSettings()
    return SiteSettings(
        apple_app_ids=tuple(deeplink.apple_app_ids) or default.apple_app_ids,
        android_packages=tuple(deeplink.android_packages) or default.android_packages,
        android_sha256_fingerprints=tuple(deeplink.android_sha256_fingerprints)
        or default.android_sha256_fingerprints,
        callback_path=(
            urlsplit(deeplink.redirect).path if deeplink.universal else default.callback_path
        ),
    )


class Launcher(Protocol):
    """What starts a run's sandbox and stops it: SandboxLauncher (in this process) or
    synthetics.sandbox_child.ChildLauncher (in a process of its own)."""

    #: One run's sandbox: it goes down as the run's checks end (`watch` keeps its own up).
    once: bool
    #: The running sandbox (its `info`, `load_report`, `next_report`, `mail.stats()`), once
    #: `wait()` returned.
    sandbox: Any
    #: Seconds from the start's beginning until the sandbox was ready, and spent stopping it.
    elapsed_s: float
    stop_s: float

    def wait(self) -> Any:
        """The running sandbox's info (raises what the start raised)."""

    def stop_soon(self) -> None:
        """Begin stopping a one-run sandbox (`stop()` waits for it)."""

    def stop(self) -> None:
        """Stop the sandbox, waiting for the stop to end."""


def forked_launcher(run_plan: Plan) -> ChildLauncher | None:
    """A one-run sandbox starting now in a process of its own (synthetics.sandbox_child), or
    None where that cannot be had safely: then the run starts a SandboxLauncher itself."""
    if can_fork():
        with contextlib.suppress(OSError):  # no fork to be had (EAGAIN, ENOMEM)
            return ChildLauncher(run_plan).begin()
    return None


class SandboxLauncher:
    """Starts the run's sandbox in the background, as early as possible; the run waits for it.

    `synthetics run` begins one before pytest even loads (in the process forked for it,
    synthetics.sandbox_child, where it can), so the database and servers come up while pytest
    starts and collects: the sandbox's start overlaps the suite's own start-up.
    """

    def __init__(self, run_plan: Plan, *, once: bool = False) -> None:
        self.plan = run_plan
        #: One run's sandbox (`synthetics run`): it goes down as soon as the run's checks and
        #: cleanup are over, while the outputs are written (`watch` keeps its sandbox warm).
        self.once = once
        self._stopper: threading.Thread | None = None
        #: The sandbox (a synthetics.sandbox.server.Sandbox), once `wait()` returned.
        self.sandbox: Any = None
        self.elapsed_s = 0.0
        self.stop_s = 0.0
        self._done = threading.Event()
        self._info: Any = None
        self._error: BaseException | None = None
        self._settings: Any = None  # the SandboxSettings
        self._database: Any = None  # its synthetics.sandbox.database.Database
        #: Set once the caller's thread has loaded the sandbox's code (or failed to).
        self._imported = threading.Event()
        self._import_error: Exception | None = None

    def begin(self) -> SandboxLauncher:
        """Start the sandbox's database in a background thread, load the rest of the sandbox's
        code here meanwhile, then bring up its services in that thread.

        The order is the run's critical path: the database's start is mostly waits on other
        processes (copying the cluster, PostgreSQL coming up), so it goes first, and the
        services' code (uvicorn, starlette, the Auth and REST services: ~0.15 s of CPU) loads
        in the caller's thread while it waits, before pytest loads beside them. Loading that
        code first made the database start ~0.15 s later; loading it in the background thread
        shared the interpreter with pytest's loading and made the sandbox ready ~0.2 s later
        (bench/run.py).
        """
        try:
            from synthetics.sandbox.database import sandbox_database
            from synthetics.sandbox.settings import settings_for_port

            self._settings = settings_for_port(self._sandbox_settings(), 0)
            self._database = sandbox_database(self._settings)
        except Exception as exc:  # handed to wait(), as a failed start is
            self._error = exc
            self._done.set()
            return self
        threading.Thread(target=self._start, name="synthetics-launcher", daemon=True).start()
        try:
            import synthetics.sandbox.server  # noqa: F401 - loaded now, used by _start
        except Exception as exc:
            self._import_error = exc
        finally:
            self._imported.set()
        return self

    def _sandbox_settings(self) -> Any:
        from synthetics.sandbox.settings import AuthSettings, SandboxSettings

        config = self.plan.settings.config
        auth = AuthSettings(
            site_url=config.auth.site_url, uri_allow_list=(config.deeplink.redirect,)
        )
        return SandboxSettings(
            auth=auth,
            site=_site_settings(self.plan.settings),
            migrations=self.plan.migrations,
            postgres_bin=self.plan.postgres_bin,
            next_migrations=self.plan.next_migrations,
        )

    def _start(self) -> None:
        started = time.perf_counter()
        try:
            self._database.start()
            self._imported.wait()
            if self._import_error is not None:
                raise self._import_error
            from synthetics.sandbox.server import Sandbox

            self.sandbox = Sandbox(self._settings, faults=self.plan.faults, database=self._database)
            self._info = self.sandbox.start()
        except BaseException as exc:  # handed to wait(), in the run's thread
            self._error = exc
        finally:
            self.elapsed_s = time.perf_counter() - started
            self._done.set()

    def wait(self) -> Any:
        """The running sandbox's info (raises what the start raised)."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._info

    def stop_soon(self) -> None:
        """Begin stopping a one-run sandbox in the background (`stop()` waits for it)."""
        if self.once and self._stopper is None:
            self._stopper = threading.Thread(
                target=self._stop, name="synthetics-sandbox-stop", daemon=True
            )
            self._stopper.start()

    def stop(self) -> None:
        """Stop the sandbox (after its start finished, successfully or not)."""
        if self._stopper is not None:
            self._stopper.join()
            self._stopper = None
        self._stop()

    def _stop(self) -> None:
        self._done.wait()
        started = time.perf_counter()
        if self.sandbox is not None:
            self.sandbox.stop()
        elif self._database is not None:
            self._database.stop()  # started, but the sandbox around it never was
        self.stop_s += time.perf_counter() - started


#: What runs a sandbox for a run (what the pytest plugin picks up from `synthetics run`).
LAUNCHERS = (SandboxLauncher, ChildLauncher)
