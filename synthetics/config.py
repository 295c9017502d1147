"""Typed, validated configuration: `synthetics.toml` + environment + `--set`, secrets never printed.

Precedence, highest first: `--set KEY=VALUE` → environment (`SYNTHETICS_<KEY>`, with `__` between
nested keys, e.g. `SYNTHETICS_THRESHOLDS__EMAIL_TIMEOUT_S=5`) → the file → defaults. String values
may reference `${ENV_VAR}`; only the selected target's references are resolved, so a staging
section does not need staging credentials to run against the sandbox. Every error names the key
and where its value came from, and becomes exit code 3 before any request is sent.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from synthetics.alerting.config import AlertsConfig
from synthetics.alerting.heartbeat import HeartbeatConfig
from synthetics.errors import ConfigError
from synthetics.exporters.prometheus_config import PrometheusConfig
from synthetics.history.config import HistoryConfig

ENV_PREFIX = "SYNTHETICS_"
DEFAULT_FILE = "synthetics.toml"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Every v2 RPC of the Mamapace profile, in the order the app's journey uses them.
MAMAPACE_RPCS = (
    "get_my_profile_v2",
    "update_my_profile_v2",
    "get_user_profile_v2",
    "create_post_v2",
    "get_home_feed_v2",
    "get_user_posts_v2",
    "add_reaction_v2",
    "get_liked_posts_v2",
    "remove_reaction_v2",
    "create_comment_v2",
    "get_post_comments_v2",
    "delete_comment_v2",
    "follow_user_v2",
    "is_following_v2",
    "get_follow_counts_v2",
    "get_followers_v2",
    "get_following_v2",
    "unfollow_user_v2",
    "get_user_post_count_v2",
    "delete_post_v2",
)
PROTECTED_TABLES = ("posts", "post_reactions", "post_comments", "user_follows")


DEFAULT_INBOX: dict[str, Any] = {
    "provider": "mailpit",
    "address_template": "synthetic+{tag}@mamapace-synthetics.dev",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: A duration in milliseconds that can be right: at least 1 ms, at most 10 minutes, finite.
Millis = Annotated[float, Field(ge=1, le=600_000, allow_inf_nan=False)]
#: A duration in seconds that can be right: at least 1 ms, at most an hour, finite.
Seconds = Annotated[float, Field(ge=0.001, le=3600, allow_inf_nan=False)]
#: A count: a whole number (`true` is not 1).
Count = Annotated[int, Field(strict=True, ge=0)]


class Thresholds(_Strict):
    """When a measurement turns a check info, warning or critical (the runbook's numbers)."""

    signup_warning_ms: Millis = 3000
    email_sla_s: Seconds = 30
    email_timeout_s: Seconds = 120
    deeplink_warning_ms: Millis = 2000
    session_warning_ms: Millis = 2000
    rpc_info_ms: Millis = 500
    rpc_warning_ms: Millis = 1000

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.rpc_info_ms > self.rpc_warning_ms:
            raise ValueError("rpc_info_ms must not exceed rpc_warning_ms")
        if self.email_sla_s > self.email_timeout_s:
            raise ValueError(
                f"email_sla_s ({self.email_sla_s:g}) must not exceed email_timeout_s "
                f"({self.email_timeout_s:g}): lower both, e.g. thresholds.email_sla_s="
                f"{max(self.email_timeout_s / 2, 0.001):g}"
            )
        return self


class AuthConfig(_Strict):
    """How the throwaway user signs up: mirror the app's client."""

    flow: Literal["pkce", "implicit"] = "pkce"
    site_url: str = "https://app.mamapace.com"
    #: Whether the app offers password reset (auth.recovery checks it); Mamapace has none.
    recovery: bool = False
    password_length: Annotated[int, Field(ge=8, le=72)] = 24


_APPLE_APP_ID = re.compile(r"^[A-Z0-9]{10}\.[A-Za-z0-9][A-Za-z0-9.-]*$")
_ANDROID_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_SHA256_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$")


class DeeplinkConfig(_Strict):
    """Where the confirmation link must land, what the app's handler can consume, and how the
    browser and app-link checks look at it.

    `browser`: "auto" runs the browser checks when a Chromium is found (skipped otherwise),
    "required" makes a missing browser a configuration error (exit 3, before any request),
    "off" skips them. `browser_path` names the executable instead of searching for one.
    The app ids are checked in the association files of an https redirect's host.
    """

    redirect: str = "mamapace://auth-callback"
    accepts: Annotated[list[Literal["tokens", "code"]], Field(min_length=1)] = ["tokens", "code"]
    browser: Literal["auto", "required", "off"] = "auto"
    browser_path: str = ""
    apple_app_ids: list[str] = []
    android_packages: list[str] = []
    android_sha256_fingerprints: list[str] = []

    @model_validator(mode="after")
    def _app_links(self) -> DeeplinkConfig:
        for app_id in self.apple_app_ids:
            if not _APPLE_APP_ID.match(app_id):
                raise ValueError(
                    f"apple_app_ids: {app_id!r} is not TEAMID.bundle.id (a 10-character team id, "
                    "a dot, the bundle id)"
                )
        for package in self.android_packages:
            if not _ANDROID_PACKAGE.match(package):
                raise ValueError(f"android_packages: {package!r} is not an Android package name")
        for fingerprint in self.android_sha256_fingerprints:
            if not _SHA256_FINGERPRINT.match(fingerprint):
                raise ValueError(
                    f"android_sha256_fingerprints: {fingerprint!r} is not a SHA-256 certificate "
                    "fingerprint (32 hex bytes separated by colons)"
                )
        if self.android_sha256_fingerprints and not self.android_packages:
            raise ValueError("android_sha256_fingerprints need android_packages")
        if (self.apple_app_ids or self.android_packages) and not self.universal:
            raise ValueError(
                f"app ids are checked on an https redirect's host, but redirect "
                f"{self.redirect!r} is a custom scheme"
            )
        return self

    @property
    def universal(self) -> bool:
        """Whether the redirect is a web URL (universal link / App Link) rather than a scheme."""
        return self.redirect.lower().startswith(("https://", "http://"))


class RpcConfig(_Strict):
    """The v2 RPCs to exercise; each gets an `rpc.<name>` check (at least one)."""

    functions: Annotated[list[str], Field(min_length=1)] = list(MAMAPACE_RPCS)

    @model_validator(mode="after")
    def _names(self) -> RpcConfig:
        for name in self.functions:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"functions: {name!r} is not a function name")
        if len(set(self.functions)) != len(self.functions):
            raise ValueError("functions: a function is listed twice")
        return self


