"""A real browser for the deep-link checks: finding Chromium, starting it locked down, and clicking
the confirmation email's link as a person would.

    find_chromium       deeplink.browser_path, else Playwright's Chromium, else one on PATH
    launch_args         headless flags that work as root and offline; only allowed hosts resolve
    Chromium            Playwright's sync API driving one headless Chromium with a fresh profile
    BrowserThread       a Chromium on a thread of its own, started while the run signs up
    Click               what one click did: the redirects, the hand-off, where the browser ended
    BrowserUnavailable  there is no usable browser: with browser = "auto" the checks are skipped
    BrowserError        the browser failed (under SyntheticsError); Playwright's errors become it

How the hand-off is seen. Chromium cannot open `mamapace://`: the navigation a 303 to it starts is
aborted. Playwright still reports the 303 itself (a `response`, whose Location keeps the fragment)
and then the navigation request to the new URL (a `request`, fragment dropped). The hand-off is the
first navigation request that leaves the web (an app scheme) or reaches the configured https
redirect (a universal link, where the phone's OS would take over), read with the Location that led
to it. Routing (`page.route`) is not used: it only sees the first URL of a redirect chain, and
with interception on Chromium drops a redirect to a custom scheme without reporting the 303.

Offline by construction: `--host-resolver-rules` resolves nothing but loopback and the hosts the
run allows (the target's), so a redirect to any other host fails in Chromium's resolver before a
packet leaves the machine, IP literals included; proxies are off so nothing bypasses the rules.
The email itself runs no script, as in a mail client (a Content-Security-Policy in its head); the
pages the link leads to run as in any browser.
"""

from __future__ import annotations

import contextlib
import functools
import html
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit

import psutil

from synthetics.cache import owned_folder, user_cache
from synthetics.deeplink.redirect import parse_landing, same_target
from synthetics.errors import SyntheticsError
from synthetics.reaper import temp_prefix

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Request, Response

Mode = Literal["auto", "required", "off"]

#: Executables of a system Chromium, looked up on PATH in this order. The headless shell comes
#: first: it is the Chromium build made for automation (what Playwright itself runs headless), and
#: on a 2-core machine it starts in ~0.55 s on ~0.65 s of CPU against the full browser's ~0.85 s
#: and ~1.1 s (bench/run.py; the checks run beside it and share those cores).
SYSTEM_NAMES = (
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
INSTALL_HINT = (
    "install one with `apt-get install chromium-headless-shell` (or `chromium`, or "
    "`playwright install chromium`), "
    'name it with deeplink.browser_path, or set deeplink.browser = "off"'
)
#: Headless flags that work as root, in containers and offline (no background traffic).
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-proxy-server",
)
#: Node's cache of compiled JavaScript (Node 22.1 and later), set for Playwright's driver: it
#: compiles its ~10 MB bundle once per version and reads the result on later starts, ~60 ms of
#: CPU saved on each (bench/run.py; a run's start has both cores busy, so CPU is wall time).
COMPILE_CACHE = "NODE_COMPILE_CACHE"
#: What turns Node's compile cache off; set, the driver compiles as Node does by default.
NO_COMPILE_CACHE = "NODE_DISABLE_COMPILE_CACHE"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
#: What an anchor to the confirmation URL looks like (the inbox finds links the same way).
LINK_SELECTOR = 'a[href*="/verify?"]'
#: Text that carries a credential is masked in screenshots.
_CREDENTIAL_TEXT = re.compile(r"(access_token|refresh_token|token|code)=", re.IGNORECASE)
_WEB = ("http", "https")
_NO_SCRIPTS = (
    "<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'; object-src 'none'\">"
)
_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)
_NOT_A_HANDOFF = ("about", "data", "blob", "javascript", "chrome-error", "chrome")


def use_compile_cache(
    environ: MutableMapping[str, str], folder: Path | Callable[[], Path | None] | None
) -> str | None:
    """Point the driver's Node at `folder` for its compiled code (in `environ`, which the driver
    inherits), unless the environment already says where, or says not to, or there is no
    usable folder. `folder` may be a function that makes it: it is called only when needed.
    Returns the folder Node will use, if any."""
    if COMPILE_CACHE in environ:
        return environ[COMPILE_CACHE] or None
    if environ.get(NO_COMPILE_CACHE):
        return None
    if callable(folder):
        folder = folder()
    if folder is None:
        return None
    environ[COMPILE_CACHE] = str(folder)
    return str(folder)


class BrowserUnavailable(Exception):
    """No usable browser; the reason says what was looked for and how to install one."""


class BrowserError(SyntheticsError):
    """The browser failed to start or to click (Playwright's errors are translated into this)."""


