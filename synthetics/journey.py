"""The throwaway user's journey, as cached steps: sign-up → email → deep link → session.

Each step runs once per run, on first use, and records whether it worked and why not. A step whose
prerequisite failed raises `Blocked` naming the root cause, so only checks that truly depend on a
broken step are blocked. RPC and security checks ask for `signed_in()`: the journey's own user when
the chain worked, else a pre-confirmed user created through the admin API — they never go blind.

One sign-up, one email per run. A confirmation link works once: with a browser, Chromium clicks
it first (as a person does, in the email's own markup), and deeplink.redirect judges the 303 and
the Location that click got from the server; without one, deeplink.redirect follows the link over
HTTP. Either way the session comes from that one credential, and deeplink.single_use clicks the
spent link again over HTTP. A browser that could not click (no browser, a click that never
reached the server) leaves the link unspent, and the HTTP path takes over: a browser problem never
blinds deeplink.redirect or the session checks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from synthetics.clients import pkce
from synthetics.clients.http import TRANSIENT_STATUS, BadResponse, Call, TransportFailure
from synthetics.clients.official import ApiRefused, Official
from synthetics.clients.supabase import Supabase, error_code, error_message
from synthetics.config import Settings
from synthetics.deeplink.browser import (
    BrowserError,
    BrowserThread,
    BrowserUnavailable,
    Click,
    text_view,
)
from synthetics.deeplink.redirect import (
    Landing,
    judge,
    judge_second_click,
    parse_landing,
    same_target,
)
from synthetics.inbox._wait import Backoff
from synthetics.inbox.base import Inbox, InboxError, ReceivedEmail, find_confirmation_link
from synthetics.users import Registry, Throwaway, new_password

Monotonic = Callable[[], float]
#: Told about a long wait while it lasts: `with waiting("waiting for the confirmation email",
#: 120):` (the terminal shows its progress).
Waiting = Callable[[str, float], AbstractContextManager[object]]


def unwatched(what: str, total: float) -> AbstractContextManager[object]:
    """Nobody watches the wait."""
    return nullcontext()


class Blocked(Exception):
    """A check cannot run because `root` (a check id) failed."""

    def __init__(self, root: str, reason: str) -> None:
        super().__init__(reason)
        self.root = root
        self.reason = reason


class NotApplicable(Exception):
    """A check does not apply to this target (skipped with the reason)."""


@dataclass
class Outcome:
    """What one step found: ok or not, why, how long, and which check owns it."""

    check_id: str
    ok: bool = False
    message: str = ""
    reason: str | None = None  # a machine-readable cause (severity.py maps it to a status)
    measurements: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    blocked_by: str | None = None  # set when this step could not run at all


@dataclass
class Health(Outcome):
    """Whether Auth and REST answer at all (the outage gate for every other check)."""

    auth_up: bool = False
    rest_up: bool = False


@dataclass
class SignUp(Outcome):
    """The sign-up step."""

    user: Throwaway | None = None
    verifier: str | None = None
    session: dict[str, Any] | None = None  # only when the target auto-confirms
    answered_at: float = 0.0


@dataclass
class Email(Outcome):
    """The confirmation email step."""

    email: ReceivedEmail | None = None
    link: str | None = None


@dataclass
class Redirect(Outcome):
    """Following the emailed link."""

    landing: Landing | None = None
    via: str = "HTTP"  # or "browser": the browser's click spent the link


@dataclass
class Session(Outcome):
    """The session the deep link yields."""

    access_token: str | None = None
    refresh_token: str | None = None
    user_id: str | None = None


@dataclass
class BrowserClick(Outcome):
    """The browser user's confirmation link, clicked in Chromium."""

    browser: str = ""  # which browser ran
    email: Email | None = None  # the browser user's email (its link is spent once answered)
    click: Click | None = None
    landing: Landing | None = None
    screenshot: bytes | None = None  # of the page where a failed click ended


@dataclass
class SecondClick(Outcome):
    """A second click on a confirmation link that was already used."""

    via: str = ""  # "Chromium" or "HTTP"
    landing: Landing | None = None
    screenshot: bytes | None = None


