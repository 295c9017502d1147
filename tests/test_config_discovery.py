"""Which config file a run reads: --config, then SYNTHETICS_CONFIG, then synthetics.toml in the
working folder or a parent; none found is said on stderr, and an unknown target names the files
looked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthetics.config import defaults_notice, load
from synthetics.errors import ConfigError

ROOT = Path(__file__).parents[1]
STAGING = """
[targets.staging]
url = "${STAGING_URL}"
anon_key = "${STAGING_ANON_KEY}"
[history]
url = "sqlite:///state/history.sqlite"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with its synthetics.toml at the top and a folder deep inside it."""
    (tmp_path / "synthetics.toml").write_text(STAGING)
    deep = tmp_path / "apps" / "mobile" / "src"
    deep.mkdir(parents=True)
    return tmp_path


def test_the_nearest_file_in_a_parent_folder_is_found(project: Path) -> None:
    settings = load(env={}, cwd=project / "apps" / "mobile" / "src", target="sandbox")
    assert settings.path == project / "synthetics.toml"
    assert "staging" in settings.config.targets
    # Relative paths in it are relative to it, wherever the run started.
    assert settings.folder == project
    url = settings.config.history.resolved_url(settings.folder)
    assert url == f"sqlite:///{project}/state/history.sqlite"
    assert defaults_notice(settings) is None


def test_synthetics_config_comes_before_the_search_and_config_before_both(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other") / "elsewhere.toml"
    other.write_text("retries = 5\n")
    env = {"SYNTHETICS_CONFIG": str(other)}
    assert load(env=env, cwd=project).config.retries == 5
    named = project / "named.toml"
    named.write_text("retries = 7\n")
    assert load(path=named, env=env, cwd=project).config.retries == 7


def test_a_synthetics_config_that_is_not_there_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SYNTHETICS_CONFIG: cannot read .*nope\.toml"):
        load(env={"SYNTHETICS_CONFIG": "nope.toml"}, cwd=tmp_path)


def test_without_a_file_the_defaults_are_used_and_said(tmp_path: Path) -> None:
    settings = load(env={}, cwd=tmp_path)
    assert settings.path is None and settings.target_name == "sandbox"
    assert settings.searched[0] == tmp_path / "synthetics.toml"
    assert settings.searched[-1] == Path("/synthetics.toml")
    notice = defaults_notice(settings)
    assert notice is not None
    assert str(tmp_path / "synthetics.toml") in notice and "built-in defaults" in notice


def test_an_unknown_target_names_the_files_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load(env={}, cwd=tmp_path, target="staging")
    message = str(error.value)
    assert "unknown target 'staging'; configured targets: sandbox" in message
    assert f"looked for {tmp_path / 'synthetics.toml'}" in message
    assert "SYNTHETICS_CONFIG" in message


def cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`synthetics` from another folder (this checkout's code, whatever is installed)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHETICS_")}
    environ |= {"PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "synthetics.cli", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_from_another_folder_without_a_config_says_so(tmp_path: Path) -> None:
    done = cli(tmp_path, "run", "--target", "staging", "--report-dir", str(tmp_path / "r"))
    assert done.returncode == 3, done.stderr
    assert "unknown target 'staging'" in done.stderr
    assert str(tmp_path / "synthetics.toml") in done.stderr
    assert not (tmp_path / "r").exists()  # nothing ran


def test_run_from_a_subfolder_reads_the_projects_file(project: Path) -> None:
    done = cli(project / "apps" / "mobile" / "src", "run", "--target", "staging")
    # The file was found: its staging target wants its variables (and nothing was sent).
    assert done.returncode == 3, done.stderr
    assert "environment variable STAGING_URL is not set" in done.stderr
    assert str(project / "synthetics.toml") in done.stderr