class SecurityConfig(_Strict):
    """What the security probes try.

    Every function and table the API exposes is probed (discovered, not listed).
    `protected_tables` must refuse any direct access, to anon and to users alike;
    `public_tables` may be read by anon on purpose (none for Mamapace: its runbook revokes all
    anon access); `schemas` are the exposed schemas the advisor reads.
    """

    protected_tables: list[str] = list(PROTECTED_TABLES)
    public_tables: list[str] = []
    schemas: Annotated[list[str], Field(min_length=1)] = ["public"]


class CleanupConfig(_Strict):
    """What a throwaway user leaves besides itself: `table.column` rows that hold its id where
    nothing cascades from auth.users (Mamapace's `user_profiles` has no foreign key to it).

    `username_column` (`table.column`, empty: off) names the column a profile trigger fills
    from the sign-up address's local part, lower-cased (Mamapace's `gen_available_username`).
    With it the janitor also finds the profiles a killed run left behind after their auth user
    was deleted: its table must be one of `owned_rows`' (whose column is the user's id).
    """

    owned_rows: list[str] = ["user_profiles.id"]
    username_column: str = "user_profiles.username"

    @model_validator(mode="after")
    def _identifiers(self) -> CleanupConfig:
        for spec in self.owned_rows:
            table, sep, column = spec.partition(".")
            if not sep or not _IDENTIFIER.match(table) or not _IDENTIFIER.match(column):
                raise ValueError(f"owned_rows: {spec!r} is not table.column")
        if self.username_column:
            table, sep, column = self.username_column.partition(".")
            if not sep or not _IDENTIFIER.match(table) or not _IDENTIFIER.match(column):
                raise ValueError(f"username_column: {self.username_column!r} is not table.column")
            explicit = "username_column" in self.model_fields_set
            if explicit and self.username_owner is None:
                raise ValueError(
                    f"username_column: table {table!r} is not one of owned_rows' tables (the "
                    "janitor needs its id column)"
                )
        return self

    @property
    def username_owner(self) -> str | None:
        """The `owned_rows` entry of `username_column`'s table (None: no orphan search).

        The default column applies only while its table is among `owned_rows`, so a profile
        that lists other tables is not refused for a column it never named."""
        if not self.username_column:
            return None
        table = self.username_column.partition(".")[0]
        return next((s for s in self.owned_rows if s.partition(".")[0] == table), None)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TargetConfig(_Strict):
    """A Supabase project to watch; `sandbox = true` means the bundled local one.

    `db_url` (a secret; a read-only role is enough) lets the security advisor read the catalog
    and the history read the app's own figures.
    """

    sandbox: bool = False
    url: str = ""
    anon_key: SecretStr | None = None
    service_role_key: SecretStr | None = None
    db_url: SecretStr | None = None
    inbox: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> TargetConfig:
        if not self.sandbox:
            if not self.url:
                raise ValueError("a non-sandbox target needs `url`")
            if "${" not in self.url:  # references stay unresolved in targets a run does not use
                _check_url(self.url)
            if self.anon_key is None:
                raise ValueError("a non-sandbox target needs `anon_key`")
        for name in ("anon_key", "service_role_key", "db_url"):
            secret = getattr(self, name)
            if secret is not None and not secret.get_secret_value().strip():
                raise ValueError(f"{name} is empty")
        return self


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url {url!r} is not an http(s) URL")
    try:
        parts.port  # noqa: B018 (urlsplit checks the port's range when asked)
    except ValueError:
        raise ValueError(f"url {url!r} has an invalid port") from None


