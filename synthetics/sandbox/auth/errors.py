"""GoTrue's error answers (`internal/api/errors.go`, `apierrors/`).

`AuthError` is an HTTP error with GoTrue's error code, rendered in the format the request's
`X-Supabase-Api-Version` asks for; `OAuthError` is the older `{"error", "error_description"}`
body, always a 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024 = "2024-01-01"
UNEXPECTED = "Unexpected failure, please check server logs for more information"
DUPLICATE_EMAIL = "A user with this email address has already been registered"
#: oauthErrorMap: the `error` of an error redirect, by HTTP status.
OAUTH_ERRORS = {
    400: "invalid_request",
    401: "unauthorized_client",
    403: "access_denied",
    500: "server_error",
    503: "temporarily_unavailable",
}


class AuthError(Exception):
    """An error GoTrue answers with: HTTP status, error code, message and optional extra keys."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


class OAuthError(Exception):
    """GoTrue's older OAuth-style error body: `{"error", "error_description"}`, always 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def wants_2024_errors(request: Request) -> bool:
    """DetermineClosestAPIVersion: a valid date on or after 2024-01-01 selects the new format."""
    version = request.headers.get(API_VERSION_HEADER, "")
    try:
        parsed = datetime.strptime(version, "%Y-%m-%d")
    except ValueError:
        return False
    return len(version) == 10 and parsed >= datetime(2024, 1, 1)


def error_response(request: Request, error: AuthError) -> JSONResponse:
    """Render `error` the way GoTrue's HandleResponseError does for this request's API version."""
    headers: dict[str, str] = {}
    new_format = wants_2024_errors(request)
    if new_format:
        headers[API_VERSION_HEADER] = API_VERSION_2024
        body: dict[str, Any] = {"code": error.code, "message": error.message}
    else:
        body = {"code": error.status, "error_code": error.code, "msg": error.message}
    # The weak-password branch sets x-sb-error-code only in the legacy format.
    if not (new_format and error.code == "weak_password"):
        headers["x-sb-error-code"] = error.code
    body.update(error.extra)
    return JSONResponse(body, status_code=error.status, headers=headers)


def oauth_error_response(request: Request, error: OAuthError) -> JSONResponse:
    """handleResponseErrorOAuth (HandleResponseError still echoes the API version)."""
    body = {"error": error.error, "error_description": error.description}
    headers = {API_VERSION_HEADER: API_VERSION_2024} if wants_2024_errors(request) else {}
    return JSONResponse(body, status_code=400, headers=headers)


def frequency_limited(wait_s: float) -> AuthError:
    """generateFrequencyLimitErrorMessage: the seconds left, truncated as Go's division does."""
    return AuthError(
        429,
        "over_email_send_rate_limit",
        f"For security purposes, you can only request this after {int(wait_s)} seconds.",
    )
