"""The app's own SQL, loaded into the sandbox in place of the bundled Mamapace schema.

`resolve()` turns `--migrations PATH...` into an ordered list of files:

- a Supabase CLI folder (`supabase/`, or a project holding one): `migrations/<version>_*.sql` in
  version order (files not named that way are skipped, as the CLI skips them), then the seed
  files of `[db.seed] sql_paths` (default `seed.sql`);
- any other folder: its `*.sql` files in name order;
- files and globs: in the order given (each glob's matches in name order).

The nearest `supabase/config.toml` supplies the Auth settings it sets (`auth_settings()`).

`apply()` runs each file in one transaction, statement by statement, so that a failure names the
file, the line, the statement's first words and PostgreSQL's error, and leaves nothing of that file
behind. With `continue_on_error` every statement runs under a savepoint: a failing one is rolled
back alone, reported, and the load goes on with the next statement.

Statements are split by PostgreSQL's own parser (libpg_query, through pglast), so dollar quotes,
nested comments, `E''` strings and `BEGIN ATOMIC` bodies are cut exactly where the server would
cut them. A file the parser rejects (the app's own syntax error) is split by PostgreSQL's scanner
instead, which still knows every quoting rule, so the error is reported at its statement.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from synthetics.errors import ConfigError, MigrationError
from synthetics.sandbox.reports import Failure, LoadReport
from synthetics.sandbox.settings import AuthSettings

#: The Supabase CLI's migration file name: `<version>_<name>.sql` (pkg/migration).
_MIGRATION_NAME = re.compile(r"^(\d+)_.*\.sql$")
_GLOB_CHARS = re.compile(r"[*?\[]")
_COMMENTS = ("SQL_COMMENT", "C_COMMENT")
#: Statements that open or close a transaction: each file already runs in one.
_TRANSACTION_OPEN_CLOSE = ("BEGIN_P", "START", "COMMIT", "END_P")
_TRANSACTION_ABORT = ("ROLLBACK", "ABORT_P")
_CREATE_EXTENSION = re.compile(
    r'^\s*create\s+extension\s+(?:if\s+not\s+exists\s+)?"?([A-Za-z0-9_\-]+)"?', re.IGNORECASE
)


@dataclass(frozen=True)
class SqlFile:
    """One file to apply: where it is and how messages name it."""

    path: Path
    name: str


@dataclass(frozen=True)
class Statement:
    """One statement of a file: its text, where it starts (line, character offset)."""

    text: str
    line: int
    offset: int

    def first_words(self, limit: int = 8) -> str:
        """The statement's opening words on one line, for messages."""
        words = self.text.split()
        head = " ".join(words[:limit])
        if len(head) > 72:
            head = head[:71] + "…"
        elif len(words) > limit:
            head += " …"
        return head

    @property
    def extension(self) -> str | None:
        """The extension a `CREATE EXTENSION` statement creates."""
        match = _CREATE_EXTENSION.match(self.text)
        return match.group(1) if match else None


@dataclass(frozen=True)
class Migrations:
    """The app's SQL files in load order, with the Auth settings of its config.toml."""

    files: tuple[SqlFile, ...]
    config_path: Path | None = None
    #: `[auth]` settings the config.toml sets, already mapped onto AuthSettings fields.
    auth: tuple[tuple[str, Any], ...] = ()
    #: Files a Supabase folder holds but the CLI would not apply (misnamed migrations).
    skipped: tuple[str, ...] = ()
    continue_on_error: bool = False

    def digest(self) -> str:
        """Identifies this load: file names and contents, order, and the error mode."""
        sha = hashlib.sha256()
        for item in self.files:
            sha.update(item.name.encode() + b"\0")
            sha.update(item.path.read_bytes() + b"\0")
        sha.update(b"continue" if self.continue_on_error else b"stop")
        return sha.hexdigest()[:16]

    def auth_settings(self, base: AuthSettings) -> AuthSettings:
        """`base` with what the app's config.toml sets."""
        return replace(base, **dict(self.auth)) if self.auth else base

    def extensions(self) -> dict[str, tuple[str, int]]:
        """Extensions the SQL creates, each with where it first does (file, line)."""
        found: dict[str, tuple[str, int]] = {}
        for item in self.files:
            for statement in statements(read_sql(item)):
                name = statement.extension
                if name is not None and name not in found:
                    found[name] = (item.name, statement.line)
        return found


