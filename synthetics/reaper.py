"""What a killed run leaves behind, and how the next one proves it is a run's and removes it.

SIGKILL cannot be caught, so a run ties what it starts to itself instead:
- every process it starts (the sandbox's PostgreSQL, the Playwright driver, Chromium) inherits
  `SYNTHETICS_OWNER=<pid>-<start time>` in its environment;
- every temporary folder it makes (database clusters, browser profiles) is named
  `synthetics-<kind>-<pid>-<start time>-…`.
A later run sweeps both: processes and folders whose owner is no longer running (the pid is gone,
or was reused by a process started at another time) are killed and removed. Nothing is touched
without that proof, and nothing of a run that is still alive.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

OWNER_ENV = "SYNTHETICS_OWNER"
#: Linux's memory-backed folder, where disposable clusters live when it has room (mkdtemp makes
#: each one private to its owner).
SHM = Path("/dev/shm")  # noqa: S108
_FOLDER = re.compile(r"^synthetics-(?:pg|chromium)-(\d+)-(\d+)-")
#: The programs a run starts; only these are examined (reading every environment is slow).
_NAMES = ("postgres", "postmaster", "node", "chrome", "chromium", "headless_shell")


def owner_tag(pid: int | None = None) -> str:
    """This process's (or `pid`'s) owner tag: its pid and start time, immune to pid reuse."""
    process = psutil.Process(pid or os.getpid())
    return f"{process.pid}-{int(process.create_time())}"


#: The tag `claim()` gave this process: a process forked from a claimed one (the run's sandbox,
#: synthetics.sandbox_child) inherits it, so that what it makes is the run's.
_claimed: str | None = None


def claim() -> str:
    """Mark what this process starts from now on as its own; returns the tag."""
    global _claimed
    tag = _claimed = owner_tag()
    os.environ[OWNER_ENV] = tag
    return tag


def temp_prefix(kind: str) -> str:
    """The prefix of a temporary folder of `kind` (`pg`, `chromium`) this process owns: named
    for the process that claimed it (its run), else for itself."""
    return f"synthetics-{kind}-{_claimed or owner_tag()}-"


def alive(tag: str) -> bool:
    """Whether the process a tag names is still the one that made it."""
    pid_text, _, started = tag.partition("-")
    try:
        process = psutil.Process(int(pid_text))
        return abs(int(process.create_time()) - int(started)) <= 1
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


@dataclass
class Swept:
    """What a sweep removed."""

    processes: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)


def sweep(tmp: Path | None = None) -> Swept:
    """Kill the processes and remove the folders of runs that died without cleaning up."""
    swept = Swept()
    mine = os.environ.get(OWNER_ENV)
    for process in psutil.process_iter(["name"]):
        name = (process.info.get("name") or "").lower()
        if not name.startswith(_NAMES):
            continue
        try:
            tag = process.environ().get(OWNER_ENV)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
        if tag and tag != mine and not alive(tag):
            try:
                process.kill()
                swept.processes.append(f"{name} {process.pid}")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    bases = [tmp] if tmp is not None else [Path(tempfile.gettempdir()), SHM]
    entries: list[Path] = []
    for base in bases:
        try:
            entries += list(base.iterdir())
        except OSError:
            continue
    for entry in entries:
        match = _FOLDER.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        tag = f"{match.group(1)}-{match.group(2)}"
        if tag != mine and not alive(tag):
            shutil.rmtree(entry, ignore_errors=True)
            swept.folders.append(entry.name)
    return swept
