"""`synthetics doctor [--target T]`: what would go wrong, found without creating or sending.

One line an item — `ok`, `warn`, `fail`, `unknown` (could not be decided, with the reason) or
`skip` — with the fix; exit 1 on any `fail`, 3 when the configuration itself cannot be loaded.
Nothing is created and nothing is sent: no user, no email, no notification, no history row.

    config        every resolved value and where it came from (secrets masked)
    environment   `SYNTHETICS_…` variables that are not config keys (ignored)
    target        DNS, TLS and reachability (the run's transport and its timing phases)
    keys          what each key claims (role, project ref, expiry) and whether the target
                  takes it (`GET /auth/v1/settings`, `GET /auth/v1/admin/users?per_page=1`)
    auth          `GET /auth/v1/settings`: email provider on, sign-ups on, autoconfirm off
    redirect      the deep link on the allow-list, asked through GET /verify with an
                  impossible token (synthetics.deeplink.allow_list explains why that sends
                  nothing)
    inbox         the provider's `check()` (reachable, authenticated, nothing changed)
    browser       the Chromium the browser checks would use
    history       the store's schema version, read only (a missing file is not created)
    alerts        each channel (synthetics.alerting.probe) and the heartbeat's host
    db            `db_url`'s role: connects read-only, what it can read, whether it can write
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, SecretStr

from synthetics.commands._common import TargetClients, add_config_options, inbox_config, load
from synthetics.config import Settings, config_environment, secret_values
from synthetics.errors import ConfigError, HistoryError, SyntheticsError
from synthetics.findings import Finding, Level, fail, ok, skip, unknown, warn
from synthetics.redact import Redactor
from synthetics.text import one_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 3
#: Dict keys whose values are masked where the config holds plain dicts (inbox tables).
_SECRET_KEYS = ("key", "password", "secret", "token")
#: Lists longer than this are shown cut (with their length).
_LIST_ITEMS = 6


def add_parser(commands: Any) -> None:
    """`doctor` and its options."""
    doctor = commands.add_parser(
        "doctor",
        help="check config, keys, connectivity, auth settings, inbox, browser, history, alert "
        "channels and db_url — creates nothing, sends nothing",
        description="Tell what would go wrong, without creating a user or sending an email or a "
        "notification. One line an item (ok, warn, fail, unknown, skip) with the fix; exit 1 on "
        "any fail, 3 when the configuration cannot be loaded.",
    )
    doctor.add_argument("--target", default=None, help="target (default: default_target)")
    add_config_options(doctor)
    doctor.set_defaults(handler=run_doctor)


# -- config -----------------------------------------------------------------------------------


def _render(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "<secret>"
    if value is None:
        return "(unset)"
    if isinstance(value, Mapping):
        return "{}"  # an empty table (a full one is shown key by key)
    if isinstance(value, list | tuple):
        shown = ", ".join(_render(v) for v in value[:_LIST_ITEMS])
        more = f", … ({len(value)} in all)" if len(value) > _LIST_ITEMS else ""
        return f"[{shown}{more}]"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaves(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every setting under `value`; SecretStr and lists are leaves."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _leaves(getattr(value, name), (*path, name))
    elif isinstance(value, Mapping):
        if not value:
            yield path, {}
        for key, item in value.items():
            if isinstance(item, str) and any(s in str(key).lower() for s in _SECRET_KEYS):
                item = SecretStr(item)
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        for n, item in enumerate(value):
            yield from _leaves(item, (*path, str(n)))
    else:
        yield path, value


def config_lines(settings: Settings) -> list[str]:
    """Every resolved value with its source; each section's defaults on one line."""
    config = settings.config
    lines = []
    for section in type(config).model_fields:
        value: Any = getattr(config, section)
        if section == "targets":  # only the selected one: the others are not even resolved
            value = {settings.target_name: settings.target}
        if section == "inbox":
            value = settings.inbox
        defaults = []
        for path, leaf in _leaves(value, (section,)):
            source = settings.source_of(*path)
            if section == "inbox" and source == "defaults":
                source = settings.source_of("targets", settings.target_name, "inbox")
            if source == "defaults":
                defaults.append(f"{'.'.join(path[1:]) or section}={_render(leaf)}")
            else:
                lines.append(f"  {'.'.join(path)} = {_render(leaf)}  ({source})")
        if defaults:
            lines.append(f"  {section}: defaults — {', '.join(defaults)}")
    return lines


