"""`synthetics janitor [--target T] [--older-than 1h] [--dry-run]`: delete what runs left behind.

A run deletes its own users in its teardown, even when interrupted; a run that was killed
(SIGKILL, a lost runner) cannot. The janitor finds and deletes, on a real target:
- throwaway users older than the cut-off, with the rows they own (`[cleanup] owned_rows`):
  users whose metadata says `synthetic: true` *and* carries a run id (`synthetics_run_id`), as
  every run marks them (`synthetics.users.throwaway_run`); nothing else is ever touched;
- profiles a killed run left after its auth user went (Mamapace's `user_profiles` has no
  foreign key to auth.users): rows of `[cleanup] username_column`'s table whose username is an
  address a run signs up with (the inbox's address for `<run id>-<role>`, as the profile
  trigger derives it: the local part, lower-cased, perhaps with `_` and 6 hex digits) and whose
  id the admin API confirms is no user. Providers that pick addresses themselves (MailSlurp)
  cannot be matched: the janitor says so and leaves profiles alone.

Every user page is read before anything is deleted (deleting while paging would shift the
pages). Each deletion is verified by asking the target again. One line per user or profile;
exit 0 when everything found was deleted (or, with `--dry-run`, would be: nothing is deleted),
1 when something could not be deleted or the target could not be read, 3 for a configuration
error (nothing sent).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from synthetics.clients.http import BadResponse
from synthetics.clients.supabase import error_message
from synthetics.commands._common import (
    TargetClients,
    add_config_options,
    inbox_config,
    load,
    target_clients,
)
from synthetics.errors import ConfigError, SyntheticsError
from synthetics.users import (
    ROLE,
    RUN_ID,
    OwnedRows,
    Registry,
    Throwaway,
    clean_up,
    run_started,
    throwaway_run,
)

EXIT_OK, EXIT_FAILED = 0, 1
#: Users asked for per admin page, and profiles per REST page.
PER_PAGE = 200
PROFILES_PER_PAGE = 500
#: A tag no run makes (a placeholder while the address pattern is built).
_PLACEHOLDER = "synthetics0tag0placeholder"
_ZERO = re.compile(r"^\s*0+(?:\.0+)?\s*[smhd]?\s*$")


def add_parser(commands: Any) -> None:
    """`janitor` and its options."""
    janitor = commands.add_parser(
        "janitor",
        help="delete throwaway users (and their rows) that killed runs left on a target",
        description="Delete throwaway users older than --older-than, the rows they own, and the "
        "profiles whose user is gone. Only users a run marked (synthetic: true and a run id) "
        "are touched. Exit 0: all deleted; 1: something could not be deleted; 3: configuration.",
    )
    janitor.add_argument("--target", default=None, help="target (default: default_target)")
    janitor.add_argument(
        "--older-than",
        default="1h",
        metavar="DURATION",
        help="only what was created longer ago than this: 90s, 15m, 1h, 7d, or 0s for all "
        "(default 1h: longer than a run lasts, so no running run loses its user)",
    )
    janitor.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted; delete nothing"
    )
    add_config_options(janitor)
    janitor.set_defaults(handler=run_janitor)


def parse_age(text: str) -> timedelta:
    """`--older-than`: a duration, zero allowed (ConfigError otherwise)."""
    from synthetics.durations import parse_duration

    if _ZERO.match(text):
        return timedelta(0)
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--older-than") from None


@dataclass(frozen=True)
class Leftover:
    """A throwaway user a run did not delete."""

    id: str
    email: str
    run_id: str
    created_at: datetime | None


@dataclass(frozen=True)
class Orphan:
    """A profile whose auth user is gone, made for a run's address."""

    id: str
    username: str
    run_id: str


@dataclass
class Found:
    """What the janitor found on the target."""

    leftovers: list[Leftover] = field(default_factory=list)
    young: int = 0  # throwaway users created after the cut-off (left alone)
    others: int = 0  # users that are not throwaways (never touched)
    orphans: list[Orphan] = field(default_factory=list)
    orphan_note: str = ""  # why profiles were not searched, when they were not


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def all_users(clients: TargetClients, per_page: int = PER_PAGE) -> Iterator[dict[str, Any]]:
    """Every user, page by page (newest first), each once; stops at a short or repeated page."""
    seen: set[str] = set()
    page = 1
    while True:
        users = clients.official.users_page(page, per_page)
        fresh = [u for u in users if u["id"] not in seen]
        for user in fresh:
            seen.add(user["id"])
            yield user
        if len(users) < per_page or not fresh:
            return
        page += 1


