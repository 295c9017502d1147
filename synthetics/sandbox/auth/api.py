"""What every Auth endpoint shares: GoTrue's `API` struct (`internal/api/api.go`).

Configuration, the connection pool, the mailer, the faults and the clock. Endpoints are plain
functions `async def endpoint(api: API, request) -> Response`, one module per GoTrue source file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from synthetics.sandbox.faults import FaultState
from synthetics.sandbox.mailer import Mailer
from synthetics.sandbox.redirects import is_redirect_allowed, resolve_redirect
from synthetics.sandbox.settings import AuthSettings

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


class API:
    """GoTrue's state: settings, storage, mail, faults and time."""

    def __init__(
        self,
        *,
        settings: AuthSettings,
        jwt_secret: str,
        pool: AsyncConnectionPool[Any],
        mailer: Mailer,
        faults: FaultState,
        external_url: str,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.jwt_secret = jwt_secret
        self.pool = pool
        self.mailer = mailer
        self.faults = faults
        self.external_url = external_url.rstrip("/")
        self.clock = clock

    def now(self) -> datetime:
        """The sandbox clock's current time."""
        return self.clock()

    def autoconfirm(self) -> bool:
        """MAILER_AUTOCONFIRM, or the auth.autoconfirm fault."""
        return self.settings.mailer_autoconfirm or self.faults.has("auth.autoconfirm")

    def allow_list(self) -> tuple[str, ...]:
        """URI_ALLOW_LIST (emptied by the auth.redirect_disallowed fault)."""
        if self.faults.has("auth.redirect_disallowed"):
            return ()
        return self.settings.uri_allow_list

    def redirect_allowed(self, redirect: str) -> bool:
        """utilities.IsRedirectURLValid."""
        return is_redirect_allowed(redirect, self.settings.site_url, self.allow_list())

    def referrer(self, request: Request) -> str:
        """utilities.GetReferrer: the `redirect_to` header if set, else the query's; then Referer.

        Each must pass the allow-list, and the Site URL is the silent fallback.
        """
        asked = request.headers.get("redirect_to") or request.query_params.get("redirect_to")
        candidates = (asked, request.headers.get("referer"))
        return resolve_redirect(candidates, self.settings.site_url, self.allow_list())

    def otp_expired(self, sent_at: datetime | None) -> bool:
        """isOtpExpired: MAILER_OTP_EXP seconds after the token was sent (never sent: expired)."""
        if sent_at is None:
            return True
        return self.now() > sent_at + timedelta(seconds=self.settings.otp_exp)

    def otp_valid(self, given: str, stored: str | None, sent_at: datetime | None) -> bool:
        """isOtpValid: a stored, unexpired token equal to `given` (a `pkce_` prefix tolerated)."""
        if not stored or sent_at is None:
            return False
        return not self.otp_expired(sent_at) and stored in (given, "pkce_" + given)

    def email_data(self, user: Mapping[str, Any], **values: Any) -> dict[str, Any]:
        """The fields every email template may use, plus the ones given."""
        return {
            "SiteURL": self.settings.site_url,
            "Email": user["email"] or "",
            "Data": user["raw_user_meta_data"] or {},
            **values,
        }
