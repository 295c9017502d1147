"""Password rules (`internal/api/password.go`): lengths counted in UTF-8 bytes, as Go does."""

from __future__ import annotations

from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import AuthError
from synthetics.sandbox.auth.models import byte_length

MAX_PASSWORD_BYTES = 72


def check_strength(api: API, password: str) -> None:
    """checkPasswordStrength: at most 72 bytes (bcrypt), at least PASSWORD_MIN_LENGTH."""
    if byte_length(password) > MAX_PASSWORD_BYTES:
        raise AuthError(
            400,
            "validation_failed",
            f"Password cannot be longer than {MAX_PASSWORD_BYTES} characters",
        )
    minimum = api.settings.password_min_length
    if byte_length(password) < minimum:
        raise AuthError(
            422,
            "weak_password",
            f"Password should be at least {minimum} characters.",
            weak_password={"reasons": ["length"]},
        )