def find_throwaways(users: Iterator[Mapping[str, Any]], cutoff: datetime, found: Found) -> None:
    """Sort users into throwaways older than `cutoff`, younger ones, and everybody else."""
    for user in users:
        run_id = throwaway_run(user.get("user_metadata") or {})
        if run_id is None:
            found.others += 1
            continue
        created = _aware(user.get("created_at"))
        if created is None or created >= cutoff:
            found.young += 1  # no creation time: not provably old, so left alone
            continue
        found.leftovers.append(
            Leftover(str(user["id"]), str(user.get("email") or ""), run_id, created)
        )


@dataclass(frozen=True)
class AddressPattern:
    """The usernames a profile trigger makes from a run's addresses."""

    python: re.Pattern[str]
    postgres: str  # the same, as a PostgREST `match` (POSIX regex) filter


def _pg_escape(text: str) -> str:
    # In a POSIX (ARE) regex a backslash before a non-alphanumeric character is that character.
    return "".join(c if c.isalnum() else "\\" + c for c in text)


def address_pattern(inbox: Any) -> AddressPattern | None:
    """The usernames a run's addresses become (lower-cased local part, maybe `_` + 6 hex digits),
    or None when the provider picks addresses itself."""
    local = inbox.local_part(_PLACEHOLDER)
    if local is None or _PLACEHOLDER not in local:
        return None
    before, after = (part.lower() for part in local.split(_PLACEHOLDER, 1))
    suffix = "_[0-9a-f]{6}"
    python = re.compile(
        rf"^{re.escape(before)}(?P<run>{RUN_ID})-{ROLE}{re.escape(after)}(?:{suffix})?$"
    )
    run_pg = r"[0-9]{8}t[0-9]{6}-[0-9a-f]{6}"
    postgres = f"^{_pg_escape(before)}{run_pg}-[a-z0-9_]+{_pg_escape(after)}({suffix})?$"
    return AddressPattern(python, postgres)


def find_orphans(
    clients: TargetClients,
    owner: OwnedRows,
    username: str,
    pattern: AddressPattern,
    cutoff: datetime,
    skip: set[str],
) -> list[Orphan]:
    """Profiles with a run's username, made before `cutoff`, whose id is no user (asked)."""
    orphans: list[Orphan] = []
    offset = 0
    while True:
        call = clients.api.service_table(
            "GET",
            owner.table,
            params={
                "select": f"{owner.column},{username}",
                username: f"match.{pattern.postgres}",
                "order": f"{owner.column}.asc",
                "limit": str(PROFILES_PER_PAGE),
                "offset": str(offset),
            },
        )
        if call.status != 200:
            raise BadResponse(
                f"listing {owner.table} answered {call.status} ({error_message(call)[:200]})"
            )
        rows = call.json()
        if not isinstance(rows, list):
            raise BadResponse(f"listing {owner.table} answered {type(rows).__name__}, not a list")
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            row_id, name = str(row.get(owner.column) or ""), row.get(username)
            match = pattern.python.match(name) if isinstance(name, str) else None
            if not row_id or match is None or row_id in skip:
                continue
            started = run_started(match.group("run"))
            if started is None or started >= cutoff:
                continue
            if clients.official.user_exists(row_id):
                continue  # somebody's live user: a profile with an address-like name, untouched
            orphans.append(Orphan(row_id, str(name), match.group("run")))
        if len(rows) < PROFILES_PER_PAGE:
            return orphans
        offset += PROFILES_PER_PAGE


def _age(created: datetime | None, now: datetime) -> str:
    if created is None:
        return "age unknown"
    seconds = max((now - created).total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f}s old"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m old"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h old"
    return f"{seconds / 86400:.0f}d old"


def _rows(rows: Mapping[str, int]) -> str:
    found = [f"{count} {spec}" for spec, count in rows.items() if count]
    return f"; rows: {', '.join(found)}" if found else ""