@dataclass(frozen=True)
class Found:
    """A Chromium executable and how it was found."""

    path: str
    source: Literal["deeplink.browser_path", "playwright", "PATH"]

    def describe(self) -> str:
        """`/usr/bin/chromium (PATH)`."""
        return f"{self.path} ({self.source})"


def _executable(path: str) -> bool:
    candidate = Path(path)
    return candidate.is_file() and bool(candidate.stat().st_mode & 0o111)


def find_chromium(
    explicit: str = "",
    *,
    playwright_path: Callable[[], str | None],
    which: Callable[[str], str | None] = shutil.which,
) -> Found | None:
    """The Chromium to use: the explicit path (and nothing else when one is given), else
    Playwright's own build when it is installed, else a system Chromium on PATH."""
    if explicit:
        return Found(explicit, "deeplink.browser_path") if _executable(explicit) else None
    bundled = playwright_path()
    if bundled and _executable(bundled):
        return Found(bundled, "playwright")
    for name in SYSTEM_NAMES:
        found = which(name)
        if found:
            return Found(found, "PATH")
    return None


def missing_reason(explicit: str = "") -> str:
    """Why no browser was found, and how to get one."""
    if explicit:
        return f"deeplink.browser_path {explicit!r} is not an executable file; {INSTALL_HINT}"
    names = ", ".join(SYSTEM_NAMES)
    return f"no Chromium found (Playwright's own, or {names} on PATH); {INSTALL_HINT}"


@functools.cache
def playwright_chromium() -> str | None:
    """Where Playwright installs its Chromium (whether or not it is there); None without it."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as playwright:
            return playwright.chromium.executable_path
    except Error:
        return None


def launch_args(allow_hosts: Iterable[str] = ()) -> list[str]:
    """Chromium's flags: FLAGS, plus resolver rules that let only loopback and `allow_hosts`
    resolve (every other host, IP literals included, fails before any packet is sent)."""
    hosts = dict.fromkeys([*LOOPBACK, *(h.lower() for h in allow_hosts if h)])
    rules = ", ".join(["MAP * ~NOTFOUND", *(f"EXCLUDE {h}" for h in hosts)])
    return [*FLAGS, f"--host-resolver-rules={rules}"]


# -- one click --------------------------------------------------------------------------------

Ending = Literal["handoff", "page", "failed", "timeout", "no-link", "unclickable"]


@dataclass(frozen=True)
class Hop:
    """One answered navigation request: its URL, status and Location."""

    url: str
    status: int
    location: str | None


@dataclass
class Click:
    """What clicking the confirmation link did.

    `ending`: handoff (the browser handed a URL to the app), page (a web page loaded instead),
    failed (the navigation failed: `error`), timeout, no-link (the email has no /verify? anchor),
    unclickable (it has one, but a person could not click it: `error`).
    """

    ending: Ending
    hops: list[Hop] = field(default_factory=list)
    handoff: str | None = None  # the URL handed to the app, fragment included
    final_url: str | None = None  # where the browser ended up
    error: str | None = None
    elapsed_ms: float = 0.0  # click → hand-off, or → the end of the navigation

    @property
    def answered(self) -> bool:
        """Whether the link itself was answered (so a single-use link is now spent)."""
        return bool(self.hops)

    @property
    def landing(self) -> str | None:
        """The URL the user landed on: the hand-off, else where the browser ended."""
        return self.handoff or self.final_url

    def describe(self) -> str:
        """The click in words, without secret values."""
        where = parse_landing(self.landing).describe() if self.landing else "nowhere"
        return {
            "handoff": f"the browser handed {where} to the app",
            "page": f"the browser stayed on the web page {where}",
            "failed": f"the browser's navigation to {where} failed ({self.error})",
            "timeout": "the click started no navigation that ended in time",
            "no-link": "the email's HTML has no link to a /verify? URL",
            "unclickable": f"a person could not click the email's link ({self.error})",
        }[self.ending]


def is_handoff(url: str, redirect: str) -> bool:
    """Whether a navigation to `url` leaves the browser for the app: any app scheme, or the
    configured https redirect (a universal link)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _WEB:
        return scheme not in _NOT_A_HANDOFF
    return same_target(parse_landing(url), redirect)


