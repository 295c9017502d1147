"""The plugin in pytest's own hands: inert for other test suites, check ids as keywords, groups
as markers, `pytest --synthetics-target` from a project root, the `pytest11` entry point, and a
run of real checks with the same outputs `synthetics run` leaves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import synthetics.checks

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]
CHECKS = Path(synthetics.checks.__file__).parent


@pytest.fixture(autouse=True)
def this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest's subprocesses import this checkout's code, with no stray synthetics config."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for name in [n for n in os.environ if n.startswith("SYNTHETICS_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)


def collected(result: pytest.RunResult) -> list[str]:
    """The node ids `--collect-only -q` listed."""
    return [line for line in result.outlines if "::" in line and not line.startswith(" ")]


def test_other_test_suites_never_meet_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_unit="def test_ok():\n    assert True\n")
    # A config value that cannot be right: a session that runs checks would stop at it.
    monkeypatch.setenv("SYNTHETICS_RETRIES", "true")
    result = pytester.runpytest_subprocess("-p", "synthetics.plugin", "-q")
    result.assert_outcomes(passed=1)
    assert "synthetics" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / "reports").exists()


def test_the_checks_are_never_collected_by_accident() -> None:
    # `pytest synthetics` (or `pytest .`) at the root of the checkout: nothing asks for checks.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "synthetics", "--collect-only", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, done.stdout + done.stderr
    assert "test_email.py" not in done.stdout


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (["-k", "email.delivery"], ["test_email.py::test_delivery"]),
        (["-k", "rpc and feed"], ["test_rpc.py::test_rpc[get_home_feed_v2]"]),
        (["-k", "deeplink.redirect or auth.session"], ["test_deeplink.py::test_redirect"]),
        (["-m", "security"], ["test_security.py::test_anon_rpc"]),
        (["-m", "email or cleanup"], ["test_email.py::test_delivery"]),
    ],
    ids=["check-id", "words", "two-ids", "group-marker", "two-groups"],
)
def test_k_and_m_select_checks_by_id_and_group(
    pytester: pytest.Pytester, expression: list[str], expected: list[str]
) -> None:
    result = pytester.runpytest_subprocess(
        str(CHECKS), "--collect-only", "-q", "--synthetics-report-dir", "r", *expression
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    found = [line.split("/")[-1] for line in collected(result)]
    assert all(any(e in line for line in found) for e in expected), found
    if expression == ["-k", "email.delivery"]:
        assert found == expected
    if expression == ["-k", "rpc and feed"]:
        assert found == expected
    if expression == ["-m", "security"]:
        assert len(found) == 5 and all("test_security.py" in f for f in found)
    if expression == ["-m", "email or cleanup"]:
        assert len(found) == 2


def test_a_target_option_at_the_project_root_runs_the_checks() -> None:
    # The checkout's own root: pyproject's testpaths are the project's tests, conftest.py
    # loads the plugin, and the synthetics option asks for the checks instead.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--synthetics-target", "sandbox", "--collect-only", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "::" in line]
    assert len(lines) == 37 and all(line.startswith("synthetics/checks/") for line in lines)


def test_an_unknown_target_is_a_usage_error_naming_the_files_looked_for(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('pytest_plugins = ["synthetics.plugin"]\n')
    result = pytester.runpytest_subprocess("--synthetics-target", "staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "unknown target 'staging'; configured targets: sandbox" in err
    assert str(pytester.path / "synthetics.toml") in err


def entry_point_dist(folder: Path) -> Path:
    """A distribution that declares only pyproject's pytest11 entry points, as an install
    would: pytest finds it on sys.path like any installed plugin."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    points = project["project"]["entry-points"]["pytest11"]
    dist = folder / "synthetics_entry_point-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: synthetics-entry-point\nVersion: 0\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in points.items())
    (dist / "entry_points.txt").write_text(f"[pytest11]\n{lines}")
    return folder


def test_the_entry_point_loads_the_plugin_anywhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = entry_point_dist(pytester.path / "site")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(site)]))
    pytester.makeini("[pytest]\n")  # no conftest, no -p: only the entry point can load it
    args = ("--synthetics-target", "sandbox", "--collect-only", "-q")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert len(collected(result)) == 37
    # The defaults were used, and said so: nothing was found from here upwards.
    assert "no synthetics.toml found" in result.stderr.str()
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    without = pytester.runpytest_subprocess(*args)
    assert without.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --synthetics-target" in without.stderr.str()


def test_real_checks_run_natively_leave_the_runs_outputs(pytester: pytest.Pytester) -> None:
    """`pytest synthetics/checks -k …` against the sandbox: pytest's output, then the run's
    table; results.json, report.html and junit.xml in the report directory; our exit code."""
    reports = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        str(CHECKS),
        "-k",
        "auth.health or auth.settings",
        "--synthetics-report-dir",
        str(reports),
        "--synthetics-no-history",
    )
    text = result.stdout.str()
    assert result.ret == 0, text + result.stderr.str()
    assert "2 passed" in text  # pytest's own report stays
    assert "OK · sandbox · 2 checks: 2 ok" in text  # then the run's
    assert {p.name for p in reports.iterdir()} >= {"results.json", "report.html", "junit.xml"}
    results = json.loads((reports / "results.json").read_text())
    assert [c["id"] for c in results["checks"]] == ["auth.health", "auth.settings"]
    assert 'name="auth.health"' in (reports / "junit.xml").read_text()