class Config(_Strict):
    """The whole configuration.

    `run_timeout_s` bounds the whole run; by default it is `email_timeout_s` plus ten requests
    that each use every retry (`10 * request_timeout_s * (retries + 1)`).
    """

    default_target: str = "sandbox"
    #: Where this monitor runs (a runner, a region): several locations can watch one target.
    location: Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9._-]*$")] = ""
    retries: Annotated[Count, Field(le=10)] = 2
    request_timeout_s: Annotated[Seconds, Field(le=300)] = 10
    run_timeout_s: Annotated[float, Field(ge=1, le=86_400, allow_inf_nan=False)] | None = None
    targets: dict[str, TargetConfig] = {"sandbox": TargetConfig(sandbox=True)}
    auth: AuthConfig = AuthConfig()
    deeplink: DeeplinkConfig = DeeplinkConfig()
    #: Validated by the provider's own model (synthetics.inbox) once the target is known.
    inbox: dict[str, Any] = DEFAULT_INBOX
    thresholds: Thresholds = Thresholds()
    rpc: RpcConfig = RpcConfig()
    security: SecurityConfig = SecurityConfig()
    cleanup: CleanupConfig = CleanupConfig()
    history: HistoryConfig = HistoryConfig()
    alerts: AlertsConfig = AlertsConfig()
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    prometheus: PrometheusConfig = PrometheusConfig()

    @property
    def run_timeout(self) -> float:
        """The run's deadline in seconds (configured, or derived from the thresholds)."""
        if self.run_timeout_s is not None:
            return self.run_timeout_s
        return self.thresholds.email_timeout_s + 10 * self.request_timeout_s * (self.retries + 1)


@dataclass(frozen=True)
class Settings:
    """A validated configuration with the target a run uses."""

    config: Config
    target_name: str
    sources: Mapping[tuple[str, ...], str]
    #: The config file read (None: built-in defaults); relative paths in it are relative to it.
    path: Path | None = None
    #: Where the search for a config file looked (see `discover`); empty when one was named.
    searched: tuple[Path, ...] = ()

    @property
    def folder(self) -> Path:
        """What a relative path in the config is relative to: its file's folder, else here."""
        return self.path.resolve().parent if self.path is not None else Path.cwd()

    @property
    def target(self) -> TargetConfig:
        """The selected target."""
        return self.config.targets[self.target_name]

    @property
    def inbox(self) -> dict[str, Any]:
        """The inbox settings of the selected target (its own, else `[inbox]`).

        Without a `provider`, the keys given refine the default Mailpit inbox.
        """
        chosen = dict(self.target.inbox or self.config.inbox)
        if "provider" not in chosen:
            chosen = {**DEFAULT_INBOX, **chosen}
        return chosen

    def source_of(self, *path: str) -> str:
        """Where the value at `path` came from."""
        return _source(self.sources, path)