class _Watch:
    """Follows the main frame's navigation chain through Playwright's network events."""

    def __init__(self, redirect: str) -> None:
        self.redirect = redirect
        self.hops: list[Hop] = []
        self.ending: Ending | None = None
        self.url: str | None = None
        self.handoff: str | None = None
        self.error: str | None = None
        self.ended_at = 0.0
        self.page: Page | None = None

    def _navigation(self, request: Request) -> bool:
        if self.ending is not None or not request.is_navigation_request():
            return False
        try:
            frame = request.frame
        except Exception:  # a popup's first request may come before its frame exists
            return True
        if frame.parent_frame is not None:
            return False
        self.page = frame.page
        return True

    def _end(self, ending: Ending, url: str, error: str | None = None) -> None:
        self.ending, self.url, self.error = ending, url, error
        self.ended_at = time.perf_counter()

    def on_request(self, request: Request) -> None:
        if self._navigation(request) and is_handoff(request.url, self.redirect):
            self.handoff = self._with_fragment(request.url)
            self._end("handoff", self.handoff)

    def on_response(self, response: Response) -> None:
        request = response.request
        if not self._navigation(request):
            return
        location = response.headers.get("location")
        if location:
            location = urljoin(request.url, location)
        arrived = self._with_fragment(request.url)
        self.hops.append(Hop(request.url, response.status, location))
        if not (300 <= response.status < 400 and location):
            self._end("page", arrived)

    def on_failed(self, request: Request) -> None:
        if self._navigation(request):
            self._end("failed", self._with_fragment(request.url), request.failure)

    def _with_fragment(self, url: str) -> str:
        """The Location that led to `url` (the chain is sequential): the request itself has lost
        the fragment, and Chromium normalises its URL (`https://host?x` → `https://host/?x`)."""
        if self.hops and self.hops[-1].location:
            return self.hops[-1].location
        return url