# -- resolving PATH... ----------------------------------------------------------------------------


def _shown(path: Path, cwd: Path) -> str:
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path)


def _supabase_dir(path: Path) -> Path | None:
    """`path` as a Supabase CLI folder (itself, or the `supabase/` inside a project)."""
    for candidate in (path, path / "supabase"):
        if (candidate / "config.toml").is_file() or (candidate / "migrations").is_dir():
            return candidate
    return None


def _find_config(path: Path) -> Path | None:
    """The `supabase/config.toml` of the project `path` belongs to: the nearest one above it,
    looking no further than the repository's root."""
    start = (path if path.is_dir() else path.parent).resolve()
    for directory in (start, *start.parents):
        for candidate in (directory, directory / "supabase"):
            if candidate.name == "supabase" and (candidate / "config.toml").is_file():
                return candidate / "config.toml"
        if (directory / ".git").exists():
            break
    return None


def _sorted_sql(directory: Path) -> list[Path]:
    return sorted((p for p in directory.iterdir() if p.suffix == ".sql" and p.is_file()), key=str)


def resolve(
    paths: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    continue_on_error: bool = False,
    key: str = "--migrations",
) -> Migrations:
    """The files `--migrations PATH...` names, in load order; ConfigError (naming `key`, the
    option) for a bad PATH."""
    cwd = cwd or Path.cwd()
    if not paths:
        raise ConfigError("needs at least one PATH", key=key)
    files: list[Path] = []
    skipped: list[str] = []
    config_path: Path | None = None
    for raw in paths:
        text = str(raw)
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if _GLOB_CHARS.search(text):
            matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise ConfigError(f"{text!r} matches no file", key=key)
            files += matches
        elif path.is_dir():
            supabase = _supabase_dir(path)
            if supabase is not None:
                folder, config, misnamed = _supabase_folder(supabase)
                files += folder
                skipped += [_shown(p, cwd) for p in misnamed]
                config_path = config_path or config
            else:
                found = _sorted_sql(path)
                if not found:
                    raise ConfigError(f"{text!r} holds no .sql file", key=key)
                files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{text!r} does not exist", key=key)
        config_path = config_path or _find_config(path if path.exists() else path.parent)
    unique: list[Path] = []
    for path in files:
        if path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    for path in unique:
        try:
            path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}", key=key) from None
    auth = _auth_from_config(config_path) if config_path else ()
    return Migrations(
        files=tuple(SqlFile(p, _shown(p, cwd)) for p in unique),
        config_path=config_path,
        auth=auth,
        skipped=tuple(skipped),
        continue_on_error=continue_on_error,
    )


def _supabase_folder(supabase: Path) -> tuple[list[Path], Path | None, list[Path]]:
    """A Supabase CLI folder's migrations then seeds, its config.toml, and skipped files."""
    config_path = supabase / "config.toml" if (supabase / "config.toml").is_file() else None
    config = _read_toml(config_path) if config_path else {}
    db = config.get("db", {}) if isinstance(config.get("db"), dict) else {}
    migrations_dir = supabase / "migrations"
    files: list[Path] = []
    misnamed: list[Path] = []
    if _table(db, "migrations", config_path).get("enabled", True) and migrations_dir.is_dir():
        for path in _sorted_sql(migrations_dir):
            (files if _MIGRATION_NAME.match(path.name) else misnamed).append(path)
    seed = _table(db, "seed", config_path)
    if seed.get("enabled", True):
        patterns = seed.get("sql_paths", ["./seed.sql"])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ConfigError(
                "must be a list of paths", key="db.seed.sql_paths", source=str(config_path)
            )
        for pattern in patterns:
            # Relative to the supabase folder, as the CLI reads them; a missing seed is no error.
            matches = (Path(m) for m in glob.glob(str(supabase / pattern)))
            files += sorted(m for m in matches if m.is_file())
    return files, config_path, misnamed


