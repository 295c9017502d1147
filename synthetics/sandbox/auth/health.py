"""GET /health, /settings and /.well-known/jwks.json (GoTrue's api.go, settings.go, jwks.go)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from synthetics import __version__
from synthetics.sandbox.auth.api import API

_PROVIDERS = (
    "anonymous_users", "apple", "azure", "bitbucket", "discord", "facebook", "figma", "github",
    "gitlab", "google", "keycloak", "kakao", "linkedin_oidc", "notion", "phone", "slack_oidc",
    "spotify", "twitch", "twitter", "workos",
)  # fmt: skip


async def health(api: API, request: Request) -> Response:
    """GET /health."""
    return JSONResponse(
        {
            "version": f"synthetics-sandbox-{__version__}",
            "name": "GoTrue",
            "description": "GoTrue is a user registration and authentication API",
        }
    )


async def settings(api: API, request: Request) -> Response:
    """GET /settings: which providers are on and whether confirmation is required."""
    external = {name: False for name in _PROVIDERS}
    external["email"] = True
    return JSONResponse(
        {
            "external": dict(sorted(external.items())),
            "disable_signup": api.settings.disable_signup,
            "mailer_autoconfirm": api.autoconfirm(),
            "phone_autoconfirm": False,
            "sms_provider": "",
            "saml_enabled": False,
        }
    )


async def jwks(api: API, request: Request) -> Response:
    """GET /.well-known/jwks.json: empty for an HS256-only project."""
    return JSONResponse({"keys": []})
