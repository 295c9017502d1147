"""Everything one run holds: settings, target connection, inbox, journey, users, results.

`Runtime.open()` resolves the target (starting the sandbox when that is the target), builds the
clients and the journey; `close()` deletes whatever users are still left and stops what it started,
also after a failure or an interrupt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import TypeAdapter, ValidationError

from synthetics.clients.http import BadResponse, Http, Recorder, TransportFailure
from synthetics.clients.supabase import Supabase
from synthetics.config import Settings
from synthetics.deeplink.browser import (
    BrowserThread,
    find_chromium,
    missing_reason,
    playwright_chromium,
)
from synthetics.errors import ConfigError
from synthetics.inbox import InboxConfig, build_inbox
from synthetics.inbox.base import Inbox
from synthetics.journey import Journey
from synthetics.redact import Redactor
from synthetics.results import CheckResult, RunResult
from synthetics.sandbox.faults import Fault, parse_faults
from synthetics.users import Registry, check_address, new_run_id

Clock = Callable[[], datetime]
SANDBOX_INBOX = "http://127.0.0.1:54324"


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Plan:
    """A validated run plan: everything checked before any request is sent."""

    settings: Settings
    faults: list[Fault]
    inbox: Any  # an InboxConfig model
    report_dir: Path


def plan(
    settings: Settings, *, faults: Sequence[str] = (), report_dir: Path = Path("reports")
) -> Plan:
    """Validate what a run needs (faults, inbox, addresses); raises ConfigError, exit 3."""
    parsed = parse_faults(faults)
    if parsed and not settings.target.sandbox:
        raise ConfigError(
            f"faults can only be injected into the sandbox, not into target "
            f"{settings.target_name!r}",
            key="--fault",
        )
    source = settings.source_of("targets", settings.target_name, "inbox")
    if source == "defaults":
        source = settings.source_of("inbox")
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
    return Plan(settings, parsed, inbox, report_dir)


def _require_browser(settings: Settings) -> None:
    """With `deeplink.browser = "required"`, a missing browser is a configuration error (exit 3,
    nothing sent), not a critical deep-link alert: the runbook's rollback plans are for the app."""
    deeplink = settings.config.deeplink
    if deeplink.browser != "required":
        return
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