def parse_value(raw: str) -> Any:
    """A `--set`/environment value: TOML syntax when it parses (5, true, ["a"]), else a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _merge(
    base: dict[str, Any],
    layer: Mapping[str, Any],
    source: str,
    sources: dict[tuple[str, ...], str],
    prefix: tuple[str, ...] = (),
) -> None:
    for key, value in layer.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, source, sources, path)
        elif isinstance(value, Mapping) and value:
            # A new table: its keys are recorded one by one, so a key the layer does not set
            # keeps "defaults" as its source (`synthetics doctor` shows each key's).
            for known in [p for p in sources if p[: len(path)] == path]:
                del sources[known]
            base[key] = {}
            _merge(base[key], value, source, sources, path)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
            for known in [p for p in sources if p[: len(path)] == path]:
                del sources[known]
            sources[path] = source


def _nest(path: Sequence[str], value: Any) -> dict[str, Any]:
    nested: Any = value
    for key in reversed(path):
        nested = {key: nested}
    return dict(nested)


def _source(sources: Mapping[tuple[str, ...], str], path: Sequence[str]) -> str:
    key = tuple(path)
    inside = sorted({s for p, s in sources.items() if len(p) > len(key) and p[: len(key)] == key})
    if key and inside:
        # A table whose keys came from several places names them all.
        own = [sources[key]] if key in sources else []
        return ", ".join(dict.fromkeys([*own, *inside]))
    for length in range(len(path), 0, -1):
        if tuple(path[:length]) in sources:
            return sources[tuple(path[:length])]
    return "defaults"


#: The environment variable that names the config file (after `--config`, before the search).
ENV_CONFIG = "SYNTHETICS_CONFIG"


@dataclass(frozen=True)
class Discovery:
    """Which config file a run reads, how it was chosen, and where it was looked for.

    `--config PATH`, else `SYNTHETICS_CONFIG`, else the first `synthetics.toml` in the working
    folder or one of its parents; none found means the built-in defaults (`path` None).
    """

    path: Path | None
    #: What chose it: `--config`, `SYNTHETICS_CONFIG`, the search (`found`), or `defaults`.
    chosen_by: str
    #: The files the search looked at, nearest first (empty when the file was named).
    searched: tuple[Path, ...] = ()


def discover(path: Path | None, env: Mapping[str, str], cwd: Path) -> Discovery:
    """The config file to read: `--config`, then `SYNTHETICS_CONFIG`, then the search upwards."""
    if path is not None:
        return Discovery(path, "--config")
    named = env.get(ENV_CONFIG, "").strip()
    if named:
        return Discovery(cwd / Path(named).expanduser(), ENV_CONFIG)
    searched: list[Path] = []
    for folder in (cwd, *cwd.parents):
        candidate = folder / DEFAULT_FILE
        searched.append(candidate)
        if candidate.is_file():
            return Discovery(candidate, "found", tuple(searched))
    return Discovery(None, "defaults", tuple(searched))


def _read_file(found: Discovery) -> tuple[dict[str, Any], str]:
    path = found.path
    if path is None:
        return {}, "defaults"
    key = ENV_CONFIG if found.chosen_by == ENV_CONFIG else "--config"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key=key) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8", key=key
        ) from None
    try:
        return tomllib.loads(text), str(path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", key=key) from None


def _looked_for(searched: Sequence[Path]) -> str:
    """The search, said in a few words: the files looked for, nearest first."""
    return ", ".join(str(p) for p in searched)


def defaults_notice(settings: Settings) -> str | None:
    """What to tell a person whose run found no config file (None when one was read)."""
    if settings.path is not None:
        return None
    return (
        f"no {DEFAULT_FILE} found (looked for {_looked_for(settings.searched)}); using the "
        f"built-in defaults (target {settings.target_name}). Give --config PATH or set "
        f"{ENV_CONFIG}"
    )


#: `SYNTHETICS_` variables that are not config keys: they are read elsewhere, never merged.
RESERVED_ENV = frozenset({ENV_CONFIG})


def config_environment(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The `SYNTHETICS_*` variables that are config keys, and the names of those that are not.

    A variable is config when what follows the prefix starts with a top-level key of the config
    (`SYNTHETICS_RETRIES`, `SYNTHETICS_THRESHOLDS__EMAIL_TIMEOUT_S`, …): inside a known section,
    an unknown key is an error (a typo must not pass silently). Any other `SYNTHETICS_…` variable
    (a CI job's own `SYNTHETICS_BIN` or `SYNTHETICS_VERSION`) is not ours and is ignored;
    `synthetics doctor` lists them.
    """
    known = set(Config.model_fields)
    config, ignored = {}, []
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX or name in RESERVED_ENV:
            continue
        head = name[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if head in known:
            config[name] = raw
        else:
            ignored.append(name)
    return config, ignored


def _environment(env: Mapping[str, str]) -> list[tuple[tuple[str, ...], Any, str]]:
    layers = []
    for name, raw in config_environment(env)[0].items():
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        layers.append((path, parse_value(raw), f"environment variable {name}"))
    return layers


def _assignments(sets: Sequence[str]) -> list[tuple[tuple[str, ...], Any, str]]:
    layers = []
    for item in sets:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not all(key.split(".")):
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}", key="--set")
        layers.append((tuple(key.split(".")), parse_value(raw.strip()), f"--set {key}"))
    return layers


