"""Reading a confirmation redirect the way the app's deep-link handler does, and judging it.

Mamapace's handler (React Native `Linking`) reads parameters from the fragment, else the query,
and acts on `access_token` + `refresh_token`, or on `type=signup`. A `?code=` redirect matches
neither branch unless the app exchanges codes: the email is confirmed, yet the user is stranded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

Credential = str  # "tokens" | "code"


@dataclass(frozen=True)
class Landing:
    """A parsed `Location`: where the user lands and what it carries."""

    location: str
    scheme: str
    host: str
    path: str
    query: dict[str, str]
    fragment: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        """What the handler reads: the fragment's parameters, else the query's."""
        return self.fragment or self.query

    @property
    def credential(self) -> Credential | None:
        """`tokens` (implicit flow), `code` (PKCE) or None."""
        params = {**self.query, **self.fragment}
        if params.get("access_token") and params.get("refresh_token"):
            return "tokens"
        if params.get("code"):
            return "code"
        return None

    @property
    def error_code(self) -> str | None:
        """GoTrue's `error_code` (e.g. otp_expired), else the OAuth `error`, if any."""
        params = {**self.query, **self.fragment}
        return params.get("error_code") or params.get("error") or None

    @property
    def error(self) -> str | None:
        """GoTrue's error redirect, as `error_code: description`, if this is one."""
        params = {**self.query, **self.fragment}
        if "error" not in params and "error_code" not in params:
            return None
        code = params.get("error_code") or params.get("error", "")
        return f"{code}: {params.get('error_description', '')}".strip(": ")

    @property
    def base(self) -> str:
        """Scheme, host and path: `mamapace://auth-callback`."""
        return f"{self.scheme}://{self.host}{self.path}"

    def describe(self) -> str:
        """The landing without secret values: `mamapace://auth-callback?code=…#…` keys only."""
        base = self.base
        if self.query:
            base += "?" + "&".join(
                f"{k}=…" if _secret(k) else f"{k}={v}" for k, v in self.query.items()
            )
        if self.fragment:
            base += "#" + "&".join(
                f"{k}=…" if _secret(k) else f"{k}={v}" for k, v in self.fragment.items()
            )
        return base


def _secret(key: str) -> bool:
    return key in {"access_token", "refresh_token", "code", "provider_token", "token"}


def _flat(raw: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def parse_landing(location: str) -> Landing:
    """Parse a redirect target (custom schemes included)."""
    parts = urlsplit(location)
    return Landing(
        location=location,
        scheme=parts.scheme,
        host=parts.netloc,
        path=parts.path,
        query=_flat(parts.query),
        fragment=_flat(parts.fragment),
    )


def same_target(landing: Landing, expected: str) -> bool:
    """Whether the landing is the configured redirect (scheme, host and path; query ignored)."""
    want = urlsplit(expected)
    return (
        landing.scheme.lower() == want.scheme.lower()
        and landing.host.lower() == want.netloc.lower()
        and landing.path.rstrip("/") == want.path.rstrip("/")
    )


def judge(landing: Landing, expected: str, accepts: Sequence[str]) -> str | None:
    """Why this landing fails the user, or None when the app would get a session."""
    if not same_target(landing, expected):
        where = landing.describe()
        return (
            f"the link lands on {where} instead of {expected}: the deep link is not honoured "
            "(is it still on Auth's redirect allow-list? GoTrue falls back to the Site URL)"
        )
    if landing.error:
        return f"the link lands on {expected} with an error instead of a session: {landing.error}"
    credential = landing.credential
    if credential is None:
        return f"the link lands on {landing.describe()} but carries no tokens and no code"
    if credential not in accepts:
        handled = " and ".join(accepts)
        if credential == "code":
            return (
                f"the link lands on {landing.describe()} with a PKCE code, but the app's "
                f"deep-link handler accepts only {handled} (access_token + refresh_token): the "
                "email is confirmed, yet the user arrives in the app with no session and no "
                "message. Exchange the code in the app (exchangeCodeForSession) or sign up "
                "with the implicit flow."
            )
        return (
            f"the link lands on {landing.describe()} with tokens in the fragment, but the app's "
            f"deep-link handler accepts only {handled}: the user gets no session"
        )
    return None


def judge_second_click(landing: Landing, expected: str) -> str | None:
    """Why a second click on a used link is unsafe, or None when it yields only otp_expired.

    The app should get the error (to tell the user the link was used), never a credential. Where
    it lands is deeplink.redirect's concern, so a landing off the deep link is not judged here.
    """
    credential = landing.credential
    if credential is not None:
        what = "a PKCE code" if credential == "code" else "session tokens"
        return (
            f"a second click on the used link still lands on {landing.describe()} with {what}: "
            "the link is not single-use"
        )
    if landing.error_code is None:
        return (
            f"a second click on the used link lands on {landing.describe()} without an error: "
            "the app cannot tell the user that the link was already used"
        )
    if landing.error_code != "otp_expired":
        return (
            f"a second click on the used link lands with {landing.error} instead of otp_expired "
            f"(on {landing.describe()})"
        )
    return None