def browser_for(run_plan: Plan) -> BrowserThread | None:
    """A Chromium for the browser checks, starting now in the background (None when off).

    It resolves only loopback and the target's host: nothing else is reachable from it.
    `synthetics run` starts it before pytest loads, next to the sandbox, so it is up by the time
    the first browser check needs it.
    """
    config, target = run_plan.settings.config, run_plan.settings.target
    if config.deeplink.browser == "off":
        return None
    hosts = [] if target.sandbox else [urlsplit(target.url).hostname or ""]
    return BrowserThread(
        mode=config.deeplink.browser,
        explicit_path=config.deeplink.browser_path,
        allow_hosts=hosts,
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


class SandboxLauncher:
    """Starts the run's sandbox in the background, as early as possible; the run waits for it.

    `synthetics run` begins one before pytest even loads, so the database and servers come up
    while pytest starts and collects: the sandbox's start overlaps the suite's own start-up.
    """

    def __init__(self, run_plan: Plan) -> None:
        from synthetics.sandbox.server import Sandbox, settings_for_port
        from synthetics.sandbox.settings import AuthSettings, SandboxSettings

        config = run_plan.settings.config
        auth = AuthSettings(
            site_url=config.auth.site_url, uri_allow_list=(config.deeplink.redirect,)
        )
        settings = SandboxSettings(auth=auth, site=_site_settings(run_plan.settings))
        self.sandbox = Sandbox(settings_for_port(settings, 0), faults=run_plan.faults)
        self.elapsed_s = 0.0
        self.stop_s = 0.0
        self._done = threading.Event()
        self._info: Any = None
        self._error: BaseException | None = None

    def begin(self) -> SandboxLauncher:
        """Start the sandbox in a background thread."""
        threading.Thread(target=self._start, name="synthetics-launcher", daemon=True).start()
        return self

    def _start(self) -> None:
        started = time.perf_counter()
        try:
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

    def stop(self) -> None:
        """Stop the sandbox (after its start finished, successfully or not)."""
        self._done.wait()
        started = time.perf_counter()
        self.sandbox.stop()
        self.stop_s += time.perf_counter() - started


@dataclass
class Runtime:
    """The resources of one run."""

    plan: Plan
    clock: Clock = utcnow
    redactor: Redactor = field(default_factory=Redactor)
    users: Registry = field(default_factory=Registry)
    results: list[CheckResult] = field(default_factory=list)
    run_id: str = ""
    started_at: datetime | None = None
    sandbox: Any = None
    http_client: httpx.Client | None = None
    http: Http | None = None
    api: Supabase | None = None
    inbox: Inbox | None = None
    journey: Journey | None = None
    #: Every request of the run (for the benchmark's critical path) and the sandbox's start time.
    traffic: Recorder = field(default_factory=Recorder)
    sandbox_start_s: float = 0.0
    launcher: SandboxLauncher | None = None
    #: Whether the run has browser checks to serve (Chromium starts with the run, if not given).
    want_browser: bool = True
    browser: BrowserThread | None = None

    @property
    def settings(self) -> Settings:
        """The run's settings."""
        return self.plan.settings

    def open(self) -> None:
        """Resolve the target and build clients, inbox and journey."""
        self.started_at = self.clock()
        self.run_id = new_run_id(self.started_at)
        config, target = self.settings.config, self.settings.target
        inbox_config = self.plan.inbox
        if self.browser is None and self.want_browser:
            self.browser = browser_for(self.plan)  # up while the sandbox starts and we sign up
        if target.sandbox:
            launcher = self.launcher or SandboxLauncher(self.plan).begin()
            self.launcher = launcher
            info = launcher.wait()
            self.sandbox = launcher.sandbox
            self.sandbox_start_s = launcher.elapsed_s
            url, anon, service = info.api_url, info.anon_key, info.service_role_key
            if "url" not in self.settings.inbox:
                inbox_config = inbox_config.model_copy(update={"url": info.inbox_url})
        else:
            url = target.url
            anon = target.anon_key.get_secret_value() if target.anon_key else ""
            service = (
                target.service_role_key.get_secret_value() if target.service_role_key else None
            )
        self.http_client = httpx.Client(timeout=config.request_timeout_s)
        self.http = Http(self.http_client, retries=config.retries, recorders=[self.traffic])
        self.api = Supabase(self.http, url, anon, service, self.redactor)
        self.inbox = build_inbox(inbox_config, http=self.http_client)
        self.journey = Journey(
            api=self.api,
            inbox=self.inbox,
            settings=self.settings,
            users=self.users,
            run_id=self.run_id,
            browser=self.browser,
        )

    def app_site(self) -> str:
        """Where the redirect's host serves its association files: the sandbox's site stands in
        for the app's domain in a sandbox run; otherwise the redirect's own origin."""
        if self.sandbox is not None:
            return str(self.sandbox.info.site_url)
        parts = urlsplit(self.settings.config.deeplink.redirect)
        return f"{parts.scheme}://{parts.netloc}"

    def delete_users(self) -> tuple[int, list[str]]:
        """Delete every user this run created; returns (deleted, problems)."""
        deleted, problems = 0, []
        if self.api is None or not self.api.has_admin:
            return 0, [u.email for u in self.users.created()]
        self._find_unanswered_users()
        for user in self.users.created():
            assert user.id is not None
            try:
                call = self.api.admin_delete_user(user.id)
            except TransportFailure as exc:
                problems.append(f"{user.email}: {exc}")
                continue
            if call.status in (200, 204, 404):
                deleted += call.status != 404
                self.users.forget(user)
            else:
                problems.append(f"{user.email}: delete answered {call.status}")
        return deleted, problems

    def _find_unanswered_users(self) -> None:
        """Ids of users whose sign-up was sent but never answered, from the newest users.

        An interrupt or a timeout can land after the target created the user and before the run
        read the answer; such a user is among the newest, so the first page finds it.
        """
        pending = self.users.unconfirmed_ids()
        if not pending or self.api is None:
            return
        try:
            call = self.api.admin_newest_users()
            listed = call.json_object().get("users", []) if call.status == 200 else []
        except (TransportFailure, BadResponse):
            return
        ids = {
            str(u.get("email", "")).lower(): str(u.get("id"))
            for u in listed
            if isinstance(u, dict) and u.get("id")
        }
        for user in pending:
            user.id = ids.get(user.email.lower())

    def run_result(self) -> RunResult:
        """The run's results so far."""
        return RunResult(
            run_id=self.run_id,
            target=self.settings.target_name,
            started_at=self.started_at or self.clock(),
            finished_at=self.clock(),
            checks=list(self.results),
        )

    def close(self) -> None:
        """Best-effort cleanup of users, then stop the sandbox and close clients."""
        try:
            if self.api is not None and self.users.users:
                self.delete_users()
        finally:
            if self.browser is not None:
                self.browser.close()
            if self.inbox is not None:
                self.inbox.close()
            if self.http_client is not None:
                self.http_client.close()
            if self.launcher is not None:
                self.launcher.stop()
                self.sandbox = None
