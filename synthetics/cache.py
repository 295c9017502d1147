"""The user's cache folder: what one run keeps so that the next one starts faster.

    user_cache()        where it is: the user's cache directory, or the temp folder as root
    owned_folder(path)  a folder in it, made if missing, used only if it is ours alone

It holds the sandbox's cluster templates (`sandbox/database.py`) and the compiled code of the
browser's driver (`deeplink/browser.py`). Nothing in it is needed: remove it and the next run
rebuilds what it uses.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def user_cache() -> Path:
    """Where this user's cache lives.

    As root, Postgres runs as an unprivileged user who must read the templates, so the cache is
    in the temporary folder rather than under /root (which stays closed).
    """
    if os.geteuid() == 0:
        return Path(tempfile.gettempdir()) / f"supabase-synthetics-{os.geteuid()}"
    import platformdirs

    return platformdirs.user_cache_path("supabase-synthetics")


def owned_folder(path: Path) -> Path | None:
    """`path` as a folder, made (mode 0700, parents included) if missing; None when it cannot be
    made, or is somebody else's, or others may write into it: what is read from it is run."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    mine = stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
    if not mine or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return path
