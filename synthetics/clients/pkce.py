"""PKCE as supabase-js does it: a random verifier and its S256 challenge."""

from __future__ import annotations

import base64
import hashlib
import secrets


def new_verifier() -> str:
    """A code verifier: 56 random URL-safe characters (within RFC 7636's 43-128)."""
    return secrets.token_urlsafe(42)


def challenge(verifier: str) -> str:
    """The S256 challenge of `verifier`."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