class Chromium:
    """One headless Chromium with a fresh profile, driven through Playwright's sync API.

    Every method must be called from the thread that called `start` (BrowserThread sees to it).
    """

    def __init__(
        self, *, mode: Mode, explicit_path: str = "", allow_hosts: Iterable[str] = ()
    ) -> None:
        self.mode = mode
        self.explicit_path = explicit_path
        self.allow_hosts = tuple(allow_hosts)
        self.found: Found | None = None
        self.version = ""
        self._playwright: Any = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._context: BrowserContext | None = None
        self._spare: Page | None = None  # the next click's tab, opened ahead of time
        self._last: Page | None = None  # where the last click ended

    def start(self, timeout_s: float = 30.0) -> str:
        """Find and launch Chromium; returns what runs. BrowserUnavailable when there is none."""
        try:
            from playwright.sync_api import Error, sync_playwright
        except ImportError:
            raise BrowserUnavailable(
                f"the playwright package is not installed; {INSTALL_HINT}"
            ) from None
        use_compile_cache(os.environ, lambda: owned_folder(user_cache() / "node-compile-cache"))
        try:
            self._playwright = sync_playwright().start()
            self.found = find_chromium(
                self.explicit_path,
                playwright_path=lambda: self._playwright.chromium.executable_path,
            )
            if self.found is None:
                raise BrowserUnavailable(missing_reason(self.explicit_path))
            self._profile = tempfile.TemporaryDirectory(
                prefix=temp_prefix("chromium"), ignore_cleanup_errors=True
            )
            self._context = self._playwright.chromium.launch_persistent_context(
                self._profile.name,
                executable_path=self.found.path,
                headless=True,
                args=launch_args(self.allow_hosts),
                viewport={"width": 800, "height": 900},
                timeout=timeout_s * 1000,
            )
        except Error as exc:
            where = self.found.describe() if self.found else "Playwright"
            self.close()
            message = f"Chromium at {where} did not start: {_first_line(exc)}"
            if self.mode == "auto":
                raise BrowserUnavailable(message) from None
            raise BrowserError(message) from None
        except BaseException:
            self.close()
            raise
        try:
            pages = self._context.pages
            self._spare = pages[0] if pages else self._context.new_page()
            cdp = self._context.new_cdp_session(self._spare)
            self.version = str(cdp.send("Browser.getVersion").get("product", ""))
            cdp.detach()
        except Error as exc:
            self.close()
            raise BrowserError(
                f"Chromium started but cannot be driven: {_first_line(exc)}"
            ) from None
        return f"{self.version or 'Chromium'} at {self.found.describe()}"

    def click(self, html: str, *, redirect: str, timeout_s: float) -> Click:
        """Show `html` (the email), click its confirmation link, and follow what the browser does
        until it hands a URL to the app, lands on a page, fails, or `timeout_s` passes."""
        from playwright.sync_api import Error

        assert self._context is not None
        context = self._context
        deadline = time.perf_counter() + timeout_s
        try:
            # A new tab for every click: what the last one may still load (a universal link's
            # page on a loopback host) cannot race with the new content. Old tabs are left to
            # finish (closing one mid-navigation can hang) and go with the browser.
            page = self._spare or context.new_page()
            self._spare, self._last = None, page
            page.set_content(
                mail_view(html), wait_until="domcontentloaded", timeout=timeout_s * 1000
            )
            link = page.locator(LINK_SELECTOR).first
        except Error as exc:
            raise BrowserError(f"Chromium could not show the email: {_first_line(exc)}") from None
        watch = _Watch(redirect)
        handlers: list[tuple[str, Callable[[Any], None]]] = [
            ("request", watch.on_request),
            ("response", watch.on_response),
            ("requestfailed", watch.on_failed),
        ]
        for event, handler in handlers:
            context.on(event, handler)  # type: ignore[call-overload]
        try:
            clicked_at = time.perf_counter()
            try:
                # A person's click: Playwright waits until the link is visible, enabled, steady
                # and not covered, then clicks its centre.
                link.click(timeout=min(2.0, timeout_s) * 1000, no_wait_after=True)
            except Error as exc:
                if link.count() == 0:
                    return Click("no-link")
                return Click("unclickable", error=_first_line(exc))
            ended = _pump(page, lambda: watch.ending is not None, deadline)
        except Error as exc:
            raise BrowserError(f"Chromium failed while clicking: {_first_line(exc)}") from None
        finally:
            for event, handler in handlers:
                context.remove_listener(event, handler)
        self._last = watch.page or page
        if not ended or watch.ending is None:
            last = watch.hops[-1] if watch.hops else None
            return Click(
                "timeout",
                watch.hops,
                final_url=(last.location or last.url) if last else None,
                elapsed_ms=(time.perf_counter() - clicked_at) * 1000,
            )
        return Click(
            watch.ending,
            watch.hops,
            handoff=watch.handoff,
            final_url=watch.url,
            error=watch.error,
            elapsed_ms=(watch.ended_at - clicked_at) * 1000,
        )

    def prepare(self) -> None:
        """Open the next click's tab now, while the run does something else."""
        from playwright.sync_api import Error

        if self._context is not None and self._spare is None:
            with contextlib.suppress(Error):
                self._spare = self._context.new_page()

    def screenshot(self) -> bytes | None:
        """A PNG of the page the last click ended on; text carrying a credential is masked."""
        from playwright.sync_api import Error

        page = self._last
        if page is None or page.is_closed():
            return None
        # An error page commits after the failure event; a page still loading is taken as it is.
        with contextlib.suppress(Error):
            page.wait_for_load_state("load", timeout=2000)
        try:
            return page.screenshot(
                type="png",
                mask=[page.get_by_text(_CREDENTIAL_TEXT)],
                animations="disabled",
                timeout=5000,
            )
        except Error:
            return None

    def close(self) -> None:
        """Close Chromium and Playwright and remove the profile (idempotent)."""
        try:
            if self._context is not None:
                self._context.close()
        except Exception:  # noqa: S110 - closing a browser that already died is not an error
            pass
        finally:
            self._context = self._spare = self._last = None
            if self._playwright is not None:
                try:
                    self._playwright.stop()
                finally:
                    self._playwright = None
            if self._profile is not None:
                remove_profile(self._profile.name)
                self._profile = None


def text_view(text: str, link: str | None) -> str:
    """A text-only email as a mail client shows it: preformatted, its link made clickable."""
    shown = html.escape(text)
    if link:
        anchor = f'<a href="{html.escape(link, quote=True)}">{html.escape(link)}</a>'
        shown = shown.replace(html.escape(link), anchor)
    return f"<pre>{shown}</pre>"


def mail_view(document: str) -> str:
    """The email as a mail client shows it: its scripts and plugins never run."""
    head = _HEAD.search(document)
    if head is None:
        return _NO_SCRIPTS + document
    return document[: head.end()] + _NO_SCRIPTS + document[head.end() :]


def _pump(page: Page, done: Callable[[], bool], deadline: float) -> bool:
    """Let Playwright deliver events until `done()` or the deadline; whether it is done.

    The sync API dispatches events only while it is waiting, and a navigation ends in one of
    several events (request, response, requestfailed), so no single `wait_for_event` fits:
    waiting in short, growing slices against the deadline lets the handlers time each event as
    it arrives.
    """
    step_ms = 2.0
    while not done():
        left_ms = (deadline - time.perf_counter()) * 1000
        if left_ms <= 0:
            return False
        page.wait_for_timeout(min(step_ms, left_ms))
        step_ms = min(step_ms * 2, 50.0)
    return True


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- a browser on its own thread ------------------------------------------------------------


