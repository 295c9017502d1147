"""The GitHub Actions workflows: linted, held to what production needs, and their steps run.

Every file in `.github/workflows/`, whoever wrote it:
- actionlint (with ShellCheck on the `run:` scripts) finds nothing, and would find a mistake;
- every `uses:` is pinned to a full commit SHA with its version in a comment, one per action;
- `permissions` are least (read or none), `concurrency` is set, and a job that runs against a
  target does so one run at a time per target, never cancelling a run in progress;
- a secret is read only by a job in a GitHub environment named after its target, only as the
  whole value of a step's `env` entry, and every `${NAME}` the profile's target references is
  mapped by each step that runs synthetics for that target;
- the caches: Playwright's Chromium keyed on Playwright's version (installed with its system
  libraries on a miss only), the history file restored and saved under the same path and key;
- the schedule agrees with the history's and the heartbeat's expected interval, and the janitor
  never reaches a user of a run still in progress;
- the Verdict steps fail the job exactly on exit codes 2, 3, 4 or none.

Then the scheduled watch job's own steps run with bash as the runner runs them (`bash
--noprofile --norc -eo pipefail`, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY), with the real CLI of this
checkout, against a target that is down (a closed loopback port), the history in SQLite or in a
real PostgreSQL, and the heartbeat, Slack and PagerDuty on local servers that speak their APIs.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthetics.alerting.heartbeat import HeartbeatConfig
from synthetics.config import load as load_config
from synthetics.durations import parse_duration
from synthetics.history.config import DEFAULT_URL, HistoryConfig

ROOT = Path(__file__).parents[1]
FOLDER = ROOT / ".github" / "workflows"
PROFILE = ROOT / "synthetics.toml"
WORKFLOWS = sorted(p for p in FOLDER.iterdir() if p.suffix in (".yml", ".yaml"))

#: Write scopes a workflow may hold, by file name, each with its reason. None today.
ALLOWED_WRITES: dict[str, set[str]] = {}
#: GitHub's own token is per run, not per environment.
GITHUB_TOKEN = "GITHUB_TOKEN"


def workflow(path: Path) -> dict[str, Any]:
    """A workflow file as data (YAML 1.1 reads the key `on` as true: put it back)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    if True in data:
        data["on"] = data.pop(True)
    return data


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOWS:
        for job_id, job in workflow(path).get("jobs", {}).items():
            yield path.name, job_id, job


