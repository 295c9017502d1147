"""The user's cache folder: made closed to others, refused when it is not ours alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthetics.cache import owned_folder


def test_a_missing_folder_is_made_closed_to_others(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "node-compile-cache"
    assert owned_folder(folder) == folder
    assert folder.is_dir()
    assert folder.stat().st_mode & 0o777 == 0o700


def test_an_existing_folder_of_ours_is_used(tmp_path: Path) -> None:
    folder = tmp_path / "kept"
    folder.mkdir(mode=0o755)
    assert owned_folder(folder) == folder


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o1777])
def test_a_folder_others_may_write_into_is_refused(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(mode)
    assert owned_folder(folder) is None


def test_a_file_or_a_link_in_its_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert owned_folder(tmp_path / "file") is None
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    assert owned_folder(tmp_path / "link") is None


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_somebody_elses_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)
    os.chown(folder, 65534, 65534)
    assert owned_folder(folder) is None