class _Worker:
    """One daemon thread that runs submitted calls in order (Playwright's sync API belongs to
    the thread that started it). A daemon, unlike an executor's worker, is never joined at exit:
    a browser stuck on a dead driver cannot keep the process alive."""

    def __init__(self, name: str) -> None:
        self._calls: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._calls.put((call, future))
        return future

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

    def stop(self) -> None:
        self._calls.put(None)

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread to end; False when it is still running (stuck on a dead driver)."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


class BrowserThread:
    """A Chromium started in the background and driven from one worker thread.

    Playwright's sync API belongs to the thread that started it, so every call goes through a
    single worker thread; starting it at the beginning of a run lets Chromium come up while the
    run signs up and waits for email. `ready()` waits for the start and raises what it raised.
    `close()` never waits long: a browser that does not close in time (its driver killed by a
    signal to the process group) is killed.
    """

    #: How long closing may take before the driver and browser are killed.
    CLOSE_S = 5.0
    #: After closing (or killing) the browser, how long its thread may take to end.
    JOIN_S = 2.0
    #: Whether the worker thread outlived `close()`: a Playwright call stuck on a driver that a
    #: signal to the process group killed. Such a thread must not meet the interpreter's
    #: finalization (greenlet crashes there), so `synthetics run` then leaves with `os._exit`.
    stuck = False

    def __init__(
        self,
        *,
        mode: Mode,
        explicit_path: str = "",
        allow_hosts: Iterable[str] = (),
        once: bool = False,
    ) -> None:
        self.chromium = Chromium(mode=mode, explicit_path=explicit_path, allow_hosts=allow_hosts)
        #: One run's browser (`synthetics run`): it closes as soon as the run's checks are over,
        #: while the outputs are written (`watch` keeps its browser warm).
        self.once = once
        self._worker = _Worker("synthetics-browser")
        self._started: Future[str] = self._worker.submit(self.chromium.start)
        self._closing: Future[None] | None = None
        self._closed = False

    def _call(self, future: Future[Any], timeout_s: float) -> Any:
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            raise BrowserError(f"Chromium did not answer within {timeout_s:g} s") from None

    def ready(self, timeout_s: float = 60.0) -> str:
        """What runs, once started (BrowserUnavailable or BrowserError otherwise)."""
        result: str = self._call(self._started, timeout_s)
        return result

    def click(self, html: str, *, redirect: str, timeout_s: float) -> Click:
        """Chromium.click on the browser's thread."""
        self.ready()
        future = self._worker.submit(
            functools.partial(self.chromium.click, html, redirect=redirect, timeout_s=timeout_s)
        )
        click: Click = self._call(future, timeout_s + 30)
        self._worker.submit(self.chromium.prepare)  # in the background, for the next click
        return click

    def screenshot(self) -> bytes | None:
        """Chromium.screenshot on the browser's thread."""
        shot: bytes | None = self._call(self._worker.submit(self.chromium.screenshot), 30)
        return shot

    def close_soon(self) -> None:
        """Begin closing a one-run browser on its thread (`close()` waits for it)."""
        if self.once:
            self._begin_close()

    def _begin_close(self) -> Future[None]:
        if self._closing is None:
            self._closing = self._worker.submit(self.chromium.close)
            self._worker.stop()
        return self._closing

    def close(self) -> None:
        """Stop Chromium and the thread (idempotent, bounded)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._begin_close().result(timeout=self.CLOSE_S)
        except Exception:  # the run is ending either way: kill what did not close
            kill_browser_processes()
        self.stuck = not self._worker.join(self.JOIN_S)
        profile = self.chromium._profile
        if self.stuck and profile is not None:  # its thread will never get to remove it
            remove_profile(profile.name)


def remove_profile(path: str) -> None:
    """Remove a browser profile folder. A Chromium process still dying (a signal to the process
    group) can write into it while it goes, leaving it behind: then the browser's processes are
    killed and awaited, and it is removed again."""
    shutil.rmtree(path, ignore_errors=True)
    if Path(path).exists():
        killed = []
        for pid in kill_browser_processes():
            with contextlib.suppress(psutil.Error):
                killed.append(psutil.Process(pid))
        psutil.wait_procs(killed, timeout=2)
        shutil.rmtree(path, ignore_errors=True)


def kill_browser_processes() -> list[int]:
    """Kill this process's own Playwright driver and Chromium processes (its descendants)."""
    killed: list[int] = []
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return killed
    for child in children:
        try:
            name = child.name().lower()
            if name.startswith(("node", "chrome", "chromium", "headless_shell")):
                child.kill()
                killed.append(child.pid)
        except psutil.Error:
            continue
    return killed
