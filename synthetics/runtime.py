"""Everything one run holds: settings, target connection, inbox, journey, users, results.

`Runtime.open()` resolves the target (starting the sandbox when that is the target), builds the
clients and the journey; `close()` deletes whatever users are still left and stops what it started,
also after a failure or an interrupt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from synthetics import __version__
from synthetics.catalog import order_key
from synthetics.clients.http import Http, Recorder
from synthetics.clients.official import Official
from synthetics.clients.supabase import Supabase
from synthetics.clients.transport import Transport
from synthetics.config import Settings, secret_values
from synthetics.control import RunControl
from synthetics.deeplink.browser import (
    BrowserThread,
)
from synthetics.errors import SyntheticsError
from synthetics.inbox import build_inbox
from synthetics.inbox.base import Inbox
from synthetics.journey import Journey, Waiting, unwatched
from synthetics.redact import Redactor
from synthetics.results import CheckResult, RunResult
from synthetics.severity import evaluate
from synthetics.targets import Launcher, Plan, SandboxLauncher, browser_for
from synthetics.users import (
    CleanupReport,
    OwnedRows,
    Registry,
    clean_up,
    new_run_id,
)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The resources of one run, created before it starts (the run id is known at once) and
    opened by the checks' session fixture."""

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
    official: Official | None = None
    inbox: Inbox | None = None
    journey: Journey | None = None
    #: Every request of the run (for the benchmark's critical path) and the sandbox's start time.
    traffic: Recorder = field(default_factory=Recorder)
    sandbox_start_s: float = 0.0
    launcher: Launcher | None = None
    #: Whether the run has browser checks to serve (Chromium starts with the run, if not given).
    want_browser: bool = True
    browser: BrowserThread | None = None
    #: Why the run stopped early (`interrupted`, `deadline`) and what to tell about it.
    stop_reason: str | None = None
    stop_message: str | None = None
    cleanup_report: CleanupReport | None = None
    #: `synthetics run`'s handle (signals, the run deadline), when the run has one.
    control: RunControl | None = None
    #: Who shows a long wait's progress (the terminal, when it draws one).
    waiting: Waiting = unwatched
    _recorders: list[Recorder] = field(default_factory=list)
    _inbox_client: httpx.Client | None = None
    #: What this runtime started itself (and so stops): a browser or sandbox handed in by
    #: `synthetics run` or `synthetics watch` belongs to them (watch keeps both warm).
    _owned: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = new_run_id(self.clock())
        self._recorders.append(self.traffic)

    @property
    def settings(self) -> Settings:
        """The run's settings."""
        return self.plan.settings

    def check_timeout(self) -> float:
        """A check's own deadline: the email wait plus four requests that use every retry (any
        check may be the first to need the confirmed user), never past the run's deadline."""
        config = self.settings.config
        request = config.request_timeout_s * (config.retries + 1)
        return min(config.run_timeout, config.thresholds.email_timeout_s + 4 * request)

    def new_client(self, *, recorded: bool) -> httpx.Client:
        """An HTTP client on the run's transport: every request has a total deadline (cut short
        once the run is stopping) and a capped body; `recorded` ones count for the checks."""
        timeout = self.settings.config.request_timeout_s
        control = self.control
        transport = Transport(
            total_timeout=timeout,
            recorders=self._recorders if recorded else [],
            cutoff=(lambda: control.cutoff) if control is not None else (lambda: None),
        )
        return httpx.Client(timeout=timeout, transport=transport)

    @contextmanager
    def recording(self, recorder: Recorder) -> Iterator[Recorder]:
        """Count every HTTP attempt made while the block runs into `recorder`."""
        self._recorders.append(recorder)
        try:
            yield recorder
        finally:
            self._recorders.remove(recorder)

    def open(self) -> None:
        """Resolve the target and build clients, inbox and journey."""
        self.started_at = self.clock()
        config, target = self.settings.config, self.settings.target
        inbox_config = self.plan.inbox
        if self.browser is None and self.want_browser:
            self.browser = browser_for(self.plan)  # up while the sandbox starts and we sign up
            self._owned.append("browser")
        if target.sandbox:
            if self.launcher is None:
                self.launcher = SandboxLauncher(self.plan).begin()
                self._owned.append("launcher")
            launcher = self.launcher
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
        self.http_client = self.new_client(recorded=True)
        self.http = Http(self.http_client, retries=config.retries)
        self.api = Supabase(self.http, url, anon, service, self.redactor)
        self.redactor.add(self.db_url, *secret_values(config))
        for secret in secret_values(inbox_config):
            # As it is, and as HTTP Basic credentials carry it (`key:` / `user:password`).
            self.redactor.add(secret, f"{secret}:", f":{secret}")
        self.official = Official(
            url, anon, service, http_client=self.http_client, redactor=self.redactor
        )
        # Its own client: inbox polls are bounded like every request, but are not check traffic.
        self._inbox_client = self.new_client(recorded=False)
        self.inbox = build_inbox(inbox_config, http=self._inbox_client)
        self.journey = Journey(
            api=self.api,
            official=self.official,
            inbox=self.inbox,
            settings=self.settings,
            users=self.users,
            run_id=self.run_id,
            browser=self.browser,
            waiting=self.waiting,
        )

    def app_site(self) -> str:
        """Where the redirect's host serves its association files: the sandbox's site stands in
        for the app's domain in a sandbox run; otherwise the redirect's own origin."""
        if self.sandbox is not None:
            return str(self.sandbox.info.site_url)
        parts = urlsplit(self.settings.config.deeplink.redirect)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def db_url(self) -> str | None:
        """The target's database URL (a secret): the sandbox's own, or `db_url` if configured."""
        if self.sandbox is not None:
            return str(self.sandbox.info.db_url)
        secret = self.settings.target.db_url
        return secret.get_secret_value() if secret is not None else None

    def owned_rows(self) -> list[OwnedRows]:
        """The profile's rows a throwaway user owns where nothing cascades."""
        return [OwnedRows.parse(spec) for spec in self.settings.config.cleanup.owned_rows]

    def clean_up(self) -> CleanupReport:
        """Delete every user this run created and the rows they own; verify nothing is left."""
        if self.api is None or self.official is None or not self.api.has_admin:
            report = CleanupReport(left=[u.email for u in self.users.users])
            report.problems.append("no service-role key configured")
            self.cleanup_report = report
            return report
        self._find_unanswered_users()
        report = clean_up(
            self.users, admin=self.official, rows_api=self.api, owned=self.owned_rows()
        )
        if self.cleanup_report is not None:  # a second pass (after an interrupt) adds up
            report.users_deleted += self.cleanup_report.users_deleted
            for key, count in self.cleanup_report.rows_deleted.items():
                report.rows_deleted[key] = report.rows_deleted.get(key, 0) + count
        self.cleanup_report = report
        return report

    def cleanup_result(self) -> CheckResult:
        """The cleanup check's result from what the teardown did (the check itself did not run)."""
        report = self.cleanup_report or CleanupReport()
        passed, reason, message = report.verdict()
        graded = evaluate("cleanup", passed=passed, measurements={}, thresholds={}, reason=reason)
        return CheckResult(
            id="cleanup",
            group="cleanup",
            status=graded.status,
            message=self.redactor.redact(f"{message} (during the run's teardown)"),
            reason=graded.reason,
        )

    def _find_unanswered_users(self) -> None:
        """Ids of users whose sign-up was sent but never answered, from the newest users.

        An interrupt or a timeout can land after the target created the user and before the run
        read the answer; such a user is among the newest, so the first page finds it. A user the
        target does not list was never created and is forgotten.
        """
        pending = self.users.unconfirmed_ids()
        if not pending or self.official is None:
            return
        try:
            listed = self.official.users_page(1, 50)
        except SyntheticsError:
            return  # unknown: they stay in the registry and are reported as possibly left
        ids = {str(u.get("email", "")).lower(): str(u["id"]) for u in listed if u.get("id")}
        for user in pending:
            user.id = ids.get(user.email.lower())
            if user.id is None:
                self.users.forget(user)

    def run_result(self, *, interrupted: bool = False) -> RunResult:
        """The run's results so far."""
        return RunResult(
            run_id=self.run_id,
            target=self.settings.target_name,
            started_at=self.started_at or self.clock(),
            finished_at=self.clock(),
            checks=sorted(self.results, key=lambda r: _result_order(r, self.rpc_order())),
            interrupted=interrupted,
            trigger=self.plan.trigger,
            version=__version__,
            location=self.settings.config.location,
            faults=[str(f) for f in self.plan.faults],
            thresholds=self.settings.config.thresholds.model_dump(),
        )

    def rpc_order(self) -> dict[str, int]:
        """Each configured v2 RPC's place in the run."""
        return {f"rpc.{name}": n for n, name in enumerate(self.settings.config.rpc.functions)}

    def created_nothing(self) -> None:
        """A run stopped before it made anything (or before it opened): nothing to clean up."""
        if self.cleanup_report is None and not self.users.users:
            self.cleanup_report = CleanupReport(verified=True)

    def close(self) -> None:
        """Delete whatever users are still left, then stop the sandbox and close clients."""
        try:
            if self.api is not None and (self.users.users or self.cleanup_report is None):
                self.clean_up()
            else:
                self.created_nothing()
        finally:
            if self.browser is not None and "browser" in self._owned:
                self.browser.close()
            elif self.browser is not None:
                self.browser.close_soon()  # `synthetics run`'s: closes as the outputs are written
            if self.inbox is not None:
                self.inbox.close()
            for client in (self._inbox_client, self.http_client):
                if client is not None:
                    client.close()
            if self.launcher is not None and "launcher" in self._owned:
                self.launcher.stop()
            elif self.launcher is not None:
                self.launcher.stop_soon()  # `synthetics run`'s: down while the outputs are written
            self.sandbox = None


def _result_order(result: CheckResult, rpc_order: Mapping[str, int]) -> tuple[int, int]:
    try:
        return order_key(result.id, rpc_order.get(result.id, 0))
    except KeyError:
        return (10_000, 0)