def _jobs(found: Found, now: datetime) -> Iterator[tuple[str, str, Registry]]:
    """(kind, what, registry to clean up) for each leftover user, then each orphan profile."""
    for leftover in found.leftovers:
        registry = Registry()
        registry.add(Throwaway("leftover", leftover.email, "", id=leftover.id))
        age = _age(leftover.created_at, now)
        yield "user", f"{leftover.email or leftover.id}  (run {leftover.run_id}, {age})", registry
    for orphan in found.orphans:
        # Only its id: cleanup deletes its rows and verifies the user is indeed gone.
        what = f"profile {orphan.username}  (run {orphan.run_id}; its user {orphan.id} is gone)"
        yield "profile", what, Registry(deleted_ids=[orphan.id])


def run_janitor(
    args: argparse.Namespace, *, out: TextIO | None = None, now: datetime | None = None
) -> int:
    """Find, then (unless --dry-run) delete and verify; one line each, then a summary."""
    stream = out or sys.stdout
    settings = load(args.config, args.sets, args.target)
    target = settings.target
    if target.sandbox:
        raise ConfigError(
            "the sandbox target starts empty for every run: nothing is left behind on it",
            key="--target",
        )
    if target.service_role_key is None:
        raise ConfigError(
            f"target {settings.target_name!r} has no service_role_key: the janitor needs the "
            "admin API",
            key=f"targets.{settings.target_name}.service_role_key",
        )
    age = parse_age(args.older_than)
    cleanup = settings.config.cleanup
    owned = [OwnedRows.parse(spec) for spec in cleanup.owned_rows]
    inbox = inbox_config(settings, url="http://127.0.0.1:54324")  # its URL plays no part
    moment = now or datetime.now(UTC)
    cutoff = moment - age
    print(
        f"janitor: target {settings.target_name}, created before {cutoff:%Y-%m-%d %H:%M:%S} UTC "
        f"(--older-than {args.older_than})"
        + (", dry run: nothing is deleted" if args.dry_run else ""),
        file=stream,
    )
    longest = settings.config.run_timeout
    if age.total_seconds() < longest:
        print(
            f"janitor: note: --older-than {args.older_than} is shorter than a run may last "
            f"({longest:.0f} s): the users of a run still going would be deleted too",
            file=stream,
        )
    with target_clients(settings) as clients:
        redact = clients.redactor.redact
        found = Found()
        try:
            find_throwaways(all_users(clients), cutoff, found)
            owner_spec = cleanup.username_owner
            pattern = address_pattern(inbox)
            if owner_spec is None:
                found.orphan_note = "[cleanup] username_column is off"
            elif pattern is None:
                found.orphan_note = (
                    f"the {inbox.provider} inbox picks addresses itself, so profiles cannot be "
                    "told from anyone's"
                )
            else:
                skip = {leftover.id for leftover in found.leftovers}
                username = cleanup.username_column.partition(".")[2]
                found.orphans = find_orphans(
                    clients, OwnedRows.parse(owner_spec), username, pattern, cutoff, skip
                )
        except SyntheticsError as exc:
            print(redact(f"janitor: cannot read the target: {exc}"), file=stream)
            return EXIT_FAILED
        failed = {"user": 0, "profile": 0}
        for kind, what, registry in _jobs(found, moment):
            if args.dry_run:
                print(redact(f"would delete   {what}"), file=stream)
                continue
            report = clean_up(registry, admin=clients.official, rows_api=clients.api, owned=owned)
            if report.verified:
                line = f"deleted        {what}{_rows(report.rows_deleted)}"
            else:
                failed[kind] += 1
                line = f"NOT DELETED    {what}: {'; '.join(report.problems) or 'unverified'}"
            print(redact(line), file=stream)
    users, profiles = len(found.leftovers), len(found.orphans)
    if args.dry_run:
        done = f"would delete {users} throwaway user(s) and {profiles} orphan profile(s)"
    else:
        done = (
            f"deleted {users - failed['user']} throwaway user(s) and "
            f"{profiles - failed['profile']} orphan profile(s)"
        )
    parts = [done, f"{found.others} other user(s) untouched"]
    total_failed = failed["user"] + failed["profile"]
    if total_failed:
        parts.append(f"{total_failed} could not be deleted (see NOT DELETED above)")
    if found.young:
        parts.append(f"{found.young} throwaway user(s) newer than the cut-off left alone")
    if found.orphan_note:
        parts.append(f"profiles not searched: {found.orphan_note}")
    print(redact("janitor: " + "; ".join(parts)), file=stream)
    return EXIT_FAILED if total_failed else EXIT_OK
