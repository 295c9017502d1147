"""The throwaway user's journey, as cached steps: sign-up → email → deep link → session.

Each step runs once per run, on first use, and records whether it worked and why not. A step whose
prerequisite failed raises `Blocked` naming the root cause, so only checks that truly depend on a
broken step are blocked. RPC and security checks ask for `signed_in()`: the journey's own user when
the chain worked, else a pre-confirmed user created through the admin API — they never go blind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from synthetics.clients import pkce
from synthetics.clients.http import BadResponse, Call, TransportFailure
from synthetics.clients.supabase import Supabase, error_code, error_message
from synthetics.config import Settings
from synthetics.deeplink.redirect import Landing, judge, parse_landing
from synthetics.inbox.base import Inbox, InboxError, ReceivedEmail, find_confirmation_link
from synthetics.severity import Status
from synthetics.users import Registry, Throwaway, new_password

Monotonic = Callable[[], float]


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
    status: Status | None = None  # a declared severity, e.g. warning for a 429 quota answer
    measurements: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    blocked_by: str | None = None  # set when this step could not run at all


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


@dataclass
class Session(Outcome):
    """The session the deep link yields."""

    access_token: str | None = None
    refresh_token: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user for RPC and security checks, and where it came from."""

    user: Throwaway
    access_token: str
    fallback_reason: str | None = None


_O = TypeVar("_O", bound="Outcome")
_T = TypeVar("_T")