@dataclass
class Recovery(Outcome):
    """Password reset: request → email → recovery deep link → new password → sign-in."""

    landing: Landing | None = None


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user for RPC and security checks, and where it came from."""

    user: Throwaway
    access_token: str
    fallback_reason: str | None = None


_O = TypeVar("_O", bound="Outcome")
_T = TypeVar("_T")


def _failure(outcome: _O, message: str, reason: str | None = None) -> _O:
    outcome.ok, outcome.message, outcome.reason = False, message, reason
    return outcome


def _unexpected(call: Call, what: str) -> str:
    code = error_code(call)
    detail = f"{code}: {error_message(call)}" if code else error_message(call)
    return f"{what} answered {call.status} ({detail})"


class Journey:
    """One run's journey through the target, step by step, each step at most once."""

    def __init__(
        self,
        *,
        api: Supabase,
        official: Official,
        inbox: Inbox,
        settings: Settings,
        users: Registry,
        run_id: str,
        browser: BrowserThread | None = None,
        monotonic: Monotonic = time.monotonic,
        pause: Callable[[float], None] = time.sleep,
        waiting: Waiting = unwatched,
    ) -> None:
        self.api = api
        self.waiting = waiting
        self.official = official
        self.browser = browser
        self.inbox = inbox
        self.settings = settings
        self.config = settings.config
        self.users = users
        self.run_id = run_id
        self.monotonic = monotonic
        self._pause = pause  # between inbox retries, bounded by the email deadline
        self._cache: dict[str, Any] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()

    def _once(
        self, name: str, step: Callable[[], _T], failed: Callable[[str], _T] | None = None
    ) -> _T:
        """Run `step` once; later calls get the same result, or the same exception. A caller on
        another thread (the email prefetch) and the check that needs the step wait for one run.

        A target that cannot be reached or answers nonsense becomes `failed(message)` (the step's
        own failed outcome) or, for steps without one, a Blocked naming auth.health (the target
        stopped answering after its health check passed).
        """
        with self._locks_lock:
            lock = self._locks.setdefault(name, threading.RLock())
        with lock:
            if name not in self._cache:
                try:
                    self._cache[name] = step()
                except (TransportFailure, BadResponse, InboxError) as exc:
                    if failed is not None:
                        self._cache[name] = failed(str(exc))
                    else:
                        self._cache[name] = Blocked("auth.health", f"blocked: {exc}")
                except (Blocked, NotApplicable) as exc:
                    self._cache[name] = exc
            value = self._cache[name]
        if isinstance(value, Exception):
            raise value
        return value  # type: ignore[no-any-return]

    def _user(self, role: str) -> Throwaway:
        address = self.inbox.address_for(f"{self.run_id}-{role}")
        user = Throwaway(role, address, new_password(self.config.auth.password_length))
        self.api.redactor.add(user.password)
        self.users.add(user)
        return user

    @property
    def metadata(self) -> dict[str, Any]:
        """What marks a user as synthetic (the janitor looks for it)."""
        return {"synthetic": True, "synthetics_run_id": self.run_id}

    # -- is the target there at all ---------------------------------------------------------

    def health(self) -> Health:
        """Auth's health endpoint and REST's root: down = unreachable after retries, or 5xx."""
        result: Health = self._once("health", self._health)
        return result

    def _health(self) -> Health:
        outcome = Health("auth.health")
        problems: list[str] = []
        try:
            auth = self.api.health()
            outcome.measurements |= auth.measurements()
            outcome.auth_up = auth.status < 500
            if auth.status != 200:
                problems.append(f"Auth health answered {auth.status}")
            else:
                name = auth.json_object().get("name")
                outcome.evidence["auth"] = str(name or "?")
        except TransportFailure as exc:
            problems.append(f"Auth is unreachable: {exc}")
        except BadResponse as exc:
            problems.append(str(exc))
        try:
            rest = self.api.rest_root()
            outcome.rest_up = rest.status < 500
            outcome.evidence["rest"] = str(rest.status)
            if not outcome.rest_up:
                problems.append(f"REST answered {rest.status}")
        except TransportFailure as exc:
            problems.append(f"REST is unreachable: {exc}")
        if problems:
            down = not (outcome.auth_up and outcome.rest_up)
            return _failure(outcome, "; ".join(problems), "target_down" if down else None)
        outcome.ok = True
        outcome.message = "Auth and REST answer"
        return outcome

    def require_up(self, *parts: str) -> None:
        """Blocked by auth.health when the target's `auth` or `rest` half is down."""
        health = self.health()
        down = [p for p in parts if not (health.auth_up if p == "auth" else health.rest_up)]
        if down:
            raise Blocked("auth.health", f"blocked: the target is down ({health.message})")

    # -- the chain --------------------------------------------------------------------------

    def signup(self) -> SignUp:
        """Sign up the throwaway user as the app does (PKCE or implicit)."""
        result: SignUp = self._once(
            "signup", self._signup, lambda m: _failure(SignUp("auth.signup"), m)
        )
        return result

    def _signup(self) -> SignUp:
        self.require_up("auth")
        signup = self._sign_up("primary", SignUp("auth.signup"))
        if signup.ok and signup.session is None:
            # The email is awaited in the background while the checks that need no confirmed
            # user (the anon probes, the advisor) run: the email.delivery check then finds it.
            threading.Thread(
                target=self._prefetch_email, name="synthetics-email", daemon=True
            ).start()
        return signup

    def _prefetch_email(self) -> None:
        with contextlib.suppress(Exception):  # the email.delivery check reports what happened
            self.email()

    def _sign_up(self, role: str, outcome: SignUp) -> SignUp:
        user = self._user(role)
        outcome.user = user
        challenge = None
        if self.config.auth.flow == "pkce":
            outcome.verifier = pkce.new_verifier()
            challenge = pkce.challenge(outcome.verifier)
        call, lost = self._send_sign_up(user, challenge, outcome)
        if call is None:  # the answer was lost, and the user turned out to exist: carry on
            outcome.answered_at = self.monotonic()
            outcome.ok = True
            outcome.message = (
                f"signed up {user.email} ({self.config.auth.flow} flow); the answer was lost "
                f"({lost}), but the admin API shows the user was created: carried on with it"
            )
            outcome.evidence |= {"address": user.email, "lost_answer": str(lost)}
            return outcome
        outcome.answered_at = self.monotonic()
        outcome.measurements |= call.measurements()
        code = error_code(call)
        if call.status == 429 and code == "over_email_send_rate_limit":
            if lost is not None:
                # A retry after a lost answer hits the per-address limit the lost attempt set
                # off: that is not the project's quota, and whether the user exists is unknown.
                return _failure(
                    outcome,
                    f"the sign-up's answer was lost ({lost}) and its retry was refused with 429 "
                    "over_email_send_rate_limit (the per-address limit the first attempt set "
                    "off, not the project's quota): whether the user was created is unknown",
                    "inconclusive",
                )
            return _failure(
                outcome,
                "sign-up refused with 429 over_email_send_rate_limit: the project's email quota "
                "is spent (quota, not outage); raise the email rate limit or run less often",
                "email_quota",
            )
        if call.status != 200:
            return _failure(outcome, _unexpected(call, "sign-up"))
        body = call.json_object()
        if body.get("access_token"):
            account = body.get("user")
            user.id = str(account.get("id") or "") or None if isinstance(account, dict) else None
            outcome.session = body
            outcome.ok = True
            outcome.message = (
                "sign-up returned a session at once: email confirmation is off on the target "
                "(see auth.settings)"
            )
            return outcome
        if not isinstance(body.get("id"), str) or not isinstance(body.get("identities"), list):
            return _failure(outcome, "sign-up answered 200 without a user id and identities")
        if not body["identities"]:
            return _failure(
                outcome,
                "sign-up answered with GoTrue's 'already registered' placeholder (no identities): "
                f"{user.email} already exists on the target",
            )
        user.id = str(body["id"])
        outcome.ok = True
        outcome.message = f"signed up {user.email} ({self.config.auth.flow} flow), no session"
        outcome.evidence["address"] = user.email
        if lost is not None:
            outcome.evidence["lost_answer"] = lost
        return outcome

    def _send_sign_up(
        self, user: Throwaway, challenge: str | None, outcome: SignUp
    ) -> tuple[Call | None, str | None]:
        """Send the sign-up; before sending it again after a lost answer (a transport failure,
        502/503/504), ask the admin API whether the user exists — it may well. Returns the
        answer to use (None: the user exists, carry on) and the lost answer, if any."""
        lost: str | None = None
        pauses = Backoff(first=0.2, factor=2.0, cap=2.0).delays()
        for attempt in range(self.config.retries + 1):
            if attempt:
                if self._find_user(user):
                    return None, lost
                self._pause(next(pauses))
            try:
                call = self.api.signup(
                    user.email,
                    user.password,
                    redirect_to=self.config.deeplink.redirect,
                    data=self.metadata,
                    code_challenge=challenge,
                    retries=0,
                )
            except TransportFailure as exc:
                lost = str(exc)
                continue
            if call.status not in TRANSIENT_STATUS:
                return call, lost
            lost = f"{call.status} from the gateway"
        if self._find_user(user):
            return None, lost
        raise TransportFailure(f"sign-up failed {self.config.retries + 1} times; last: {lost}")

    def _find_user(self, user: Throwaway) -> bool:
        """Whether the target holds `user` (admin API, newest first); sets its id if so."""
        if not self.api.has_admin:
            return False
        try:
            for account in self.official.users_page(1, 50):
                if str(account.get("email", "")).lower() == user.email.lower():
                    user.id = str(account["id"])
                    return True
        except (ApiRefused, TransportFailure, BadResponse):
            return False
        return False

    def email(self) -> Email:
        """Wait for the confirmation email and extract its /verify? link."""
        result: Email = self._once(
            "email", self._email, lambda m: _failure(Email("email.delivery"), m)
        )
        return result

    def _require_signup(self) -> SignUp:
        signup = self.signup()
        if not signup.ok:
            raise Blocked("auth.signup", f"blocked: auth.signup failed ({signup.message})")
        if signup.session is not None:
            raise NotApplicable(
                "does not apply: the target auto-confirms sign-ups, so no confirmation email is "
                "sent (see auth.settings)"
            )
        return signup

    def _email(self) -> Email:
        return self._await_email(self._require_signup(), Email("email.delivery"))

    def _await_email(self, signup: SignUp, outcome: Email) -> Email:
        assert signup.user is not None
        timeout = self.config.thresholds.email_timeout_s
        try:
            with self.waiting("waiting for the confirmation email", timeout):
                found = self._wait_for_email(signup, outcome, timeout)
        except InboxError as exc:
            return _failure(
                outcome,
                f"the test inbox ({self.inbox.name}) refused, so delivery is unknown: {exc}; "
                "this is the monitor's inbox, not the app (check its credentials)",
                "inbox_error",
            )
        if found is None:
            errors = outcome.evidence.get("inbox_errors")
            seen = f"; the inbox failed meanwhile: {errors}" if errors else ""
            return _failure(
                outcome,
                f"no confirmation email for {signup.user.email} within {timeout:g} s "
                f"(inbox: {self.inbox.name}){seen}",
            )
        delivery_s = self.monotonic() - signup.answered_at
        outcome.email = found
        outcome.measurements["delivery_s"] = delivery_s
        outcome.evidence["subject"] = found.subject
        link = find_confirmation_link(found)
        if link is None:
            return _failure(
                outcome, f"the email '{found.subject}' has no /verify? confirmation link"
            )
        self.api.redactor.add(link, *_link_tokens(link))
        outcome.link = link
        outcome.ok = True
        # Lateness against the SLA is graded (and said) by severity.grade.
        outcome.message = f"'{found.subject}' arrived after {delivery_s:.2f} s"
        return outcome

    def _wait_for_email(
        self, signup: SignUp, outcome: Email, timeout: float
    ) -> ReceivedEmail | None:
        """Wait until the deadline; a transient inbox error is "not yet" (each is recorded), a
        permanent one (bad credentials, unknown server) raises at once."""
        assert signup.user is not None
        deadline = self.monotonic() + timeout
        errors: list[str] = []
        pauses = Backoff(first=0.1, cap=2.0).delays()
        while True:
            remaining = deadline - self.monotonic()
            try:
                return self.inbox.wait_for_email(signup.user.email, timeout=max(remaining, 0))
            except InboxError as exc:
                if not exc.transient:
                    raise
                errors.append(str(exc))
                outcome.measurements["inbox_errors"] = len(errors)
                outcome.evidence["inbox_errors"] = "; ".join(errors[-3:])
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                return None
            self._pause(min(next(pauses), remaining))

    def redirect(self) -> Redirect:
        """Follow the emailed link without following redirects; judge where it lands."""
        result: Redirect = self._once(
            "redirect", self._redirect, lambda m: _failure(Redirect("deeplink.redirect"), m)
        )
        return result

    def _require_email(self) -> Email:
        email = self.email()
        if not email.ok:
            root = email.blocked_by or "email.delivery"
            raise Blocked(root, f"blocked: {root} failed ({email.message})")
        return email

    def _redirect(self) -> Redirect:
        """The one confirmation link is spent once: by the browser's click when the run has a
        browser (its first hop is the 303 the server sent, captured), else over HTTP."""
        outcome = Redirect("deeplink.redirect")
        email = self._require_email()
        assert email.link is not None
        click = self.click()
        if click is not None and click.click is not None and click.click.answered:
            hop = click.click.hops[0]
            outcome.via = "browser"
            outcome.measurements["latency_ms"] = click.click.elapsed_ms
            if hop.status not in (301, 302, 303, 307, 308) or not hop.location:
                return _failure(
                    outcome,
                    f"the confirmation link answered {hop.status} in {_name(click.browser)} "
                    "instead of a redirect",
                )
            status, location = hop.status, hop.location
        else:
            call = self.api.follow_link(email.link)
            outcome.measurements |= call.measurements()
            location = call.response.headers.get("location")
            if call.status not in (301, 302, 303, 307, 308) or not location:
                return _failure(
                    outcome, _unexpected(call, "the confirmation link") + " instead of a redirect"
                )
            status = call.status
        landing = parse_landing(location)
        outcome.landing = landing
        self.api.redactor.add(*_credentials(landing))
        outcome.evidence["redirect"] = landing.describe()
        problem = judge(landing, self.config.deeplink.redirect, self.config.deeplink.accepts)
        if problem:
            return _failure(outcome, problem)
        outcome.ok = True
        via = " (as the browser's click got it)" if outcome.via == "browser" else ""
        outcome.message = f"{status} to {landing.describe()}{via}"
        return outcome

    def session(self) -> Session:
        """Turn the deep link's credential (or an auto-confirm session) into a checked user."""
        result: Session = self._once(
            "session", self._session, lambda m: _failure(Session("auth.session"), m)
        )
        return result

    def _session(self) -> Session:
        outcome = Session("auth.session")
        signup = self.signup()
        if signup.ok and signup.session is not None:
            return self._check_session(signup.session, 0.0, signup, outcome)
        redirect = self.redirect()
        if not redirect.ok:
            root = redirect.blocked_by or "deeplink.redirect"
            raise Blocked(root, f"blocked: {root} failed ({redirect.message})")
        assert redirect.landing is not None
        return self._redeem(redirect.landing, signup, outcome)

    def _redeem(self, landing: Landing, signup: SignUp, outcome: Session) -> Session:
        """What the app does with the deep link: exchange the code (PKCE) or take the tokens."""
        params = {**landing.query, **landing.fragment}
        if landing.credential == "code":
            assert signup.verifier is not None
            call = self.api.exchange_code(params["code"], signup.verifier)
            if call.status != 200:
                return _failure(outcome, _unexpected(call, "the PKCE code exchange"))
            return self._check_session(call.json_object(), call.elapsed_ms, signup, outcome)
        return self._check_session(dict(params), 0.0, signup, outcome)

    def _check_session(
        self, tokens: dict[str, Any], latency: float, signup: SignUp, outcome: Session
    ) -> Session:
        """The tokens work: GET /auth/v1/user answers with the signed-up, confirmed user."""
        access, refresh = tokens.get("access_token"), tokens.get("refresh_token")
        if not isinstance(access, str) or not isinstance(refresh, str):
            return _failure(outcome, "the session has no access_token/refresh_token")
        self.api.redactor.add(access, refresh)
        call = self.api.user(access)
        latency += call.elapsed_ms
        outcome.measurements["latency_ms"] = latency
        if call.status != 200:
            return _failure(outcome, _unexpected(call, "GET /auth/v1/user with the new session"))
        user = call.json_object()
        assert signup.user is not None
        if str(user.get("email", "")).lower() != signup.user.email.lower():
            return _failure(outcome, "the session belongs to another user")
        if not user.get("email_confirmed_at"):
            return _failure(outcome, "the session's user is not confirmed")
        outcome.ok = True
        outcome.access_token, outcome.refresh_token = access, refresh
        outcome.user_id = str(user.get("id"))
        outcome.message = f"session for a confirmed user in {latency:.0f} ms"
        return outcome

    # -- in a real browser -----------------------------------------------------------------

    def _browser_ready(self) -> str:
        """Which browser runs; NotApplicable when there is none and none is required."""
        mode = self.config.deeplink.browser
        if self.browser is None:
            why = 'deeplink.browser = "off"' if mode == "off" else "no browser started this run"
            raise NotApplicable(f"does not apply: {why}")
        try:
            return self.browser.ready()
        except BrowserUnavailable as exc:
            if mode == "auto":
                raise NotApplicable(f"skipped: {exc}") from None
            raise BrowserError(str(exc)) from None

    def click(self) -> BrowserClick | None:
        """Click the run's emailed link in Chromium, once (None without a browser). One sign-up,
        one email: deeplink.redirect judges the 303 this click got, deeplink.browser the
        hand-off, deeplink.single_use clicks the spent link again over HTTP."""
        result: BrowserClick | None = self._once("click", self._click)
        return result

    def _click(self) -> BrowserClick | None:
        outcome = BrowserClick("deeplink.browser")
        try:
            outcome.browser = self._browser_ready()
        except NotApplicable:
            return None
        except BrowserError as exc:
            return _failure(outcome, str(exc))
        email = self._require_email()
        assert email.email is not None
        assert self.browser is not None
        outcome.email = email
        try:
            click = self.browser.click(
                _clickable(email.email, email.link),
                redirect=self.config.deeplink.redirect,
                timeout_s=self.config.request_timeout_s,
            )
        except BrowserError as exc:
            return _failure(outcome, str(exc))
        outcome.click = click
        problem = self._judge_click(click, outcome)
        if problem is not None:
            with contextlib.suppress(BrowserError):
                outcome.screenshot = self.browser.screenshot()
            return _failure(outcome, f"in {_name(outcome.browser)}: {problem}")
        outcome.ok = True
        return outcome

    def browser_click(self) -> BrowserClick:
        """deeplink.browser: the click handed the app a credential that gives a session."""
        result: BrowserClick = self._once(
            "browser_click",
            self._browser_click,
            lambda m: _failure(BrowserClick("deeplink.browser"), m),
        )
        return result

    def _browser_click(self) -> BrowserClick:
        self._browser_ready()  # NotApplicable (skipped) without a browser, as before
        clicked = self.click()
        assert clicked is not None
        if not clicked.ok:
            return clicked
        assert clicked.landing is not None
        assert clicked.click is not None
        session = self.session()  # the app's session, from the credential the click handed over
        if not session.ok:
            return _failure(clicked, f"the browser's hand-off gives no session: {session.message}")
        clicked.message = (
            f"clicked in {_name(clicked.browser)}: handed {clicked.landing.describe()} to the app "
            f"in {clicked.click.elapsed_ms:.0f} ms; {session.message}"
        )
        return clicked

    def _judge_click(self, click: Click, outcome: BrowserClick) -> str | None:
        """Why the click fails the user (None when it hands the app a usable credential)."""
        if click.answered:
            outcome.measurements["latency_ms"] = click.elapsed_ms
        if click.landing is not None:
            outcome.landing = parse_landing(click.landing)
            self.api.redactor.add(*_credentials(outcome.landing))
            outcome.evidence["final_url"] = outcome.landing.describe()
        if click.hops and click.hops[0].location is None:
            return (
                f"the link answered {click.hops[0].status} instead of redirecting to the app: "
                "the user is left on an error page"
            )
        if outcome.landing is None or click.ending in ("no-link", "unclickable", "timeout"):
            return click.describe()
        expected = self.config.deeplink
        problem = judge(outcome.landing, expected.redirect, expected.accepts)
        if click.ending == "handoff":
            return problem
        problem = problem or click.describe()  # the right URL, yet the browser kept it
        if click.ending == "page":
            return f"{problem}; the user is left on that web page"
        if click.error == "net::ERR_NAME_NOT_RESOLVED" and click.hops:
            return (
                f"{problem} (the browser was sent to {outcome.landing.host}, which it did not "
                "load: the monitor's browser reaches only the target)"
            )
        return f"{problem} ({click.error})"

    def second_click(self) -> SecondClick:
        """Click the link again once it was used (by the browser, or by deeplink.redirect over
        HTTP): no session, only the otp_expired error redirect."""
        result: SecondClick = self._once(
            "second_click",
            self._second_click,
            lambda m: _failure(SecondClick("deeplink.single_use"), m),
        )
        return result

    def _second_click(self) -> SecondClick:
        outcome = SecondClick("deeplink.single_use")
        expected = self.config.deeplink.redirect
        redirect = self.redirect()
        if redirect.landing is None:
            root = redirect.blocked_by or "deeplink.redirect"
            raise Blocked(root, f"blocked: the first click got no redirect ({redirect.message})")
        email = self.email()
        assert email.link is not None
        outcome.via = "HTTP"
        call = self.api.follow_link(email.link)
        outcome.measurements |= call.measurements()
        location = call.response.headers.get("location")
        if call.status not in (301, 302, 303, 307, 308) or not location:
            problem: str | None = (
                f"a second click on the used link: {_unexpected(call, 'the link')} instead "
                "of the error redirect: the user is stranded on an error page"
            )
        else:
            outcome.landing = parse_landing(location)
            problem = judge_second_click(outcome.landing, expected)
        if outcome.landing is not None:
            self.api.redactor.add(*_credentials(outcome.landing))
            outcome.evidence["second_click"] = outcome.landing.base
        if problem is not None:
            return _failure(outcome, problem)
        assert outcome.landing is not None
        first = "in the browser" if redirect.via == "browser" else "over HTTP"
        outcome.ok = True
        outcome.message = (
            f"a second click (HTTP) lands on {outcome.landing.base} with "
            f"{outcome.landing.error}, and no session (the first click was {first})"
        )
        if not same_target(outcome.landing, expected):
            outcome.message += f" (not on {expected}: see deeplink.redirect)"
        return outcome

    # -- password reset --------------------------------------------------------------------

    def recovery(self) -> Recovery:
        """Reset the password of a confirmed user as the app's resetPasswordForEmail does, follow
        the emailed link to the deep link, set a new password with the session it gives, and
        sign in with it."""
        result: Recovery = self._once(
            "recovery", self._recovery, lambda m: _failure(Recovery("auth.recovery"), m)
        )
        return result

    def _recovery(self) -> Recovery:
        outcome = Recovery("auth.recovery")
        if not self.config.auth.recovery:
            raise NotApplicable(
                "does not apply: auth.recovery = false (the app offers no password reset)"
            )
        self.require_up("auth")
        signed = self.admin_user("recovery")
        user = signed.user
        verifier = challenge = None
        if self.config.auth.flow == "pkce":
            verifier = pkce.new_verifier()
            challenge = pkce.challenge(verifier)
        requested = datetime.now(UTC)
        call = self.api.recover(
            user.email, redirect_to=self.config.deeplink.redirect, code_challenge=challenge
        )
        if call.status == 429 and error_code(call) == "over_email_send_rate_limit":
            return _failure(
                outcome,
                "recovery refused with 429 over_email_send_rate_limit: the email quota (quota, "
                "not outage)",
                "email_quota",
            )
        if call.status != 200:
            return _failure(outcome, _unexpected(call, "POST /auth/v1/recover"))
        timeout = self.config.thresholds.email_timeout_s
        found = self.inbox.wait_for_email(user.email, timeout=timeout, since=requested)
        if found is None:
            return _failure(outcome, f"no recovery email for {user.email} within {timeout:g} s")
        link = find_confirmation_link(found)
        if link is None or "type=recovery" not in link:
            return _failure(outcome, f"the email '{found.subject}' has no recovery link")
        self.api.redactor.add(link, *_link_tokens(link))
        followed = self.api.follow_link(link)
        outcome.measurements |= followed.measurements()
        location = followed.response.headers.get("location")
        if followed.status not in (301, 302, 303, 307, 308) or not location:
            return _failure(outcome, _unexpected(followed, "the recovery link"))
        landing = parse_landing(location)
        outcome.landing = landing
        self.api.redactor.add(*_credentials(landing))
        problem = judge(landing, self.config.deeplink.redirect, self.config.deeplink.accepts)
        if problem:
            return _failure(outcome, f"recovery: {problem}")
        params = {**landing.query, **landing.fragment}
        if landing.credential == "code":
            assert verifier is not None
            exchanged = self.api.exchange_code(params["code"], verifier)
            if exchanged.status != 200:
                return _failure(outcome, _unexpected(exchanged, "the PKCE code exchange"))
            token = exchanged.json_object().get("access_token")
        else:
            if params.get("type") != "recovery":
                return _failure(outcome, "the recovery link's session does not say type=recovery")
            token = params.get("access_token")
        if not isinstance(token, str):
            return _failure(outcome, "the recovery link gives no access token")
        chosen = new_password(self.config.auth.password_length)
        self.api.redactor.add(chosen)
        updated = self.api.update_password(token, chosen)
        if updated.status != 200:
            return _failure(outcome, _unexpected(updated, "setting the new password"))
        try:
            self.official.sign_in(user.email, chosen)
        except (ApiRefused, TransportFailure, BadResponse) as exc:
            return _failure(outcome, f"sign-in with the new password failed: {exc}")
        user.password = chosen
        outcome.ok = True
        outcome.message = (
            f"reset the password of {user.email} through the emailed link ({landing.describe()}) "
            "and signed in with the new one"
        )
        return outcome

    # -- users for the RPC and security checks ----------------------------------------------

    def signed_in(self) -> SignedIn:
        """The journey's user when the chain worked, else a pre-confirmed fallback user."""
        result: SignedIn = self._once("signed_in", self._signed_in)
        return result

    def _signed_in(self) -> SignedIn:
        self.require_up("auth", "rest")
        try:
            session = self.session()
            if session.ok and session.access_token:
                signup = self.signup()
                assert signup.user is not None
                return SignedIn(signup.user, session.access_token)
            root, why = "auth.session", session.message
        except Blocked as blocked:
            root, why = blocked.root, blocked.reason
        except NotApplicable as skipped:
            root, why = "auth.session", str(skipped)
        try:
            fallback = self.admin_user("fallback")
        except NotApplicable as exc:
            raise Blocked(root, f"{why}; and no fallback user: {exc}") from None
        reason = f"ran with a pre-confirmed fallback user because {root} failed"
        return SignedIn(fallback.user, fallback.access_token, reason)

    def admin_user(self, role: str) -> SignedIn:
        """A pre-confirmed user created through the admin API and signed in with its password."""
        result: SignedIn = self._once(f"admin:{role}", lambda: self._admin_user(role))
        return result

    def _admin_user(self, role: str) -> SignedIn:
        """Not applicable (skipped, with the reason) when the admin API cannot provide one."""
        if not self.api.has_admin:
            raise NotApplicable("no service-role key configured: cannot create a second user")
        self.require_up("auth")
        user = self._user(role)
        user.via = "admin"
        try:
            user.id = self.official.create_user(user.email, user.password, self.metadata)
            tokens = self.official.sign_in(user.email, user.password)
        except (ApiRefused, TransportFailure, BadResponse) as exc:
            raise NotApplicable(f"the admin API could not provide a {role} user: {exc}") from None
        return SignedIn(user, tokens.access_token)


def _name(browser: str) -> str:
    """`Chrome/156.0… at /usr/bin/chromium (PATH)` → `Chrome/156.0…`."""
    return browser.split(" at ", 1)[0] or "the browser"


def _credentials(landing: Landing) -> list[str]:
    """The secret values a landing carries, for the redactor."""
    params = {**landing.query, **landing.fragment}
    return [v for k, v in params.items() if k in ("access_token", "refresh_token", "code") and v]


def _clickable(email: ReceivedEmail, link: str | None) -> str:
    """What a mail client shows: the HTML part, else the text part with its link made clickable."""
    return email.html if email.html.strip() else text_view(email.text, link)


def _link_tokens(link: str) -> list[str]:
    """The secret parts of a confirmation link (its token) for the redactor."""
    values = parse_qs(urlsplit(link).query).get("token", [])
    return [v for v in values if v]
