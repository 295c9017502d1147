"""Finding Chromium, its locked-down flags, and clicks in a real Chromium against a local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from synthetics.deeplink.browser import (
    COMPILE_CACHE,
    FLAGS,
    NO_COMPILE_CACHE,
    BrowserThread,
    BrowserUnavailable,
    Found,
    find_chromium,
    is_handoff,
    launch_args,
    mail_view,
    missing_reason,
    text_view,
    use_compile_cache,
)
from tests.chromium import needs_chromium

# -- discovery ---------------------------------------------------------------------------------


def executable(path: Path) -> str:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def nowhere(name: str) -> str | None:
    return None


def test_an_explicit_path_wins(tmp_path: Path) -> None:
    chrome = executable(tmp_path / "chrome")
    found = find_chromium(chrome, playwright_path=lambda: chrome, which=lambda n: "/usr/bin/x")
    assert found == Found(chrome, "deeplink.browser_path")


@pytest.mark.parametrize("kind", ["missing", "not executable", "a directory"])
def test_an_unusable_explicit_path_finds_nothing_else(tmp_path: Path, kind: str) -> None:
    system = executable(tmp_path / "chromium")
    explicit = tmp_path / "chrome"
    if kind == "not executable":
        explicit.write_text("")
    elif kind == "a directory":
        explicit.mkdir()
    found = find_chromium(str(explicit), playwright_path=lambda: system, which=lambda n: system)
    assert found is None  # naming a browser means that one, not whatever else is installed


def test_playwrights_chromium_comes_before_the_system_one(tmp_path: Path) -> None:
    bundled = executable(tmp_path / "chrome")
    found = find_chromium(playwright_path=lambda: bundled, which=lambda n: "/usr/bin/chromium")
    assert found == Found(bundled, "playwright")


def test_a_playwright_path_that_is_not_installed_falls_back_to_path(tmp_path: Path) -> None:
    looked: list[str] = []

    def which(name: str) -> str | None:
        looked.append(name)
        return "/opt/google/chrome" if name == "google-chrome" else None

    found = find_chromium(playwright_path=lambda: str(tmp_path / "absent"), which=which)
    assert found == Found("/opt/google/chrome", "PATH")
    assert looked == ["chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"]


def test_the_headless_shell_comes_before_the_full_browser_on_path(tmp_path: Path) -> None:
    for name in ("chromium", "chromium-headless-shell"):
        executable(tmp_path / name)
    found = find_chromium(playwright_path=lambda: None, which=lambda n: str(tmp_path / n))
    assert found == Found(str(tmp_path / "chromium-headless-shell"), "PATH")


def test_an_empty_path_finds_no_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no chromium anywhere
    assert find_chromium(playwright_path=lambda: None) is None
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    assert find_chromium(playwright_path=lambda: None) == Found(str(tmp_path / "chromium"), "PATH")


def test_the_reason_says_how_to_install_one() -> None:
    assert "apt-get install chromium-headless-shell" in missing_reason()
    assert "playwright install chromium" in missing_reason()
    assert "'/opt/chrome' is not an executable file" in missing_reason("/opt/chrome")


def test_a_browser_thread_without_a_browser_is_unavailable(tmp_path: Path) -> None:
    browser = BrowserThread(mode="auto", explicit_path=str(tmp_path / "no-chrome"))
    try:
        with pytest.raises(BrowserUnavailable, match="apt-get install chromium"):
            browser.ready()
    finally:
        browser.close()


# -- flags and hand-offs -----------------------------------------------------------------------


def test_flags_work_as_root_and_offline() -> None:
    args = launch_args(["Project.Supabase.co"])
    for flag in ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        assert flag in args
    assert "--disable-background-networking" in args and "--no-proxy-server" in args
    rules = next(a for a in args if a.startswith("--host-resolver-rules="))
    assert rules == (
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost, "
        "EXCLUDE [::1], EXCLUDE project.supabase.co"
    )
    assert launch_args() == [*FLAGS, launch_args()[-1]]


@pytest.mark.parametrize(
    ("url", "redirect", "handoff"),
    [
        ("mamapace://auth-callback?code=1", "mamapace://auth-callback", True),
        ("otherapp://x", "mamapace://auth-callback", True),  # any app scheme leaves the browser
        ("https://app.example.org/cb?code=1", "https://app.example.org/cb", True),
        ("https://app.example.org/", "https://app.example.org/cb", False),
        ("https://app.mamapace.com/?code=1", "mamapace://auth-callback", False),
        ("about:blank", "mamapace://auth-callback", False),
        ("chrome-error://chromewebdata/", "mamapace://auth-callback", False),
    ],
)
def test_what_counts_as_a_handoff(url: str, redirect: str, handoff: bool) -> None:
    assert is_handoff(url, redirect) is handoff


@pytest.mark.parametrize(
    "html",
    ["<p>hi</p>", "<html><head><title>t</title></head><body>x</body></html>", "<HEAD lang=en>x"],
)
def test_the_email_runs_no_script(html: str) -> None:
    shown = mail_view(html)
    assert "script-src 'none'" in shown
    head = html.lower().find("<head")
    if head >= 0:
        assert shown.lower().index("<meta") > head


# -- clicks in a real Chromium -----------------------------------------------------------------


class Auth(BaseHTTPRequestHandler):
    """A stand-in for Auth's /verify: `?to=URL` answers 303 to URL, `?status=N` answers N."""

    seen: list[str] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if self.path.startswith("/verify") and "to" in query:
            self.send_response(303)
            self.send_header("Location", query["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = int(query.get("status", "200"))
        body = json.dumps({"code": status, "msg": "nope"}).encode()
        if not self.path.startswith("/verify"):
            body = b"<h1>a web page</h1>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if status == 200 else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def auth() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Auth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    running = BrowserThread(mode="required")
    try:
        running.ready()
        yield running
    finally:
        running.close()


def email(auth: str, to: str, attrs: str = "") -> str:
    link = f"{auth}/verify?token=pkce_abc&type=signup&to={quote(to, safe='')}"
    return f'<h2>Confirm</h2><p><a {attrs} href="{link}">Confirm email address</a></p>'


REDIRECT = "mamapace://auth-callback"


@needs_chromium
@pytest.mark.parametrize(
    "to",
    [
        "mamapace://auth-callback?code=7d4e",
        "mamapace://auth-callback#access_token=a&refresh_token=b&type=signup",
        "mamapace://auth-callback?error=access_denied&error_code=otp_expired#error_code=otp_expired",
    ],
    ids=["pkce", "implicit", "error"],
)
def test_a_custom_scheme_handoff_keeps_query_and_fragment(
    browser: BrowserThread, auth: str, to: str
) -> None:
    click = browser.click(email(auth, to), redirect=REDIRECT, timeout_s=10)
    assert click.ending == "handoff", click.describe()
    assert click.handoff == to  # the 303's Location, fragment included
    assert [h.status for h in click.hops] == [303]
    assert 0 < click.elapsed_ms < 5000


@needs_chromium
def test_a_link_opening_a_new_tab_is_followed(browser: BrowserThread, auth: str) -> None:
    to = "mamapace://auth-callback?code=1"
    click = browser.click(email(auth, to, 'target="_blank"'), redirect=REDIRECT, timeout_s=10)
    assert (click.ending, click.handoff) == ("handoff", to)


@needs_chromium
def test_a_universal_link_is_handed_off_before_any_traffic(
    browser: BrowserThread, auth: str
) -> None:
    to = "https://app.mamapace.com/auth-callback?code=1"
    click = browser.click(
        email(auth, to), redirect="https://app.mamapace.com/auth-callback", timeout_s=10
    )
    assert (click.ending, click.handoff) == ("handoff", to)


@needs_chromium
@pytest.mark.parametrize(
    "to", ["https://app.mamapace.com?code=1", "http://192.0.2.1/?code=1"], ids=["name", "ip"]
)
def test_other_hosts_are_never_reached(browser: BrowserThread, auth: str, to: str) -> None:
    click = browser.click(email(auth, to), redirect=REDIRECT, timeout_s=10)
    assert click.ending == "failed"
    assert click.final_url == to
    # The resolver refused it: no lookup and no connection left the machine, IP literals too.
    assert click.error == "net::ERR_NAME_NOT_RESOLVED"
    shot = browser.screenshot()
    assert shot is not None and shot.startswith(b"\x89PNG")


@needs_chromium
def test_landing_on_a_web_page(browser: BrowserThread, auth: str) -> None:
    click = browser.click(email(auth, f"{auth}/welcome"), redirect=REDIRECT, timeout_s=10)
    assert (click.ending, click.final_url) == ("page", f"{auth}/welcome")
    assert [h.status for h in click.hops] == [303, 200]


@needs_chromium
def test_a_link_answering_an_error_page(browser: BrowserThread, auth: str) -> None:
    html = f'<a href="{auth}/verify?token=x&status=403">Confirm</a>'
    click = browser.click(html, redirect=REDIRECT, timeout_s=10)
    assert click.ending == "page"
    assert [(h.status, h.location) for h in click.hops] == [(403, None)]


@needs_chromium
@pytest.mark.parametrize(
    ("html", "ending"),
    [
        ("<p>Welcome! Your account is ready.</p>", "no-link"),
        (
            '<a style="display:none" href="http://127.0.0.1:9/verify?token=x">Confirm</a>',
            "unclickable",
        ),
        (
            '<a href="http://127.0.0.1:9/verify?token=x">Confirm</a>'
            '<div style="position:fixed;inset:0;background:white"></div>',
            "unclickable",
        ),
    ],
    ids=["no-link", "hidden", "covered"],
)
def test_a_person_must_be_able_to_click_it(browser: BrowserThread, html: str, ending: str) -> None:
    click = browser.click(html, redirect=REDIRECT, timeout_s=5)
    assert click.ending == ending, click.describe()
    assert not click.answered


@needs_chromium
def test_a_text_only_email_is_clickable_too(browser: BrowserThread, auth: str) -> None:
    link = f"{auth}/verify?token=pkce_abc&type=signup&to={quote('mamapace://auth-callback?code=2')}"
    text = f"Confirm your email <now>:\n{link}\n\nThanks"
    shown = text_view(text, link)
    assert "&lt;now&gt;" in shown and shown.count("<a ") == 1
    click = browser.click(shown, redirect=REDIRECT, timeout_s=10)
    assert (click.ending, click.handoff) == ("handoff", "mamapace://auth-callback?code=2")


@needs_chromium
def test_scripts_in_the_email_do_not_run(browser: BrowserThread, auth: str) -> None:
    Auth.seen.clear()
    html = (
        f"<script>location.href = '{auth}/script-ran'</script>"
        f'<img src="x" onerror="location.href=\'{auth}/handler-ran\'">'
        + email(auth, "mamapace://auth-callback?code=1")
    )
    click = browser.click(html, redirect=REDIRECT, timeout_s=10)
    assert click.ending == "handoff"
    assert not [p for p in Auth.seen if "ran" in p]


# -- the driver's compile cache ----------------------------------------------------------------


def test_the_driver_is_pointed_at_the_cache_folder(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert use_compile_cache(environ, tmp_path) == str(tmp_path)
    assert environ == {COMPILE_CACHE: str(tmp_path)}


@pytest.mark.parametrize(
    ("environ", "uses"),
    [
        ({COMPILE_CACHE: "/somewhere/else"}, "/somewhere/else"),
        ({COMPILE_CACHE: ""}, None),
        ({NO_COMPILE_CACHE: "1"}, None),
    ],
    ids=["its own folder", "set empty", "turned off"],
)
def test_what_the_environment_says_about_the_cache_stands(
    tmp_path: Path, environ: dict[str, str], uses: str | None
) -> None:
    before = dict(environ)
    assert use_compile_cache(environ, tmp_path) == uses
    assert environ == before


def test_without_a_usable_folder_node_compiles_as_usual() -> None:
    environ: dict[str, str] = {}
    assert use_compile_cache(environ, None) is None
    assert environ == {}


@needs_chromium
def test_a_browser_start_leaves_the_drivers_compiled_code_in_the_user_cache(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (COMPILE_CACHE, NO_COMPILE_CACHE)}
    env.update(TMPDIR=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    script = (
        "from synthetics.cache import user_cache\n"
        "from synthetics.deeplink.browser import BrowserThread\n"
        "browser = BrowserThread(mode='required')\n"
        "try:\n"
        "    browser.ready()\n"
        "finally:\n"
        "    browser.close()\n"
        "print(user_cache())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cache = Path(done.stdout.strip()) / "node-compile-cache"
    assert cache.is_relative_to(tmp_path)
    assert [p for p in cache.rglob("*") if p.is_file()], "Node wrote no compiled code"
