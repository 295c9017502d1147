"""Auth's credentials: HS256 access tokens, refresh tokens, link tokens and PKCE."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jwt

_REFRESH_ALPHABET = string.ascii_lowercase + string.digits
REFRESH_TOKEN_LENGTH = 12


class InvalidToken(Exception):
    """A JWT that does not verify; `expired` tells the two PostgREST/GoTrue cases apart."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def issue_access_token(
    *,
    secret: str,
    issuer: str,
    user: Mapping[str, Any],
    session_id: str,
    amr: Sequence[Mapping[str, Any]],
    now: float,
    ttl: int,
) -> tuple[str, int]:
    """Sign an access token for `user`; returns the token and its `expires_at`.

    Claims in the order GoTrue's AccessTokenClaims marshals them; `amr` holds the session's
    `{"method", "timestamp"}` entries, most recent first (omitted when empty, like `aal`).
    """
    iat = int(now)
    exp = iat + ttl
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": str(user["id"]),
        "aud": user.get("aud") or "authenticated",
        "exp": exp,
        "iat": iat,
        "email": user.get("email") or "",
        "phone": user.get("phone") or "",
        "app_metadata": user.get("raw_app_meta_data") or {},
        "user_metadata": user.get("raw_user_meta_data") or {},
        "role": user.get("role") or "",
        "aal": "aal1",
    }
    if amr:
        claims["amr"] = [dict(entry) for entry in amr]
    if session_id:
        claims["session_id"] = session_id
    claims["is_anonymous"] = bool(user.get("is_anonymous"))
    return jwt.encode(claims, secret, "HS256", headers={"typ": "JWT"}), exp


def decode(token: str, secret: str, *, now: float | None = None) -> dict[str, Any]:
    """Verify an HS256 JWT and return its claims (audience is the caller's business).

    Time claims are checked against `now` (the sandbox clock), as golang-jwt does by default:
    `exp` (expired from that second on) and `nbf` without leeway, `iat` not at all. Messages
    follow golang-jwt's wording.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise InvalidToken("token signature is invalid: signature is invalid") from None
    except jwt.InvalidAlgorithmError:
        raise InvalidToken("token signature is invalid: signing method is invalid") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"token is malformed: {exc}") from None
    current = time.time() if now is None else now
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if isinstance(exp, int | float) and current >= exp:
        raise InvalidToken("token has invalid claims: token is expired", expired=True)
    if isinstance(nbf, int | float) and current < nbf:
        raise InvalidToken("token has invalid claims: token is not valid yet")
    return claims


def new_refresh_token() -> str:
    """A refresh token in GoTrue's default format: 12 characters of [a-z0-9]."""
    return "".join(secrets.choice(_REFRESH_ALPHABET) for _ in range(REFRESH_TOKEN_LENGTH))


def is_refresh_token_shaped(token: str) -> bool:
    """Whether `token` could be a refresh token at all (else GoTrue says validation_failed)."""
    return len(token) == REFRESH_TOKEN_LENGTH and all(c in _REFRESH_ALPHABET for c in token)


def new_email_otp(length: int = 6) -> str:
    """An email one-time password: `length` random digits (crypto.GenerateOtp)."""
    return "".join(secrets.choice(string.digits) for _ in range(length))


def token_hash(email: str, otp: str) -> str:
    """GoTrue's link token: hex SHA-224 of the email followed by the OTP."""
    return hashlib.sha224((email + otp).encode()).hexdigest()


def pkce_challenge_matches(verifier: str, challenge: str, method: str) -> bool:
    """Whether `verifier` answers a stored PKCE `challenge` (methods s256 and plain)."""
    if method.lower() == "s256":
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return hmac.compare_digest(computed, challenge)
    return hmac.compare_digest(verifier, challenge)
