"""Every documented example runs: the README's `$ synthetics …` sessions, `synthetics run --help`'s
examples and the release workflow's fault rehearsal, each against the sandbox, with the exit code
and the output the documentation shows."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from synthetics.cli import RUN_EXAMPLES

ROOT = Path(__file__).parents[1]


@dataclass(frozen=True)
class Example:
    """A documented command, and what the documentation says it does."""

    where: str
    command: str
    exit_code: int | None = None
    first_line: str | None = None  # the output's first line, when the docs show it
    headline: str | None = None  # the run's status word in its headline


def readme_examples() -> list[Example]:
    """`$ synthetics run …` lines in the README's text blocks, with what follows them."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    examples = []
    for block in re.findall(r"```text\n(.*?)```", text, flags=re.S):
        lines = block.splitlines()
        for n, line in enumerate(lines):
            if not line.startswith("$ synthetics run"):
                continue
            output = []
            for follower in lines[n + 1 :]:
                if follower.startswith("$ ") and not follower.startswith("$ echo $?"):
                    break
                output.append(follower)
            code = None
            if "$ echo $?" in output:
                code = int(output[output.index("$ echo $?") + 1])
            first = output[0] if output and output[0].startswith("synthetics:") else None
            status = re.search(r"^([A-Z]+) · sandbox · ", "\n".join(output), flags=re.M)
            examples.append(
                Example("README", line[2:], code, first, status.group(1) if status else None)
            )
    return examples


def help_examples() -> list[Example]:
    """`synthetics run --help`'s examples."""
    lines = [line.strip() for line in RUN_EXAMPLES.replace("\\\n", " ").splitlines()]
    return [Example("run --help", line) for line in lines if line.startswith("synthetics run")]


def workflow_rehearsals() -> list[Example]:
    """The release workflow's fault rehearsal, one command per fault, each expected to exit 2."""
    text = (ROOT / ".github/workflows/synthetics-release.yml").read_text(encoding="utf-8")
    faults = re.search(r"for fault in ([^;]+); do", text)
    command = re.search(r'(synthetics run --fault "\$fault".*)', text)
    assert faults and command, "the release workflow's rehearsal loop changed shape"
    return [
        Example(
            "synthetics-release.yml",
            re.sub(r"\s*--report-dir \S+", "", command.group(1)).replace('"$fault"', fault),
            2,
        )
        for fault in faults.group(1).split()
    ]


EXAMPLES = readme_examples() + help_examples() + workflow_rehearsals()


def test_the_documentation_has_examples_to_run() -> None:
    assert len(readme_examples()) >= 2
    assert len(help_examples()) >= 4
    assert len(workflow_rehearsals()) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.where}: {e.command}" for e in EXAMPLES])
def test_a_documented_example_does_what_it_says(example: Example, tmp_path: Path) -> None:
    args = shlex.split(example.command)[2:]  # after `synthetics run`
    # No XDG_RUNTIME_DIR, as on CI runners and in containers.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SUPABASE_", "MAILOSAUR_")) and k != "XDG_RUNTIME_DIR"
    }
    result = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", *args, "--report-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    output = result.stdout + result.stderr
    assert "Warning" not in result.stderr, result.stderr  # a library's noise is not the run's
    if "--target" in args and "staging" in args:
        # Documented for a real project: without its credentials it must stop before sending
        # anything, naming the variable to set.
        assert result.returncode == 3, output
        assert "SUPABASE_URL is not set" in result.stderr
        return
    if example.first_line is not None:
        assert result.stderr.splitlines()[0] == example.first_line
        assert result.returncode == 3
        return
    assert result.returncode in (0, 1, 2), output  # a usable command: neither 3 nor 4
    if example.exit_code is not None:
        assert result.returncode == example.exit_code, output
    if example.headline is not None:
        assert f"{example.headline} · sandbox · " in output
