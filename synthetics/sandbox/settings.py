"""How the sandbox's Auth is configured: the GoTrue settings that matter to the checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import jwt

from synthetics.sandbox.site import SiteSettings

if TYPE_CHECKING:
    from synthetics.sandbox.migrations import Migrations

#: The Supabase CLI's well-known local JWT secret (`supabase start` uses it too). Not a secret.
DEMO_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
#: Expiry of the CLI's demo API keys (2032-11-12).
_DEMO_KEY_EXP = 1983812996


def demo_key(role: str, secret: str = DEMO_JWT_SECRET) -> str:
    """The Supabase CLI's local API key for `role` ("anon" or "service_role")."""
    return jwt.encode({"iss": "supabase-demo", "role": role, "exp": _DEMO_KEY_EXP}, secret, "HS256")


@dataclass(frozen=True)
class AuthSettings:
    """GoTrue configuration (`GOTRUE_*`), with Mamapace's production values as defaults."""

    site_url: str = "https://app.mamapace.com"
    uri_allow_list: tuple[str, ...] = ("mamapace://auth-callback",)
    disable_signup: bool = False
    mailer_autoconfirm: bool = False
    jwt_exp: int = 3600
    otp_exp: int = 86400
    #: Minimum seconds between two confirmation emails to one user (SMTP_MAX_FREQUENCY).
    smtp_max_frequency: float = 60.0
    #: Confirmation emails the project may send per hour (GOTRUE_RATE_LIMIT_EMAIL_SENT; the
    #: config.toml's `auth.rate_limit.email_sent`). Mamapace's production limit.
    rate_limit_email_sent: float = 60.0
    refresh_token_reuse_interval: float = 10.0
    flow_state_expiry: float = 300.0
    password_min_length: int = 6
    #: bcrypt's work factor for stored passwords. GoTrue hashes at 10 (bcrypt.DefaultCost);
    #: the sandbox uses 4, bcrypt's minimum: the same `$2b$` hashes, any cost verifies, and
    #: nothing on the wire differs but time (a hash or a check takes ~1.5 ms instead of ~80 ms
    #: of CPU on a 2-core runner, and a run makes 4-5 of them on its critical path).
    password_hash_cost: int = 4
    #: Digits of an emailed one-time code (MAILER_OTP_LENGTH, 6 to 10).
    otp_length: int = 6
    #: An email change is confirmed from both addresses (MAILER_SECURE_EMAIL_CHANGE_ENABLED).
    secure_email_change_enabled: bool = True
    #: PUT /user needs a reauthentication nonce to change the password of a session older
    #: than 24 h (SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION).
    update_password_require_reauthentication: bool = False
    sender: str = "Mamapace <noreply@mamapace.com>"
    #: Subject and HTML body overrides by GoTrue template name ("confirmation", "invite",
    #: "recovery", "magic_link", "email_change", "reauthentication"); GoTrue's defaults otherwise.
    email_subjects: Mapping[str, str] = field(default_factory=dict)
    email_templates: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SandboxSettings:
    """Everything a sandbox needs to know before it starts."""

    jwt_secret: str = DEMO_JWT_SECRET
    auth: AuthSettings = field(default_factory=AuthSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    host: str = "127.0.0.1"
    api_port: int = 54321
    db_port: int = 54322
    #: The app's website (association files); where the Supabase CLI puts Studio, which the
    #: sandbox does not have.
    site_port: int = 54323
    inbox_port: int = 54324
    smtp_port: int = 54325
    #: The app's own SQL in place of the bundled schema (`--migrations`).
    migrations: Migrations | None = None
    #: Migration files applied after the schema (bundled or the app's), each in one transaction,
    #: stopping at the first failure (`--next`: what `synthetics rehearse` tries).
    next_migrations: Migrations | None = None
    #: A PostgreSQL installed on the machine (`--postgres-bin`); None chooses one.
    postgres_bin: Path | None = None
    #: Where clients reach the API when it is not where it listens (GoTrue's API_EXTERNAL_URL):
    #: emailed links point there. None: the API's own address.
    external_url: str | None = None

    @property
    def anon_key(self) -> str:
        """The anon API key for this sandbox's JWT secret."""
        return demo_key("anon", self.jwt_secret)

    @property
    def service_role_key(self) -> str:
        """The service-role API key for this sandbox's JWT secret."""
        return demo_key("service_role", self.jwt_secret)


def settings_for_port(settings: SandboxSettings, port: int) -> SandboxSettings:
    """Ports for `--port N`: 0 picks free ports, N keeps the CLI's layout (N, N+1, N+3, N+4; the
    app's site on N+2, Studio's port in the CLI)."""
    if port == 0:
        return replace(settings, api_port=0, db_port=0, site_port=0, inbox_port=0, smtp_port=0)
    return replace(
        settings,
        api_port=port,
        db_port=port + 1,
        site_port=port + 2,
        inbox_port=port + 3,
        smtp_port=port + 4,
    )
