"""PKCE for email links (`internal/api/pkce.go`, `models/flow_state.go`).

A link requested with a code challenge stores its token as `pkce_<token hash>` and a flow state;
clicking it redirects with `?code=<auth code>`, which POST /token?grant_type=pkce exchanges.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.errors import UNEXPECTED, AuthError
from synthetics.sandbox.auth.models import Conn

PREFIX = "pkce_"
#: models.ParseAuthenticationMethod for the verification types of GET /verify.
AUTH_METHODS = {
    "signup": "email/signup",
    "invite": "invite",
    "recovery": "recovery",
    "magiclink": "magiclink",
    "email_change": "email_change",
}
_CHALLENGE_CHARS = re.compile(r"[a-zA-Z._~0-9-]+")


def check_params(challenge: str, method: str) -> None:
    """validatePKCEParams (the method itself is only parsed when the flow state is made)."""
    if bool(challenge) != bool(method):
        raise AuthError(
            400, "validation_failed", "PKCE flow requires code_challenge_method and code_challenge"
        )
    if not challenge:
        return
    if not 43 <= len(challenge) <= 128:
        raise AuthError(
            400, "validation_failed", "code challenge has to be between 43 and 128 characters"
        )
    if not _CHALLENGE_CHARS.fullmatch(challenge):
        raise AuthError(
            400,
            "validation_failed",
            "code challenge can only contain alphanumeric characters, hyphens, periods,"
            " underscores and tildes",
        )


def with_prefix(token: str, pkce: bool) -> str:
    """addFlowPrefixToToken."""
    return PREFIX + token if pkce else token


async def new_flow_state(
    api: API,
    conn: Conn,
    user_id: Any,
    challenge: str,
    method: str,
    *,
    authentication_method: str = "email/signup",
    provider_type: str = "email",
) -> None:
    """generateFlowState; an unknown challenge method fails only here (a 500)."""
    if method.lower() not in ("s256", "plain"):
        raise AuthError(500, "unexpected_failure", UNEXPECTED)
    now = api.now()
    await conn.execute(
        "insert into auth.flow_state (id, user_id, auth_code, code_challenge_method,"
        " code_challenge, provider_type, created_at, updated_at, authentication_method)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            user_id,
            str(uuid.uuid4()),
            method.lower(),
            challenge,
            provider_type,
            now,
            now,
            authentication_method,
        ),
    )


async def issue_auth_code(api: API, conn: Conn, user_id: Any, method: str) -> str:
    """issueAuthCode: the user's latest flow state for this authentication method."""
    cur = await conn.execute(
        "select id, auth_code from auth.flow_state where user_id = %s"
        " and authentication_method = %s order by created_at desc limit 1",
        (user_id, method),
    )
    row = await cur.fetchone()
    if row is None:
        # A 422 inside, re-wrapped by verifyGet as a 400 whose text embeds the first.
        raise AuthError(
            400,
            "flow_state_not_found",
            "No associated flow state found. 422: No valid flow state found for user.",
        )
    now = api.now()
    await conn.execute(
        "update auth.flow_state set auth_code_issued_at = %s, updated_at = %s where id = %s",
        (now, now, row["id"]),
    )
    return str(row["auth_code"])
