"""What a Supabase API key claims to be, read from the key alone (no request, no signature check).

    read_key(value)     → Key: its kind, the role it claims, its project ref, when it expires
    project_ref(url)    → the `<ref>` of `https://<ref>.supabase.co` (None for other hosts)
    judge_keys(…)       → one Finding a key: the key it claims to be, or what is wrong

Legacy keys are JWTs whose `role` claim says `anon` or `service_role` (hosted ones also carry
the project's `ref`; the Supabase CLI's demo keys do not). The signature is not checked: only
the target can, and reading the claims is enough to tell an anon key from a service key. New
opaque keys carry no claims; their prefix says what they are: `sb_publishable_…` stands where
the anon key did, `sb_secret_…` where the service-role key did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import jwt

from synthetics.findings import Finding, fail, ok

PUBLISHABLE_PREFIX = "sb_publishable_"
SECRET_PREFIX = "sb_secret_"
#: Hosted project URLs: `https://<ref>.supabase.co` (`.in` for older projects).
_HOSTED = re.compile(r"^([a-z0-9]+)\.supabase\.(?:co|in)$")
#: What each configured key must claim to be.
EXPECTED = {"anon_key": "anon", "service_role_key": "service_role"}
_NAMES = {"anon": "an anon (publishable) key", "service_role": "a service-role (secret) key"}


@dataclass(frozen=True)
class Key:
    """What one key says about itself."""

    kind: Literal["jwt", "publishable", "secret", "unreadable"]
    #: `anon` / `service_role` (opaque keys: from their prefix), another claim, or None.
    role: str | None = None
    ref: str | None = None
    expires: datetime | None = None
    problem: str = ""

    def describe(self) -> str:
        """`a JWT with role anon for project abcd`, `an sb_secret_ key`, …"""
        if self.kind == "publishable":
            return f"an {PUBLISHABLE_PREFIX}… key"
        if self.kind == "secret":
            return f"an {SECRET_PREFIX}… key"
        if self.kind == "unreadable":
            return "not a key"
        role = f"role {self.role}" if self.role else "no role claim"
        project = f" for project {self.ref}" if self.ref else ""
        return f"a JWT with {role}{project}"


def read_key(value: str) -> Key:
    """The kind, role, project and expiry a key claims (never raises)."""
    value = value.strip()
    if value.startswith(PUBLISHABLE_PREFIX):
        return Key("publishable", role="anon")
    if value.startswith(SECRET_PREFIX):
        return Key("secret", role="service_role")
    try:
        claims = jwt.decode(value, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        return Key("unreadable", problem=type(exc).__name__)
    role, ref, exp = claims.get("role"), claims.get("ref"), claims.get("exp")
    expires = None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        try:
            expires = datetime.fromtimestamp(exp, UTC)
        except (OverflowError, OSError, ValueError):
            expires = None
    return Key(
        "jwt",
        role=role if isinstance(role, str) else None,
        ref=ref if isinstance(ref, str) else None,
        expires=expires,
    )


def project_ref(url: str) -> str | None:
    """The project ref of a hosted project's URL; None for a custom domain or a local URL."""
    host = (urlsplit(url).hostname or "").lower()
    match = _HOSTED.match(host)
    return match.group(1) if match else None


def judge_keys(keys: dict[str, str | None], url: str, now: datetime) -> list[Finding]:
    """One finding for each configured key of `keys` (`anon_key`, `service_role_key`)."""
    read = {name: read_key(value) for name, value in keys.items() if value}
    claimed = {name: key.role for name, key in read.items()}
    swapped = (
        claimed.get("anon_key") == "service_role" and claimed.get("service_role_key") == "anon"
    )
    url_ref = project_ref(url)
    refs = {key.ref for key in read.values() if key.ref}
    findings = []
    for name, key in read.items():
        finding_id = f"keys.{name}"
        expected = EXPECTED[name]
        if key.kind == "unreadable":
            findings.append(
                fail(
                    finding_id,
                    f"{name} is neither a JWT nor an {PUBLISHABLE_PREFIX}/{SECRET_PREFIX} key "
                    f"({key.problem})",
                    f"copy the project's {expected} key from the dashboard's API settings",
                )
            )
            continue
        if swapped:
            findings.append(
                fail(
                    finding_id,
                    f"anon_key and service_role_key are swapped: {name} is {key.describe()}",
                    "exchange the two values (anon_key ↔ service_role_key)",
                )
            )
            continue
        if key.role != expected:
            findings.append(fail(finding_id, *_wrong_role(name, key)))
            continue
        if key.expires is not None and key.expires <= now:
            findings.append(
                fail(
                    finding_id,
                    f"{name} expired at {key.expires:%Y-%m-%d %H:%M} UTC",
                    "copy the project's current keys",
                )
            )
            continue
        if key.ref and url_ref and key.ref != url_ref:
            findings.append(
                fail(
                    finding_id,
                    f"{name} is for project {key.ref} but url is project {url_ref}",
                    "use the keys of the project the url names (or the url of the keys')",
                )
            )
            continue
        if key.ref and not url_ref and len(refs) > 1:
            findings.append(
                fail(
                    finding_id,
                    f"the keys are for different projects ({', '.join(sorted(refs))})",
                    "copy both keys from the same project",
                )
            )
            continue
        where = f", project {key.ref} as the url says" if key.ref and url_ref else ""
        findings.append(ok(finding_id, f"{name} is {key.describe()}{where}"))
    return findings


def _wrong_role(name: str, key: Key) -> tuple[str, str]:
    """(message, fix) for a key that claims another role than its place needs."""
    expected = EXPECTED[name]
    if name == "anon_key" and key.role == "service_role":
        return (
            f"anon_key is {key.describe()}: a service-role key bypasses RLS, so every probe "
            "meant for the public would run as admin (the security checks would be blind)",
            "set anon_key to the project's anon (publishable) key",
        )
    if name == "service_role_key" and key.role == "anon":
        return (
            f"service_role_key is {key.describe()}: the admin API refuses it (no cleanup, no "
            "admin fallback user)",
            "set service_role_key to the project's service-role (secret) key",
        )
    return (
        f"{name} is {key.describe()}, not {_NAMES[expected]}",
        f"set {name} to the project's {expected} key",
    )