def _failure(outcome: _O, message: str, status: Status | None = None) -> _O:
    outcome.ok, outcome.message, outcome.status = False, message, status
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
        inbox: Inbox,
        settings: Settings,
        users: Registry,
        run_id: str,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.api = api
        self.inbox = inbox
        self.settings = settings
        self.config = settings.config
        self.users = users
        self.run_id = run_id
        self.monotonic = monotonic
        self._cache: dict[str, Any] = {}

    def _once(
        self, name: str, step: Callable[[], _T], failed: Callable[[str], _T] | None = None
    ) -> _T:
        """Run `step` once; later calls get the same result, or the same exception.

        A target that cannot be reached or answers nonsense becomes `failed(message)` (the step's
        own failed outcome) or, for steps without one, a Blocked naming auth.signin.
        """
        if name not in self._cache:
            try:
                self._cache[name] = step()
            except (TransportFailure, BadResponse, InboxError) as exc:
                if failed is not None:
                    self._cache[name] = failed(str(exc))
                else:
                    self._cache[name] = Blocked("auth.signin", f"blocked: {exc}")
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

    # -- the chain --------------------------------------------------------------------------

    def signup(self) -> SignUp:
        """Sign up the throwaway user as the app does (PKCE or implicit)."""
        result: SignUp = self._once(
            "signup", self._signup, lambda m: _failure(SignUp("auth.signup"), m)
        )
        return result

    def _signup(self) -> SignUp:
        outcome = SignUp("auth.signup")
        user = self._user("primary")
        outcome.user = user
        challenge = None
        if self.config.auth.flow == "pkce":
            outcome.verifier = pkce.new_verifier()
            challenge = pkce.challenge(outcome.verifier)
        call = self.api.signup(
            user.email,
            user.password,
            redirect_to=self.config.deeplink.redirect,
            data=self.metadata,
            code_challenge=challenge,
        )
        outcome.answered_at = self.monotonic()
        outcome.measurements["latency_ms"] = call.elapsed_ms
        code = error_code(call)
        if call.status == 429 and code == "over_email_send_rate_limit":
            _failure(
                outcome,
                "sign-up refused with 429 over_email_send_rate_limit: the project's email quota "
                "is spent (quota, not outage); raise the email rate limit or run less often",
                Status.WARNING,
            )
            return outcome
        if call.status != 200:
            _failure(outcome, _unexpected(call, "sign-up"))
            return outcome
        body = call.json_object()
        if body.get("access_token"):
            user.id = str(body.get("user", {}).get("id") or "") or None
            outcome.session = body
            outcome.ok = True
            outcome.message = (
                "sign-up returned a session at once: email confirmation is off on the target "
                "(see auth.settings)"
            )
            return outcome
        if not body.get("id") or not isinstance(body.get("identities"), list):
            return _failure(outcome, "sign-up answered 200 without a user id")
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
        return outcome

    def email(self) -> Email:
        """Wait for the confirmation email and extract its /verify? link."""
        result: Email = self._once(
            "email", self._email, lambda m: _failure(Email("email.delivery"), m)
        )
        return result

    def _require_signup(self, check_id: str) -> SignUp:
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
        outcome = Email("email.delivery")
        signup = self._require_signup("email.delivery")
        assert signup.user is not None
        timeout = self.config.thresholds.email_timeout_s
        found = self.inbox.wait_for_email(signup.user.email, timeout=timeout)
        if found is None:
            return _failure(
                outcome,
                f"no confirmation email for {signup.user.email} within {timeout:g} s "
                f"(inbox: {self.inbox.name})",
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
        sla = self.config.thresholds.email_sla_s
        late = f", later than the {sla:g} s SLA" if delivery_s > sla else ""
        outcome.message = f"'{found.subject}' arrived after {delivery_s:.2f} s{late}"
        return outcome

    def redirect(self) -> Redirect:
        """Follow the emailed link without following redirects; judge where it lands."""
        result: Redirect = self._once(
            "redirect", self._redirect, lambda m: _failure(Redirect("deeplink.redirect"), m)
        )
        return result

    def _require_email(self, check_id: str) -> Email:
        email = self.email()
        if not email.ok:
            root = email.blocked_by or "email.delivery"
            raise Blocked(root, f"blocked: {root} failed ({email.message})")
        return email

    def _redirect(self) -> Redirect:
        outcome = Redirect("deeplink.redirect")
        email = self._require_email("deeplink.redirect")
        assert email.link is not None
        call = self.api.follow_link(email.link)
        outcome.measurements["latency_ms"] = call.elapsed_ms
        location = call.response.headers.get("location")
        if call.status not in (301, 302, 303, 307, 308) or not location:
            return _failure(
                outcome, _unexpected(call, "the confirmation link") + " instead of a redirect"
            )
        landing = parse_landing(location)
        outcome.landing = landing
        outcome.evidence["redirect"] = landing.describe()
        problem = judge(landing, self.config.deeplink.redirect, self.config.deeplink.accepts)
        if problem:
            return _failure(outcome, problem)
        outcome.ok = True
        outcome.message = f"{call.status} to {landing.describe()}"
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
            tokens = signup.session
            latency = 0.0
        else:
            redirect = self.redirect()
            if not redirect.ok:
                root = redirect.blocked_by or "deeplink.redirect"
                raise Blocked(root, f"blocked: {root} failed ({redirect.message})")
            assert redirect.landing is not None
            params = {**redirect.landing.query, **redirect.landing.fragment}
            if redirect.landing.credential == "code":
                assert signup.verifier is not None
                call = self.api.exchange_code(params["code"], signup.verifier)
                latency = call.elapsed_ms
                if call.status != 200:
                    return _failure(outcome, _unexpected(call, "the PKCE code exchange"))
                tokens = call.json_object()
            else:
                tokens, latency = dict(params), 0.0
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

    # -- users for the RPC and security checks ----------------------------------------------

    def signed_in(self) -> SignedIn:
        """The journey's user when the chain worked, else a pre-confirmed fallback user."""
        result: SignedIn = self._once("signed_in", self._signed_in)
        return result

    def _signed_in(self) -> SignedIn:
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
        user = self._user(role)
        user.via = "admin"
        try:
            created = self.api.admin_create_user(user.email, user.password, self.metadata)
            if created.status != 200:
                raise NotApplicable(_unexpected(created, "admin user creation"))
            user.id = str(created.json_object().get("id"))
            call = self.api.sign_in(user.email, user.password)
            if call.status != 200:
                raise NotApplicable(_unexpected(call, f"password sign-in of the {role} user"))
            token = call.json_object().get("access_token")
        except (TransportFailure, BadResponse) as exc:
            raise NotApplicable(f"the admin API could not provide a {role} user: {exc}") from None
        if not isinstance(token, str):
            raise NotApplicable(f"password sign-in of the {role} user returned no access_token")
        return SignedIn(user, token)


def _link_tokens(link: str) -> list[str]:
    """The secret parts of a confirmation link (its token) for the redactor."""
    values = parse_qs(urlsplit(link).query).get("token", [])
    return [v for v in values if v]