def environment_findings(env: Mapping[str, str]) -> list[Finding]:
    """The `SYNTHETICS_…` variables that are ignored (not config keys), if any."""
    used, ignored = config_environment(env)
    if ignored:
        return [
            warn(
                "environment",
                f"ignored (not config keys): {', '.join(ignored)}"
                + (f"; used: {', '.join(used)}" if used else ""),
                "a config key is SYNTHETICS_<SECTION>__<KEY> (e.g. "
                "SYNTHETICS_THRESHOLDS__EMAIL_TIMEOUT_S); leave them if they are another tool's",
            )
        ]
    what = f"used: {', '.join(used)}" if used else "none set"
    return [ok("environment", f"no SYNTHETICS_ variable is ignored ({what})")]


# -- the target -------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def reach_findings(url: str, anon: str, client: httpx.Client) -> list[Finding]:
    """DNS, TLS and an HTTP answer from Auth and REST, with the transport's timing phases."""
    from synthetics.clients.transport import phases

    parts = urlsplit(url)
    host = parts.hostname or ""
    headers = {"apikey": anon, "Authorization": f"Bearer {anon}"}
    try:
        response = client.get(f"{url.rstrip('/')}/auth/v1/health", headers=headers)
    except httpx.TransportError as exc:
        text = one_line(str(exc), limit=160)
        if "cannot resolve" in text:
            return [
                fail("target.dns", f"{host} does not resolve ({text})", "check url (the ref)"),
                skip("target.reach", "blocked: the host does not resolve"),
            ]
        if "SSL" in text or "certificate" in text.lower():
            return [
                ok("target.dns", f"{host} resolves"),
                fail(
                    "target.tls",
                    f"TLS with {host} failed: {text}",
                    "the certificate must be valid for the host (a proxy in the way?)",
                ),
                skip("target.reach", "blocked: TLS failed"),
            ]
        return [
            ok("target.dns", f"{host} resolves"),
            fail(
                "target.reach",
                f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)} cannot be "
                f"reached: {type(exc).__name__}: {text}",
                "check url, and that the project is not paused",
            ),
        ]
    timing = phases(response)
    found = []
    dns = f" ({_ms(timing.dns)})" if timing is not None and not timing.reused else ""
    found.append(ok("target.dns", f"{host} resolves{dns}"))
    if parts.scheme == "https":
        tls = f" in {_ms(timing.tls)}" if timing is not None and not timing.reused else ""
        found.append(ok("target.tls", f"TLS handshake with {host}{tls}"))
    elif host in ("127.0.0.1", "localhost", "::1"):
        found.append(skip("target.tls", "plain http on loopback"))
    else:
        found.append(
            warn(
                "target.tls",
                f"plain http to {host}: keys and tokens cross the network unencrypted",
                "use the https URL",
            )
        )
    wait = f", wait {_ms(timing.wait)}" if timing is not None else ""
    total = f" in {_ms(timing.total)}{wait}" if timing is not None else ""
    if response.status_code == 200:
        found.append(ok("target.reach", f"Auth health answered 200{total}"))
    else:
        found.append(
            fail(
                "target.reach",
                f"Auth health answered {response.status_code}{total}",
                "check url (it must be the project URL, not the dashboard's)",
            )
        )
    try:
        rest = client.get(f"{url.rstrip('/')}/rest/v1/", headers=headers)
    except httpx.TransportError as exc:
        found.append(fail("target.rest", f"REST cannot be reached: {type(exc).__name__}"))
    else:
        if rest.status_code == 200:
            found.append(ok("target.rest", "REST answered 200"))
        else:
            found.append(fail("target.rest", f"REST answered {rest.status_code}", ""))
    return found


def _keys(settings: Settings) -> dict[str, str | None]:
    target = settings.target
    return {
        "anon_key": target.anon_key.get_secret_value() if target.anon_key else None,
        "service_role_key": (
            target.service_role_key.get_secret_value() if target.service_role_key else None
        ),
    }


def claim_findings(settings: Settings, now: datetime) -> list[Finding]:
    """What the keys claim to be, read from the keys alone."""
    from synthetics.clients.keys import judge_keys

    return judge_keys(_keys(settings), settings.target.url, now)


def key_findings(settings: Settings, clients: TargetClients, now: datetime) -> list[Finding]:
    """What the keys claim, and whether the admin API takes the service key (read only)."""
    found = claim_findings(settings, now)
    if settings.target.service_role_key is None:
        found.append(
            warn(
                "keys.service_role_key",
                "not configured: no cleanup of throwaway users, no admin fallback user, no janitor",
                f"set targets.{settings.target_name}.service_role_key",
            )
        )
        return found
    try:
        call = clients.api.admin_newest_users(1)
    except SyntheticsError as exc:
        found.append(unknown("keys.admin", f"the admin API could not be asked: {exc}"))
        return found
    if call.status == 200:
        found.append(ok("keys.admin", "the admin API takes service_role_key"))
    else:
        found.append(
            fail(
                "keys.admin",
                f"the admin API refused service_role_key ({call.status})",
                "set service_role_key to this project's service-role (secret) key",
            )
        )
    return found