def steps_of(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def step(job: Mapping[str, Any], step_id: str) -> dict[str, Any]:
    found = [s for s in steps_of(job) if s.get("id") == step_id]
    assert len(found) == 1, f"expected one step with id {step_id!r}"
    return found[0]


def runs_synthetics(s: Mapping[str, Any], command: str = "") -> bool:
    """Whether a step's script calls `synthetics <command>`."""
    return bool(re.search(rf"(^|\s)synthetics {command}", str(s.get("run", "")), flags=re.M))


def environment_of(job: Mapping[str, Any]) -> str | None:
    env = job.get("environment")
    if isinstance(env, dict):
        return str(env.get("name"))
    return None if env is None else str(env)


def hosted_targets() -> set[str]:
    """The profile's targets that are real projects (not the sandbox)."""
    targets = tomllib.loads(PROFILE.read_text(encoding="utf-8"))["targets"]
    return {name for name, t in targets.items() if not t.get("sandbox")}


def profile_references(target: str) -> set[str]:
    """Every `${NAME}` the profile resolves when `target` is selected (its own and the shared)."""
    data = tomllib.loads(PROFILE.read_text(encoding="utf-8"))
    used = {k: v for k, v in data.items() if k != "targets"}
    used["target"] = data["targets"][target]
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", json.dumps(used)))


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a YAML tree with where it sits (`steps[2].env.X`)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from strings(v, f"{path}[{n}]")
    elif isinstance(value, str):
        yield path, value


SECRET = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)")
WHOLE_SECRET = re.compile(r"^\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


ACTIONLINT = _tool("actionlint")
SHELLCHECK = _tool("shellcheck")
needs_actionlint = pytest.mark.skipif(
    ACTIONLINT is None, reason="actionlint is not installed (pip install -e '.[test]')"
)


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT is not None
    return subprocess.run(
        [ACTIONLINT, "-no-color", "-shellcheck", SHELLCHECK or "", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- actionlint --------------------------------------------------------------------------------


def test_the_folder_has_the_workflows() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "synthetics-scheduled.yml", "synthetics-release.yml"} <= names
    assert "synthetics-janitor.yml" in names


@needs_actionlint
def test_actionlint_finds_nothing_in_any_workflow() -> None:
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@needs_actionlint
def test_actionlint_and_shellcheck_would_catch_a_mistake(tmp_path: Path) -> None:
    if SHELLCHECK is None:
        pytest.skip("shellcheck is not installed (pip install -e '.[test]')")
    text = (FOLDER / "synthetics-scheduled.yml").read_text(encoding="utf-8")
    broken = text.replace("    timeout-minutes: 25\n", "    timeout-minute: 25\n", 1)
    broken = broken.replace(
        'echo "history: $store"', 'echo "history: $store" $UNQUOTED_SPLITS_ON_SPACES', 1
    )
    assert broken != text
    path = tmp_path / "broken.yml"
    path.write_text(broken, encoding="utf-8")
    result = actionlint(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'unexpected key "timeout-minute"' in result.stdout
    assert "SC2086" in result.stdout  # ShellCheck: double quote to prevent word splitting


# --- pinned actions ----------------------------------------------------------------------------

USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
PINNED = re.compile(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(/[A-Za-z0-9_./-]+)?@([0-9a-f]{40})$")
VERSION = re.compile(r"^\s*#\s*(v\d+\.\d+\.\d+)\s*$")


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    problems, pins = [], {}
    for path in WORKFLOWS:
        lines = path.read_text(encoding="utf-8").splitlines()
        listed = [USES_LINE.match(line) for line in lines]
        found = [m for m in listed if m]
        jobs = workflow(path)["jobs"].values()
        parsed = [str(s["uses"]) for job in jobs for s in steps_of(job) if "uses" in s]
        parsed += [str(job["uses"]) for job in jobs if "uses" in job]  # reusable workflows
        assert sorted(m.group(1) for m in found) == sorted(parsed), (
            f"{path.name}: a uses: the line scan does not see (flow style?)"
        )
        for n, m in enumerate(listed, 1):
            if not m:
                continue
            ref, rest = m.group(1), m.group(2)
            if ref.startswith("./"):
                continue  # an action of this repository: pinned by the checkout itself
            pin, version = PINNED.match(ref), VERSION.match(rest)
            if ref.startswith("docker://"):
                if not re.search(r"@sha256:[0-9a-f]{64}$", ref):
                    problems.append(f"{path.name}:{n}: {ref} is not pinned by digest")
                continue
            if pin is None:
                problems.append(f"{path.name}:{n}: {ref} is not pinned to a 40-hex commit")
                continue
            if version is None:
                problems.append(f"{path.name}:{n}: {ref} has no '# vX.Y.Z' comment")
                continue
            pins.setdefault(pin.group(1), set()).add((pin.group(3), version.group(1)))
    problems += [
        f"{repo} is pinned to several commits: {sorted(seen)}"
        for repo, seen in pins.items()
        if len(seen) > 1
    ]
    assert not problems, "\n".join(problems)
    assert {"actions/checkout", "actions/setup-python", "actions/cache"} <= set(pins)


# --- permissions and concurrency ---------------------------------------------------------------


def _permission_problems(where: str, perms: Any, allowed: set[str]) -> list[str]:
    if perms in ({}, None):
        return []
    if isinstance(perms, str):
        return [] if perms == "none" else [f"{where}: permissions {perms!r} (name each scope)"]
    return [
        f"{where}: {scope}: {level}"
        for scope, level in perms.items()
        if level not in ("read", "none") and not (level == "write" and scope in allowed)
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_least(path: Path) -> None:
    data = workflow(path)
    allowed = ALLOWED_WRITES.get(path.name, set())
    assert "permissions" in data, f"{path.name}: no top-level permissions (the default is broad)"
    problems = _permission_problems(path.name, data["permissions"], allowed)
    for job_id, job in data["jobs"].items():
        problems += _permission_problems(f"{path.name} {job_id}", job.get("permissions"), allowed)
        checks_out = any("actions/checkout@" in str(s.get("uses", "")) for s in steps_of(job))
        perms = job.get("permissions", data["permissions"])
        if checks_out:
            assert isinstance(perms, dict) and perms.get("contents") == "read", (
                f"{path.name} {job_id}: checks out, so it needs contents: read"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_concurrency_is_set_and_per_target(path: Path) -> None:
    data = workflow(path)
    for job_id, job in data["jobs"].items():
        assert "concurrency" in data or "concurrency" in job, f"{path.name} {job_id}"
        target = environment_of(job)
        if target is None:
            continue
        concurrency = job.get("concurrency")
        assert isinstance(concurrency, dict), f"{path.name} {job_id}: its own concurrency group"
        assert target in str(concurrency["group"]), (
            f"{path.name} {job_id}: the group {concurrency['group']!r} is not per target"
        )
        # Cancelling a run against a target interrupts it (exit 4): let it finish.
        assert concurrency.get("cancel-in-progress", False) is False, f"{path.name} {job_id}"


# --- environments and secrets ------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_are_read_only_in_their_environment(path: Path) -> None:
    data = workflow(path)
    problems = [
        f"{path.name}: workflow-level {where} reads a secret"
        for where, text in strings({k: v for k, v in data.items() if k != "jobs"})
        if SECRET.search(text)
    ]
    hosted = hosted_targets()
    for job_id, job in data["jobs"].items():
        refs = [
            (where, text)
            for where, text in strings(job)
            if any(name != GITHUB_TOKEN for name in SECRET.findall(text))
        ]
        if job.get("secrets") == "inherit":
            problems.append(f"{path.name} {job_id}: secrets: inherit")
        if not refs:
            continue
        target = environment_of(job)
        if target is None:
            problems.append(f"{path.name} {job_id}: reads secrets outside an environment")
            continue
        if target == "${{ matrix.target }}":
            legs = set(job["strategy"]["matrix"]["target"])
            if not legs <= hosted:
                problems.append(f"{path.name} {job_id}: legs {sorted(legs - hosted)} not targets")
        elif target not in hosted:
            problems.append(f"{path.name} {job_id}: environment {target!r} is not a target")
        for where, text in refs:
            if not re.fullmatch(r"steps\[\d+\]\.env\.[A-Za-z_][A-Za-z0-9_]*", where):
                problems.append(f"{path.name} {job_id}: {where} reads a secret (only step env)")
            elif not WHOLE_SECRET.match(text):
                problems.append(f"{path.name} {job_id}: {where}: {text!r} is not one secret")
    assert not problems, "\n".join(problems)


def target_steps() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(workflow, job, target, step) for each step that runs synthetics against a hosted target."""
    found = []
    for name, job_id, job in all_jobs():
        env_name = environment_of(job)
        if env_name is None:
            continue
        legs = (
            job["strategy"]["matrix"]["target"]
            if env_name == "${{ matrix.target }}"
            else [env_name]
        )
        for s in steps_of(job):
            if runs_synthetics(s):
                found += [(name, job_id, leg, s) for leg in legs]
    return found


TARGET_STEPS = target_steps()


def test_the_hosted_targets_run_in_their_environments() -> None:
    legs = {(w, target) for w, _, target, _ in TARGET_STEPS}
    for name in ("synthetics-scheduled.yml", "synthetics-janitor.yml"):
        assert {(name, t) for t in hosted_targets()} <= legs, name
    assert ("synthetics-release.yml", "staging") in legs


@pytest.mark.parametrize(
    ("name", "job_id", "target", "s"),
    TARGET_STEPS,
    ids=[f"{w} {j} {s.get('id')} {t}" for w, j, t, s in TARGET_STEPS],
)
def test_each_synthetics_step_gets_what_the_profile_references(
    name: str, job_id: str, target: str, s: dict[str, Any]
) -> None:
    env = s.get("env", {})
    missing = sorted(profile_references(target) - set(env))
    assert not missing, f"{name} {job_id} {s.get('id')}: the profile needs {missing}"
    for var in profile_references(target):
        assert env[var] == f"${{{{ secrets.{var} }}}}", f"{var} is not the secret of that name"
    # The script passes secrets as literal \${NAME} for synthetics to resolve, never expanded.
    script = str(s["run"])
    for var, value in env.items():
        if not SECRET.search(str(value)):
            continue
        uses = re.findall(rf"(.{{0,6}})\$\{{?{var}\b", script)
        for before in uses:
            assert before.endswith(("\\", '-n "', '-z "')), (
                f"{name} {job_id} {s.get('id')}: ${var} is expanded into the script"
            )


# --- caches ------------------------------------------------------------------------------------


def test_chromium_comes_from_a_cache_keyed_on_playwrights_version() -> None:
    seen = 0
    for name, job_id, job in all_jobs():
        steps = steps_of(job)
        installs = [s for s in steps if "playwright install" in str(s.get("run", ""))]
        if not installs:
            continue
        seen += 1
        where = f"{name} {job_id}"
        version = step(job, "playwright")
        assert 'version("playwright")' in version["run"], where
        cache = step(job, "browser")
        assert str(cache["uses"]).startswith("actions/cache@"), where
        assert cache["with"]["path"] == "~/.cache/ms-playwright", where
        assert cache["with"]["key"] == "${{ steps.playwright.outputs.cache-key }}", where
        full = [s for s in installs if "--with-deps" in s["run"]]
        deps = [s for s in installs if "install-deps" in s["run"]]
        assert len(full) == 1 and len(deps) == 1 and len(installs) == 2, where
        assert full[0]["if"] == "steps.browser.outputs.cache-hit != 'true'", where
        assert deps[0]["if"] == "steps.browser.outputs.cache-hit == 'true'", where
        assert steps.index(cache) < steps.index(full[0]), where
        setup = next(s for s in steps if "actions/setup-python@" in str(s.get("uses", "")))
        assert setup["with"]["cache"] == "pip", where
    assert seen >= 3


def test_the_sqlite_history_is_restored_and_saved_per_target() -> None:
    job = workflow(FOLDER / "synthetics-scheduled.yml")["jobs"]["watch"]
    steps = steps_of(job)
    restore = next(s for s in steps if "actions/cache/restore@" in str(s.get("uses", "")))
    save = next(s for s in steps if "actions/cache/save@" in str(s.get("uses", "")))
    run = step(job, "run")
    assert steps.index(restore) < steps.index(run) < steps.index(save)
    assert restore["with"]["path"] == save["with"]["path"]
    assert restore["with"]["key"] == save["with"]["key"]
    key = str(save["with"]["key"])
    assert "${{ matrix.target }}" in key and "${{ github.run_id }}" in key
    prefix = str(restore["with"]["restore-keys"])
    assert key.startswith(prefix) and prefix.endswith("${{ matrix.target }}-")
    # The cached path is where the default [history] url puts the file (and SQLite's WAL).
    default = DEFAULT_URL.removeprefix("sqlite:///")
    for name in (default, default + "-wal", default + "-shm"):
        assert fnmatch.fnmatch(name, str(save["with"]["path"])), name
    assert "history.url" not in PROFILE.read_text(encoding="utf-8").split("[history]")[-1]
    # Only for SQLite, and saved whatever the run found (a critical run is history too).
    for s in (restore, save):
        assert "steps.history.outputs.store == 'sqlite'" in str(s["if"])
    assert "!cancelled()" in str(save["if"])


def test_after_the_run_every_step_still_runs_when_the_run_failed() -> None:
    for name, job_id, job in all_jobs():
        steps = steps_of(job)
        runs = [s for s in steps if s.get("id") == "run" and runs_synthetics(s, "run")]
        if not runs:
            continue
        after = steps[steps.index(runs[0]) + 1 :]
        for s in after:
            if s.get("name", "").startswith("Rehearse"):
                continue
            condition = str(s.get("if", ""))
            assert "!cancelled()" in condition or "always()" in condition, (
                f"{name} {job_id}: {s.get('name', s.get('uses'))} is skipped when the run fails"
            )


# --- schedule, heartbeat, janitor --------------------------------------------------------------


def cron_interval(expression: str) -> timedelta:
    """The interval of a cron that fires every N minutes (`*/30 * * * *`, `7,37 * * * *`)."""
    minute, hour, *rest = expression.split()
    assert hour == "*" and rest == ["*", "*", "*"], f"{expression!r} is not sub-hourly"
    if minute.startswith("*/"):
        step_minutes = int(minute[2:])
        assert 60 % step_minutes == 0
        return timedelta(minutes=step_minutes)
    marks = sorted(int(m) for m in minute.split(","))
    gaps = {(b - a) % 60 or 60 for a, b in zip(marks, marks[1:] + marks[:1], strict=True)}
    assert len(gaps) == 1, f"{expression!r} is not evenly spaced"
    return timedelta(minutes=gaps.pop())


def test_the_schedule_is_what_the_history_and_the_heartbeat_expect() -> None:
    crons = workflow(FOLDER / "synthetics-scheduled.yml")["on"]["schedule"]
    assert len(crons) == 1
    interval = cron_interval(crons[0]["cron"])
    settings = load_config(path=PROFILE, env={})
    assert parse_duration(settings.config.history.expected_interval) == interval
    assert parse_duration(settings.config.heartbeat.expected_interval) == interval
    assert parse_duration(HistoryConfig().expected_interval) == interval
    assert parse_duration(HeartbeatConfig().expected_interval) == interval


def test_the_janitor_never_reaches_a_run_in_progress() -> None:
    janitor = workflow(FOLDER / "synthetics-janitor.yml")["jobs"]["janitor"]
    command = step(janitor, "janitor")["run"]
    older = re.search(r"--older-than (\S+)", command)
    assert older, "the janitor must bound what it deletes by age"
    watch = workflow(FOLDER / "synthetics-scheduled.yml")["jobs"]["watch"]
    assert parse_duration(older.group(1)) > timedelta(minutes=int(watch["timeout-minutes"]))
    crons = workflow(FOLDER / "synthetics-janitor.yml")["on"]["schedule"]
    assert [c["cron"].split()[2:] for c in crons] == [["*", "*", "*"]]  # daily


# --- the verdict -------------------------------------------------------------------------------


def verdict_steps() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    found = []
    for name, job_id, job in all_jobs():
        for s in steps_of(job):
            if s.get("id") == "run" and runs_synthetics(s, "run"):
                verdicts = [v for v in steps_of(job) if v.get("name") == "Verdict"]
                assert len(verdicts) == 1, f"{name} {job_id}: no Verdict step after its run"
                found.append((name, job_id, s, verdicts[0]))
    return found


VERDICTS = verdict_steps()


@pytest.mark.parametrize(
    ("name", "job_id", "run", "verdict"), VERDICTS, ids=[f"{w} {j}" for w, j, _, _ in VERDICTS]
)
def test_the_verdict_fails_the_job_on_critical_config_error_or_no_finish(
    name: str, job_id: str, run: dict[str, Any], verdict: dict[str, Any], tmp_path: Path
) -> None:
    assert 'echo "exit-code=$code" >> "$GITHUB_OUTPUT"' in run["run"]
    assert verdict["env"]["CODE"] == "${{ steps.run.outputs.exit-code }}"
    assert verdict["if"] == "${{ !cancelled() }}"
    script = tmp_path / "verdict.sh"
    script.write_text(verdict["run"], encoding="utf-8")
    outcomes = {}
    for code in ("0", "1", "2", "3", "4", "", "137"):
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env={"PATH": os.environ["PATH"], "CODE": code, "TARGET": "staging"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        outcomes[code] = result.returncode
        if result.returncode:
            assert result.stdout.startswith("::error title=synthetics staging::"), result.stdout
    assert outcomes == {"0": 0, "1": 0, "2": 1, "3": 1, "4": 1, "": 1, "137": 1}


# --- the scheduled job's steps, run for real ---------------------------------------------------

EXPRESSION = re.compile(
    r"\$\{\{\s*([a-z]+)\.([A-Za-z0-9_-]+)(?:\.outputs\.([A-Za-z0-9_-]+))?\s*\}\}"
)
#: Variables of the developer's shell that must not reach a step (the workflow sets its own).
FOREIGN = (
    "SUPABASE_",
    "MAILOSAUR_",
    "SYNTHETICS_",
    "GITHUB_",
    "HEARTBEAT_",
    "SLACK_",
    "PAGERDUTY_",
)
FOREIGN_NAMES = {"HISTORY_DATABASE_URL", "CI"}


def closed_port() -> int:
    """A loopback port nothing listens on (a target that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Runner:
    """Runs a job's `run:` steps as the GitHub runner does, in `workdir`, with the real CLI."""

    job: dict[str, Any]
    workdir: Path
    secrets: dict[str, str]
    matrix: dict[str, str] = field(default_factory=dict)
    #: Added to every step's environment (what the test adds to keep every request on loopback).
    extra_env: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bin = self.workdir / "_bin"
        self.bin.mkdir()
        # `synthetics` on PATH is this checkout's CLI (the console script may be another's).
        launcher = self.bin / "synthetics"
        launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m synthetics.cli "$@"\n')
        launcher.chmod(0o755)
        self.summary = self.workdir / "_summary.md"
        shutil.copy(PROFILE, self.workdir / "synthetics.toml")

    def _evaluate(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            context, name, output = match.groups()
            if context == "secrets":
                return self.secrets.get(name, "")
            if context == "matrix":
                return self.matrix[name]
            if context == "steps":
                assert output is not None
                return self.outputs.get(name, {}).get(output, "")
            raise AssertionError(f"unsupported expression {match.group(0)!r} in a step's env")

        evaluated = EXPRESSION.sub(value, text)
        assert "${{" not in evaluated, f"unsupported expression in a step's env: {text!r}"
        return evaluated

    def run(self, step_id: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """One step; `extra` is added to its environment alone."""
        s = step(self.job, step_id)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(FOREIGN) and k not in FOREIGN_NAMES
        }
        output = self.workdir / f"_output-{step_id}-{len(self.logs)}"
        output.touch()
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=str(ROOT),
            CI="true",
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME="schedule",
            GITHUB_SERVER_URL="https://github.com",
            GITHUB_REPOSITORY="mamapace/supabase-synthetics",
            GITHUB_RUN_ID="4242",
            GITHUB_OUTPUT=str(output),
            GITHUB_STEP_SUMMARY=str(self.summary),
        )
        env.update(self.extra_env)
        env.update(extra)
        env.update({k: self._evaluate(str(v)) for k, v in s.get("env", {}).items()})
        script = self.workdir / f"_{step_id}.sh"
        script.write_text(str(s["run"]), encoding="utf-8")
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        self.logs.append(result.stdout + result.stderr + output.read_text(encoding="utf-8"))
        self.outputs[step_id] = dict(
            line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines()
        )
        return result

    def everything_written(self) -> str:
        """Every log, output, summary and file the steps left in the work folder."""
        texts = list(self.logs)
        for path in self.workdir.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".html", ".xml", ".md", ".txt"):
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(texts)


#: What must never be written anywhere (the server id and the URL are not secrets).
SECRET_NAMES = ("SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "MAILOSAUR_API_KEY")


@pytest.fixture
def down_target() -> dict[str, str]:
    """The target's secrets: a project that does not answer, keys that look real."""
    return {
        "SUPABASE_URL": f"http://127.0.0.1:{closed_port()}",
        "SUPABASE_ANON_KEY": "eyJ-anon-key-of-the-workflow-test-7c1f",
        "SUPABASE_SERVICE_ROLE_KEY": "eyJ-service-role-key-of-the-workflow-test-93ad",
        "MAILOSAUR_SERVER_ID": "wf12test",
        "MAILOSAUR_API_KEY": "mailosaur-api-key-of-the-workflow-test-0b5e",
    }


def loopback_only(target: str) -> dict[str, str]:
    """Config the test adds so that nothing leaves the machine: the test inbox's API."""
    key = f"SYNTHETICS_TARGETS__{target.upper()}__INBOX__URL"
    return {key: f"http://127.0.0.1:{closed_port()}"}


def annotations(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("::")]


@pytest.fixture(scope="module")
def alert_services() -> Iterator[Any]:
    from tests.alerting.services import Service, pagerduty_app, ping_app, slack_app
    from tests.servers import serve

    slack, pagerduty, ping = Service(), Service(), Service()
    with (
        serve(slack_app(slack)) as s,
        serve(pagerduty_app(pagerduty)) as p,
        serve(ping_app(ping)) as h,
    ):
        yield {
            "slack": slack,
            "pagerduty": pagerduty,
            "ping": ping,
            "slack_url": s.url,
            "pagerduty_url": p.url + "/v2/enqueue",
            "ping_url": h.url,
        }


def test_the_scheduled_job_on_sqlite_alerts_pings_and_keeps_its_history(
    tmp_path: Path, down_target: dict[str, str], alert_services: dict[str, Any]
) -> None:
    from tests.alerting.services import PD_ROUTING_KEY, PING_UUID, SLACK_HOOK

    for name in ("slack", "pagerduty", "ping"):
        alert_services[name].received.clear()
    secrets = {
        **down_target,
        "HEARTBEAT_URL": f"{alert_services['ping_url']}/ping/{PING_UUID}",
        "SLACK_WEBHOOK_URL": alert_services["slack_url"] + SLACK_HOOK,
        "PAGERDUTY_ROUTING_KEY": PD_ROUTING_KEY,
    }
    job = workflow(FOLDER / "synthetics-scheduled.yml")["jobs"]["watch"]
    runner = Runner(
        job,
        tmp_path,
        secrets,
        matrix={"target": "staging"},
        extra_env=loopback_only("staging"),
    )
    # PagerDuty's endpoint, on loopback (the workflow sets only the routing key).
    pagerduty = {"SYNTHETICS_ALERTS__CHANNELS__PAGERDUTY__URL": alert_services["pagerduty_url"]}

    assert runner.run("history").returncode == 0
    assert runner.outputs["history"] == {"store": "sqlite"}

    first = runner.run("run", **pagerduty)
    assert first.returncode == 0, first.stdout + first.stderr  # the verdict comes last
    assert runner.outputs["run"] == {"exit-code": "2"}
    assert any(
        a.startswith("::error title=CRITICAL auth.health on staging::")
        for a in annotations(first.stdout)
    ), first.stdout
    summary = runner.summary.read_text(encoding="utf-8")
    assert summary.startswith("## synthetics: CRITICAL on staging")
    assert (tmp_path / "reports/staging/results.json").is_file()
    history = tmp_path / ".synthetics" / "history.sqlite"
    assert history.is_file(), "the run did not write where the cache step saves from"
    pings = [r.body for r in alert_services["ping"].received]
    assert [p["event"] for p in pings] == ["start", "2"]
    assert pings[0]["rid"] == pings[1]["rid"]
    assert alert_services["slack"].received == []  # pending: failure_threshold is 2

    # The next scheduled run finds the history the cache restored: the alert fires.
    second = runner.run("run", **pagerduty)
    assert runner.outputs["run"] == {"exit-code": "2"}, second.stdout + second.stderr
    slack = alert_services["slack"].accepted()
    assert len(slack) == 1 and "auth.health" in json.dumps(slack[0]), slack
    triggers = [e for e in alert_services["pagerduty"].accepted() if e["event_action"] == "trigger"]
    assert len(triggers) == 1 and triggers[0]["routing_key"] == PD_ROUTING_KEY
    assert "staging" in json.dumps(triggers[0]["payload"])

    report = runner.run("report")
    assert report.returncode == 0, report.stdout + report.stderr
    data = json.loads((tmp_path / "site/staging/report.json").read_text(encoding="utf-8"))
    assert data["schema"] == "synthetics/report@1" and data["target"] == "staging"
    assert data["series"]["runs"] == 2
    assert data["latest_run"]["status"] == "critical"
    assert (tmp_path / "site/staging/index.html").is_file()

    verdict = runner.run("verdict")
    assert verdict.returncode == 1
    assert "::error title=synthetics staging::critical" in verdict.stdout

    written = runner.everything_written()
    for name in (*SECRET_NAMES, "PAGERDUTY_ROUTING_KEY"):
        assert secrets[name] not in written, f"{name} leaked"
    assert SLACK_HOOK not in written and PING_UUID not in written


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    from synthetics.sandbox.database import Database

    database = Database()
    database.start()
    try:
        yield database
    finally:
        database.stop()


def test_the_scheduled_job_on_postgres_records_there_and_nothing_else_is_configured(
    tmp_path: Path, down_target: dict[str, str], postgres: Any, alert_services: dict[str, Any]
) -> None:
    from synthetics.history.store import open_store

    for name in ("slack", "pagerduty", "ping"):
        alert_services[name].received.clear()
    database = f"workflow_{uuid.uuid4().hex[:10]}"
    with postgres.connect() as conn:
        conn.execute(f"create database {database}")
    url = f"postgresql://postgres@{postgres.host}:{postgres.port}/{database}"
    secrets = {**down_target, "HISTORY_DATABASE_URL": url}
    job = workflow(FOLDER / "synthetics-scheduled.yml")["jobs"]["watch"]
    runner = Runner(
        job,
        tmp_path,
        secrets,
        matrix={"target": "production"},
        extra_env=loopback_only("production"),
    )

    runner.run("history")
    assert runner.outputs["history"] == {"store": "postgres"}
    run = runner.run("run")
    assert runner.outputs["run"] == {"exit-code": "2"}, run.stdout + run.stderr
    assert not (tmp_path / ".synthetics").exists(), "the run wrote a SQLite history too"
    store = open_store(url)
    try:
        recorded = store.runs(target="production")
    finally:
        store.close()
    assert [r.status.value for r in recorded] == ["critical"]
    assert recorded[0].location == "github-actions"

    report = runner.run("report")
    assert report.returncode == 0, report.stdout + report.stderr
    data = json.loads((tmp_path / "site/production/report.json").read_text(encoding="utf-8"))
    assert data["series"]["runs"] == 1

    # Without their secrets, the heartbeat, Slack and PagerDuty hear nothing.
    for name in ("slack", "pagerduty", "ping"):
        assert alert_services[name].received == [], name
    assert runner.run("verdict").returncode == 1
    written = runner.everything_written()
    assert url not in written
    for name in SECRET_NAMES:
        assert down_target[name] not in written, f"{name} leaked"


def test_a_database_url_reaches_run_and_report_and_never_their_output(
    tmp_path: Path, down_target: dict[str, str]
) -> None:
    db_url = (
        f"postgresql://reader:db-password-of-the-workflow-test@127.0.0.1:{closed_port()}/postgres"
    )
    job = workflow(FOLDER / "synthetics-scheduled.yml")["jobs"]["watch"]
    runner = Runner(
        job,
        tmp_path,
        {**down_target, "SUPABASE_DB_URL": db_url},
        matrix={"target": "staging"},
        extra_env=loopback_only("staging"),
    )
    runner.run("history")
    run = runner.run("run")
    assert runner.outputs["run"] == {"exit-code": "2"}, run.stdout + run.stderr
    results = json.loads((tmp_path / "reports/staging/results.json").read_text(encoding="utf-8"))
    advisor = next(c for c in results["checks"] if c["id"] == "security.advisor")
    assert advisor["status"] == "blocked"  # configured (not skipped for want of a db_url)
    # The dashboard reads the app's own figures from it: unreachable, the step says so.
    report = runner.run("report")
    assert report.returncode == 1
    assert "db-password-of-the-workflow-test" not in runner.everything_written()


def test_the_release_staging_job_runs_without_history_heartbeat_or_paging(
    tmp_path: Path, down_target: dict[str, str]
) -> None:
    job = workflow(FOLDER / "synthetics-release.yml")["jobs"]["staging"]
    runner = Runner(job, tmp_path, down_target, extra_env=loopback_only("staging"))
    run = runner.run("run")
    assert runner.outputs["run"] == {"exit-code": "2"}, run.stdout + run.stderr
    results = json.loads((tmp_path / "reports/staging/results.json").read_text(encoding="utf-8"))
    assert results["trigger"] == "release"
    assert not (tmp_path / ".synthetics").exists()
    assert runner.summary.read_text(encoding="utf-8").startswith("## synthetics: CRITICAL")
    assert runner.run("verdict").returncode == 1


def test_the_janitor_step_is_a_usable_command(tmp_path: Path, down_target: dict[str, str]) -> None:
    from synthetics.cli import build_parser

    try:
        build_parser().parse_args(["janitor", "--help"])
    except SystemExit as exc:
        if exc.code != 0:
            pytest.skip("synthetics janitor is not built yet")
    job = workflow(FOLDER / "synthetics-janitor.yml")["jobs"]["janitor"]
    runner = Runner(
        job, tmp_path, down_target, matrix={"target": "staging"}, extra_env=loopback_only("staging")
    )
    result = runner.run("janitor")
    # The target is down: the janitor may fail, but not on its arguments or configuration.
    assert result.returncode != 3, result.stdout + result.stderr
    written = runner.everything_written()
    for name in SECRET_NAMES:
        assert down_target[name] not in written, f"{name} leaked"
