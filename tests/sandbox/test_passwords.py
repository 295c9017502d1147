"""Stored passwords: bcrypt at the configured work factor, and hashes of any cost verified (a user
whose password GoTrue itself hashed at its cost 10 signs in)."""

from __future__ import annotations

import bcrypt
import httpx
import psycopg

from synthetics.sandbox.server import Sandbox, SandboxInfo

from .authwire import PASSWORD, address, sign_in


def _create(admin: httpx.Client, email: str, cleanup: list[str], password: str = PASSWORD) -> str:
    response = admin.post(
        "/admin/users", json={"email": email, "password": password, "email_confirm": True}
    )
    assert response.status_code == 200, response.text
    cleanup.append(response.json()["id"])
    return str(response.json()["id"])


def _only_the_new_password_signs_in(auth: httpx.Client, email: str) -> None:
    assert sign_in(auth, email).status_code == 200
    assert sign_in(auth, email, "an-older-password").status_code == 400


def _stored(info: SandboxInfo, user_id: str) -> str:
    with psycopg.connect(info.db_url) as conn:
        row = conn.execute(
            "select encrypted_password from auth.users where id = %s", (user_id,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_passwords_are_stored_as_bcrypt_at_the_configured_cost(
    sandbox: Sandbox, admin: httpx.Client, auth: httpx.Client, cleanup: list[str]
) -> None:
    email = address()
    stored = _stored(sandbox.info, _create(admin, email, cleanup))
    cost = sandbox.settings.auth.password_hash_cost
    assert stored.startswith(f"$2b${cost:02d}$")
    assert PASSWORD not in stored
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    assert sign_in(auth, email).status_code == 200
    assert sign_in(auth, email, "not-the-password").status_code == 400


def test_a_password_hashed_at_gotrues_cost_signs_in(
    sandbox: Sandbox, admin: httpx.Client, auth: httpx.Client, cleanup: list[str]
) -> None:
    email = address()
    user_id = _create(admin, email, cleanup, password="an-older-password")
    gotrue = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10, prefix=b"2a")).decode()
    with psycopg.connect(sandbox.info.db_url) as conn:
        conn.execute(
            "update auth.users set encrypted_password = %s where id = %s", (gotrue, user_id)
        )
    _only_the_new_password_signs_in(auth, email)


def test_a_changed_password_is_hashed_anew_at_the_configured_cost(
    sandbox: Sandbox, admin: httpx.Client, auth: httpx.Client, cleanup: list[str]
) -> None:
    email = address()
    user_id = _create(admin, email, cleanup, password="an-older-password")
    changed = admin.put(f"/admin/users/{user_id}", json={"password": PASSWORD})
    assert changed.status_code == 200, changed.text
    cost = sandbox.settings.auth.password_hash_cost
    assert _stored(sandbox.info, user_id).startswith(f"$2b${cost:02d}$")
    _only_the_new_password_signs_in(auth, email)