def auth_findings(clients: TargetClients) -> list[Finding]:
    """Auth's public settings: email provider, sign-ups, autoconfirm (the anon key is used)."""
    try:
        call = clients.api.settings()
    except SyntheticsError as exc:
        return [unknown("auth.settings", f"GET /auth/v1/settings failed: {exc}")]
    if call.status in (401, 403):
        return [
            fail(
                "keys.anon_key",
                f"the target refused anon_key ({call.status} on /auth/v1/settings)",
                "set anon_key to this project's anon (publishable) key",
            )
        ]
    try:
        body = call.json_object()
    except SyntheticsError as exc:
        return [unknown("auth.settings", f"GET /auth/v1/settings: {exc}")]
    if call.status != 200:
        return [unknown("auth.settings", f"GET /auth/v1/settings answered {call.status}")]
    external = body.get("external")
    email = external.get("email") if isinstance(external, Mapping) else None
    found = []
    if email is True:
        found.append(ok("auth.email_provider", "the email provider is on"))
    elif email is False:
        found.append(
            fail(
                "auth.email_provider",
                "the email provider is off: every sign-up is refused (email_provider_disabled)",
                "Authentication → Providers → Email: enable",
            )
        )
    else:
        found.append(unknown("auth.email_provider", "settings do not say (no external.email)"))
    signups = body.get("disable_signup")
    if signups is False:
        found.append(ok("auth.signups", "sign-ups are on"))
    elif signups is True:
        found.append(
            fail(
                "auth.signups",
                "sign-ups are off: new users are refused (signup_disabled), auth.signup critical",
                "Authentication → Settings → Allow new users to sign up: on",
            )
        )
    else:
        found.append(unknown("auth.signups", "settings do not say (no disable_signup)"))
    autoconfirm = body.get("mailer_autoconfirm")
    if autoconfirm is False:
        found.append(ok("auth.autoconfirm", "email confirmation is required (autoconfirm off)"))
    elif autoconfirm is True:
        found.append(
            warn(
                "auth.autoconfirm",
                "autoconfirm is on: no confirmation email is sent (config drift: the email "
                "and deep-link checks cannot run), auth.settings warning",
                "Authentication → Providers → Email → Confirm email: on",
            )
        )
    else:
        found.append(unknown("auth.autoconfirm", "settings do not say (no mailer_autoconfirm)"))
    return found


def redirect_findings(settings: Settings, clients: TargetClients) -> list[Finding]:
    """The deep link on the allow-list (GET /verify with an impossible token: nothing sent)."""
    from synthetics.deeplink import allow_list

    redirect = settings.config.deeplink.redirect
    try:
        call = clients.api.verify_probe(allow_list.probe_params(redirect))
    except SyntheticsError as exc:
        return [unknown(allow_list.ID, f"the probe could not be sent: {exc}")]
    return [allow_list.judge(call.status, call.response.headers.get("location"), redirect)]


# -- the rest ---------------------------------------------------------------------------------


def inbox_findings(settings: Settings, client: httpx.Client) -> list[Finding]:
    """The inbox provider's `check()`: reachable, authenticated, nothing changed."""
    from synthetics.inbox import InboxError, build_inbox

    if settings.target.sandbox:
        return [skip("inbox", "the sandbox target reads its own Mailpit, started by each run")]
    try:
        config = inbox_config(settings)
    except ConfigError as exc:
        return [fail("inbox", str(exc), "fix the [inbox] table")]
    inbox = build_inbox(config, http=client)
    try:
        said = inbox.check()
    except InboxError as exc:
        fix = "check the inbox's URL and that this machine may reach it"
        if exc.status in (401, 403):
            fix = "check the inbox's API key or password"
        elif exc.status == 404:
            fix = "check the inbox's server id / mailbox"
        elif not exc.transient and exc.status is None:
            fix = "check the inbox's credentials and folder"
        return [fail("inbox", str(exc), fix)]
    finally:
        inbox.close()
    return [ok("inbox", said)]