def _table(parent: dict[str, Any], key: str, source: Path | None) -> dict[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError("must be a table", key=f"db.{key}", source=str(source))
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        message = f"is not valid TOML: {exc}"
        raise ConfigError(message, key="config.toml", source=str(path)) from None
    except OSError as exc:
        message = f"cannot be read: {exc.strerror}"
        raise ConfigError(message, key="config.toml", source=str(path)) from None


# -- config.toml → AuthSettings -------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_ENV = re.compile(r"^env\((\w+)\)$")


def _duration(text: str) -> float | None:
    """Seconds in a Go duration ("1s", "1m30s", "500ms"), as the CLI's config.toml writes them."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _auth_from_config(path: Path) -> tuple[tuple[str, Any], ...]:
    """The AuthSettings fields the config.toml's `[auth]` sets (the Supabase CLI's keys)."""
    config = _read_toml(path)
    source = str(path)
    auth = config.get("auth", {})
    if not isinstance(auth, dict):
        raise ConfigError("must be a table", key="auth", source=source)

    def get(key: str, kind: type | tuple[type, ...], table: dict[str, Any] = auth) -> Any:
        value = table.get(key.rsplit(".", 1)[-1])
        if isinstance(value, str):
            match = _ENV.match(value.strip())
            if match:
                value = os.environ.get(match.group(1))
                if value is None:
                    raise ConfigError(
                        f"needs the environment variable {match.group(1)}",
                        key=f"auth.{key}",
                        source=source,
                    )
        if value is None:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ConfigError(f"must be a {names}, not {value!r}", key=f"auth.{key}", source=source)
        return value

    def sub(name: str) -> dict[str, Any]:
        value = auth.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError("must be a table", key=f"auth.{name}", source=source)
        return value

    email, rate = sub("email"), sub("rate_limit")
    found: dict[str, Any] = {}
    setters: list[tuple[str, Any, Callable[[Any], Any]]] = [
        ("site_url", get("site_url", str), str),
        ("uri_allow_list", get("additional_redirect_urls", list), _urls(source)),
        ("disable_signup", get("enable_signup", bool), lambda v: not v),
        ("jwt_exp", get("jwt_expiry", int), int),
        ("refresh_token_reuse_interval", get("refresh_token_reuse_interval", (int, float)), float),
        ("password_min_length", get("minimum_password_length", int), int),
        (
            "mailer_autoconfirm",
            get("email.enable_confirmations", bool, email),
            lambda v: not v,
        ),
        ("otp_exp", get("email.otp_expiry", int, email), int),
        ("rate_limit_email_sent", get("rate_limit.email_sent", (int, float), rate), float),
    ]
    for name, value, convert in setters:
        if value is not None:
            found[name] = convert(value)
    frequency = get("email.max_frequency", str, email)
    if frequency is not None:
        seconds = _duration(frequency)
        if seconds is None:
            raise ConfigError(
                f'{frequency!r} is not a duration such as "60s" or "1m"',
                key="auth.email.max_frequency",
                source=source,
            )
        found["smtp_max_frequency"] = seconds
    return tuple(found.items())


def _urls(source: str) -> Callable[[Any], tuple[str, ...]]:
    def convert(value: Any) -> tuple[str, ...]:
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(
                "must be a list of URLs", key="auth.additional_redirect_urls", source=source
            )
        return tuple(value)

    return convert


# -- splitting ------------------------------------------------------------------------------------


def read_sql(item: SqlFile) -> str:
    """A file's text (UTF-8, a byte-order mark dropped)."""
    return item.path.read_text(encoding="utf-8-sig", errors="replace")


def statements(text: str) -> list[Statement]:
    """The statements of one SQL text, each with the line it starts on."""
    # PostgreSQL's own parser, imported on first use: a run on the bundled schema never needs
    # it, and its import alone is a tenth of a second of every run's start-up.
    from pglast import parser as pg_parser

    try:
        slices = pg_parser.split(text, with_parser=True, only_slices=True)
    except pg_parser.ParseError:
        slices = pg_parser.split(text, with_parser=False, only_slices=True)
    found = []
    for part in slices:
        start, stop = part.start, part.stop
        # The scanner's pieces keep their leading comments; a statement starts at its first token.
        for token in pg_parser.scan(text[start:stop]):
            if token.name not in _COMMENTS:
                start += token.start
                break
        else:
            continue  # only comments
        body = text[start:stop]
        found.append(Statement(body, text.count("\n", 0, start) + 1, start))
    return found