def _interpolate(
    value: Any,
    path: tuple[str, ...],
    env: Mapping[str, str],
    sources: Mapping[tuple[str, ...], str],
) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), env, sources) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path, env, sources) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"environment variable {name} is not set",
                key=".".join(path),
                source=_source(sources, path),
            )
        return env[name]

    return _REFERENCE.sub(replace, value)


def load(
    *,
    path: Path | None = None,
    sets: Sequence[str] = (),
    target: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Read, merge, interpolate and validate; raises ConfigError naming the key and its source.

    The file is `path` (`--config`), else `SYNTHETICS_CONFIG`, else the nearest `synthetics.toml`
    in `cwd` (default: the working folder) or its parents; without one, the built-in defaults.
    """
    environ = dict(os.environ if env is None else env)
    sources: dict[tuple[str, ...], str] = {}
    raw: dict[str, Any] = {}
    found = discover(path, environ, Path.cwd() if cwd is None else cwd)
    data, file_source = _read_file(found)
    _merge(raw, data, file_source, sources)
    for key_path, value, source in [*_environment(environ), *_assignments(sets)]:
        _merge(raw, _nest(key_path, value), source, sources)

    # Targets come from the file; the built-in sandbox target is always there unless redefined.
    targets = raw.setdefault("targets", {})
    if not isinstance(targets, dict):
        raise ConfigError(
            "must be a table of targets", key="targets", source=_source(sources, ("targets",))
        )
    targets.setdefault("sandbox", {"sandbox": True})
    name = target or raw.get("default_target") or "sandbox"
    if not isinstance(name, str) or name not in targets:
        known = ", ".join(sorted(targets))
        where = "--target" if target else _source(sources, ("default_target",))
        if found.path is None:
            known += (
                f" (no {DEFAULT_FILE} was found: looked for {_looked_for(found.searched)}; "
                f"give --config PATH or set {ENV_CONFIG})"
            )
        else:
            known += f" (in {found.path})"
        raise ConfigError(
            f"unknown target {name!r}; configured targets: {known}", key="target", source=where
        )
    # Resolve ${ENV} everywhere except in the targets this run does not use.
    for key, value in list(raw.items()):
        if key == "targets":
            continue
        raw[key] = _interpolate(value, (key,), environ, sources)
    targets[name] = _interpolate(targets[name], ("targets", name), environ, sources)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise _translate(exc, sources) from None
    return Settings(
        config=config,
        target_name=name,
        sources=sources,
        path=found.path,
        searched=found.searched,
    )


def _translate(exc: ValidationError, sources: Mapping[tuple[str, ...], str]) -> ConfigError:
    error = exc.errors(include_url=False, include_input=False)[0]
    path = tuple(str(p) for p in error["loc"])
    message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
    message = message.removeprefix("Value error, ")
    return ConfigError(message, key=".".join(path) or "(root)", source=_error_source(sources, path))


def _error_source(sources: Mapping[tuple[str, ...], str], path: tuple[str, ...]) -> str:
    """Where the value an error is about came from. A tagged union's location names its tag
    (`alerts.channels.x.slack.channel` for `alerts.channels.x.channel`), and a model error's
    the table (`thresholds`): the key without the tag, else the table's own sources."""
    found = _source(sources, path)
    if found != "defaults":
        return found
    for n in range(len(path)):
        if (without := path[:n] + path[n + 1 :]) in sources:
            return sources[without]
    for length in range(len(path) - 1, 0, -1):
        inside = _source(sources, path[:length])
        if inside != "defaults":
            return inside
    return found


def secret_values(value: Any) -> list[str]:
    """Every secret inside a config model (or a mapping or list of them), for the redactor."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return [secret] if secret else []
    if isinstance(value, BaseModel):
        return [s for name in type(value).model_fields for s in secret_values(getattr(value, name))]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in secret_values(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in secret_values(item)]
    return []