def browser_findings(settings: Settings) -> list[Finding]:
    """The Chromium the browser checks would start (none is started here)."""
    from synthetics.deeplink.browser import find_chromium, missing_reason, playwright_chromium

    deeplink = settings.config.deeplink
    if deeplink.browser == "off":
        return [skip("browser", 'deeplink.browser = "off": the browser checks are skipped')]
    found = find_chromium(deeplink.browser_path, playwright_path=playwright_chromium)
    if found is not None:
        return [ok("browser", f"Chromium at {found.describe()}")]
    reason = missing_reason(deeplink.browser_path)
    if deeplink.browser == "required":
        return [fail("browser", f'deeplink.browser is "required" but {reason}')]
    return [warn("browser", f"{reason}: deeplink.browser will be skipped", "")]


def history_findings(settings: Settings) -> list[Finding]:
    """The history store's schema version, read only."""
    from synthetics.history.schema import SCHEMA_VERSION
    from synthetics.history.store import inspect_store

    url = settings.config.history.resolved_url(settings.folder)
    try:
        found = inspect_store(url)
    except HistoryError as exc:
        return [fail("history", str(exc), "check [history] url")]
    where = str(found.path) if found.path is not None else found.backend
    if found.version is None:
        if found.path is not None:
            folder = next((p for p in found.path.parents if p.exists()), Path("/"))
            if not os.access(folder, os.W_OK):
                return [
                    fail(
                        "history",
                        f"no history yet at {where}, and {folder} is not writable",
                        "point [history] url somewhere writable",
                    )
                ]
        return [ok("history", f"no history yet at {where}: the first run creates it")]
    if found.version > SCHEMA_VERSION:
        return [
            fail(
                "history",
                f"{where} is at schema v{found.version}, newer than this synthetics "
                f"(v{SCHEMA_VERSION})",
                "upgrade synthetics",
            )
        ]
    later = (
        ""
        if found.version == SCHEMA_VERSION
        else f"; the next run migrates it to v{SCHEMA_VERSION}"
    )
    return [ok("history", f"{found.backend} history at {where}, schema v{found.version}{later}")]


def alert_findings(settings: Settings, client: httpx.Client) -> list[Finding]:
    """Each alert channel and the heartbeat, probed without a notification."""
    from synthetics.alerting.probe import probe_channel, probe_heartbeat

    alerts = settings.config.alerts
    found: list[Finding] = []
    if not alerts.channels:
        found.append(skip("alerts", "no channel configured ([alerts.channels.NAME])"))
    for name, config in alerts.channels.items():
        found.extend(probe_channel(name, config, client))
    found.extend(probe_heartbeat(settings.config.heartbeat, client))
    return found


_ROLE_SQL = """
select current_user,
       r.rolsuper,
       r.rolbypassrls,
       has_schema_privilege('pg_catalog', 'usage')
         and has_table_privilege('pg_catalog.pg_proc', 'select'),
       case when to_regclass('auth.users') is null then null
            else has_table_privilege('auth.users', 'select') end,
       (select array_agg(n.nspname || '.' || c.relname order by c.relname)
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
           and (has_table_privilege(c.oid, 'insert') or has_table_privilege(c.oid, 'update')
                or has_table_privilege(c.oid, 'delete') or has_table_privilege(c.oid, 'truncate'))),
       (select array_agg(n.nspname order by n.nspname) from pg_namespace n
         where n.nspname = any(%(schemas)s) and has_schema_privilege(n.oid, 'create'))
from pg_roles r where r.rolname = current_user
"""