def _first_token(statement: Statement) -> str:
    from pglast import parser as pg_parser

    tokens = pg_parser.scan(statement.text)
    return tokens[0].name if tokens else ""


# -- applying -------------------------------------------------------------------------------------


def _failure(
    item: SqlFile, statement: Statement, exc: psycopg.Error, fix: Callable[[Statement], str]
) -> Failure:
    diag = exc.diag
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    line = statement.line
    position = diag.statement_position
    if position and position.isdigit():
        # The error's own position (a syntax error's token), as a line of the file.
        line += statement.text.count("\n", 0, int(position) - 1)
    if diag.message_detail:
        message += f"; {diag.message_detail}"
    if diag.message_hint:
        message += f" (hint: {diag.message_hint})"
    return Failure(
        file=item.name,
        line=line,
        statement=statement.first_words(),
        sqlstate=diag.sqlstate or "",
        error=message,
        fix=fix(statement) if statement.extension else "",
    )


def _not_supported(item: SqlFile, statement: Statement, why: str) -> Failure:
    return Failure(item.name, statement.line, statement.first_words(), "", why)


def apply(
    conn: psycopg.Connection[Any],
    migrations: Migrations,
    *,
    fix: Callable[[Statement], str] = lambda statement: "",
) -> LoadReport:
    """Load every file, each in its own transaction; raises MigrationError on the first failure
    (unless `continue_on_error`, which reports every failing statement and goes on).

    `fix` says how to make a failing `CREATE EXTENSION` work (the missing package).
    """
    started = time.perf_counter()
    report = LoadReport()
    try:
        for item in migrations.files:
            report.files += 1
            report.statements += _apply_file(conn, item, migrations.continue_on_error, report, fix)
    finally:
        report.elapsed_s = time.perf_counter() - started
    return report


def _apply_file(
    conn: psycopg.Connection[Any],
    item: SqlFile,
    keep_going: bool,
    report: LoadReport,
    fix: Callable[[Statement], str],
) -> int:
    """Apply one file in one transaction; returns how many statements ran."""
    ran = 0
    with conn.transaction():
        for statement in statements(read_sql(item)):
            first = _first_token(statement)
            if first in _TRANSACTION_OPEN_CLOSE:
                continue  # the file is one transaction already
            if first in _TRANSACTION_ABORT:
                failure = _not_supported(
                    item, statement, "a file that rolls itself back cannot be loaded"
                )
                if not keep_going:
                    raise MigrationError(str(failure), [failure])
                report.failures.append(failure)
                continue
            ran += 1
            if not keep_going:
                try:
                    conn.execute(statement.text.encode())
                except psycopg.Error as exc:
                    failure = _failure(item, statement, exc, fix)
                    raise MigrationError(
                        f"{failure}\nNothing of {item.name} was applied.", [failure]
                    ) from None
                continue
            try:
                with conn.transaction():  # a savepoint: a failure undoes this statement alone
                    conn.execute(statement.text.encode())
            except psycopg.Error as exc:
                report.failures.append(_failure(item, statement, exc, fix))
    return ran


#: Mamapace keeps most of its SQL outside `supabase/migrations/`: this is the order its files were
#: added to the repository (git log), the order the team ran them in the SQL editor, relative to
#: a checkout's root. `sql/subscriptions_schema.sql` repeats the first CLI migration and
#: `sql/setup_auto_post_cron.sql` is a template with placeholders (an outside HTTP call every hour,
#: needing pg_net): both are left out. The README's "The app's own SQL" shows the same list.
MAMAPACE_CHECKOUT_ORDER = (
    "supabase/sql/0*.sql",
    "supabase/sql/1[0-7]_*.sql",
    "supabase/sql/20_add_attachments.sql",
    "supabase/sql/21_storage_buckets_and_policies.sql",
    "supabase/notifications.sql",
    "supabase/push_subscriptions.sql",
    "supabase/notification_preferences.sql",
    "supabase/sql/21_fix_notification_fks.sql",
    "supabase/sql/18_anonymous_v2.sql",
    "supabase/sql/2025-*.sql",
    "supabase/migrations/*.sql",
)