def db_findings(settings: Settings) -> list[Finding]:
    """`db_url`'s role, in a read-only session: who, what it reads, whether it could write."""
    import psycopg

    secret = settings.target.db_url
    if secret is None:
        reason = "the sandbox's own" if settings.target.sandbox else "no db_url configured"
        return [skip("db", f"{reason}: security.advisor and the real-user figures do not apply")]
    url = secret.get_secret_value()
    try:
        with psycopg.connect(
            url,
            connect_timeout=10,
            options="-c default_transaction_read_only=on -c statement_timeout=5000",
            application_name="synthetics-doctor",
        ) as conn:
            row = conn.execute(_ROLE_SQL, {"schemas": settings.config.security.schemas}).fetchone()
    except psycopg.Error as exc:
        text = one_line(str(exc).strip().splitlines()[0] if str(exc).strip() else "", limit=160)
        return [
            fail("db", f"db_url: cannot connect ({type(exc).__name__}: {text})", "check db_url")
        ]
    if row is None:
        return [unknown("db", "db_url connects, but its role is not in pg_roles")]
    role, superuser, bypass, catalog, auth_users, writable, creatable = row
    found = [ok("db.role", f"db_url connects as {role} (read-only session)")]
    found.append(
        ok("db.catalog", "pg_catalog is readable (security.advisor)")
        if catalog
        else fail("db.catalog", f"{role} cannot read pg_catalog: security.advisor fails", "")
    )
    if auth_users is None:
        found.append(warn("db.auth_users", "auth.users does not exist (not a Supabase database?)"))
    elif auth_users:
        found.append(ok("db.auth_users", "auth.users is readable (the real-user figures)"))
    else:
        found.append(
            warn(
                "db.auth_users",
                f"{role} cannot read auth.users: the report's real-user figures are missing",
                f"grant select on auth.users to {role}",
            )
        )
    fix = "connect db_url as a read-only role (usage and select grants only)"
    if superuser:
        found.append(warn("db.writes", f"{role} is a superuser: it can write anything", fix))
    elif writable or creatable or bypass:
        what = []
        if writable:
            what.append(f"{len(writable)} table(s) (e.g. {', '.join(writable[:3])})")
        if creatable:
            what.append(f"create in {', '.join(creatable)}")
        if bypass:
            what.append("bypass RLS")
        found.append(warn("db.writes", f"{role} can write: {'; '.join(what)}", fix))
    else:
        found.append(
            ok("db.writes", f"{role} cannot write to {', '.join(settings.config.security.schemas)}")
        )
    return found


# -- the command ------------------------------------------------------------------------------


def target_findings(settings: Settings, now: datetime) -> list[Finding]:
    """Everything that asks the target (read-only requests only)."""
    from synthetics.commands._common import target_clients

    if settings.target.sandbox:
        return [skip("target", "the sandbox target is started by each run (nothing to probe)")]
    with target_clients(settings) as clients:
        anon = settings.target.anon_key.get_secret_value() if settings.target.anon_key else ""
        found = reach_findings(settings.target.url, anon, clients.http_client)
        if not any(f.id == "target.reach" and f.level is Level.OK for f in found):
            return [*found, *claim_findings(settings, now)]  # nothing more can be asked
        found.extend(key_findings(settings, clients, now))
        found.extend(auth_findings(clients))
        found.extend(redirect_findings(settings, clients))
    return found


def _client(timeout: float) -> httpx.Client:
    from synthetics.clients.transport import Transport

    return httpx.Client(timeout=timeout, transport=Transport(total_timeout=timeout))


def run_doctor(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> int:
    """Print every finding; 1 when any failed, 3 when the config cannot be loaded."""
    stream = out or sys.stdout
    environ = os.environ if env is None else env
    try:
        settings = load(args.config, args.sets, args.target)
    except ConfigError as exc:
        print(fail("config", str(exc), "fix the value named").line(), file=stream)
        return EXIT_USAGE
    redactor = Redactor()
    # A SQLite history URL is a path, shown as such; every other secret is masked.
    redactor.add(*(s for s in secret_values(settings.config) if not s.startswith("sqlite:")))
    # An inbox table that does not validate is the inbox finding's; its values stay masked.
    with contextlib.suppress(ConfigError):
        redactor.add(*secret_values(inbox_config(settings, url="http://127.0.0.1")))
    where = str(settings.path) if settings.path is not None else "built-in defaults"
    print(f"synthetics doctor: target {settings.target_name} (config {where})", file=stream)
    print("config", file=stream)
    for line in config_lines(settings):
        print(redactor.redact(line), file=stream)
    moment = now or datetime.now(UTC)
    findings: list[Finding] = [*environment_findings(environ)]
    findings.extend(target_findings(settings, moment))
    with _client(settings.config.request_timeout_s) as client:
        findings.extend(inbox_findings(settings, client))
    findings.extend(browser_findings(settings))
    findings.extend(history_findings(settings))
    with _client(settings.config.alerts.timeout_s) as client:
        findings.extend(alert_findings(settings, client))
    findings.extend(db_findings(settings))
    width = max(len(f.id) for f in findings) + 2
    for finding in findings:
        print(redactor.redact(finding.line(width)), file=stream)
    print(redactor.redact(summary(findings)), file=stream)
    return EXIT_FAILED if any(f.level is Level.FAIL for f in findings) else EXIT_OK


def summary(findings: Iterable[Finding]) -> str:
    """`doctor: 14 ok, 1 warn, 1 fail, 2 unknown, 3 skip`."""
    counts = {level: 0 for level in Level}
    for finding in findings:
        counts[finding.level] += 1
    order = (Level.OK, Level.WARN, Level.FAIL, Level.UNKNOWN, Level.SKIP)
    return "doctor: " + ", ".join(f"{counts[level]} {level.value}" for level in order)
