"""synthetics.heap: the console process's collector, paused through start-up and its heap frozen
once as the checks begin. Each case runs in a process of its own: the collector is process-wide,
and freezing the test suite's own heap would keep its garbage for good."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import gc, json, sys
import pytest
from synthetics.heap import StartupHeap

seen = []

class Observe:
    def pytest_runtest_call(self, item):
        seen.append({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()})

heap = StartupHeap().pause()
paused = not gc.isenabled()
for _ in range(2):
    pytest.main([sys.argv[1], "-q", "-p", "no:cacheprovider"], plugins=[heap, Observe()])
print(json.dumps({"paused": paused, "seen": seen, "after": gc.isenabled()}))
"""


def observe(tmp_path: Path, script: str, *args: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    observed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return observed


def keeping_check(tmp_path: Path) -> str:
    """A test file whose one check leaves 50,000 objects alive (a second freeze would take
    them too)."""
    path = tmp_path / "test_one.py"
    path.write_text(
        "import builtins\n\ndef test_one():\n"
        "    builtins.__dict__.setdefault('kept', []).append([[] for _ in range(50_000)])\n"
    )
    return str(path)


def test_the_collector_is_paused_until_the_checks_begin_then_the_heap_is_frozen_once(
    tmp_path: Path,
) -> None:
    observed = observe(tmp_path, SCRIPT, keeping_check(tmp_path))
    assert observed["paused"] is True
    first, second = observed["seen"]  # type: ignore[misc]
    # As the first session's checks run, the collector is back and start-up's heap is frozen.
    assert first["enabled"] is True
    assert first["frozen"] > 10_000  # pytest alone is tens of thousands of objects
    # The second session (watch's next cycle) freezes nothing more.
    assert second["enabled"] is True
    assert abs(second["frozen"] - first["frozen"]) < 50_000
    assert observed["after"] is True


SETTLE = """
import gc, json, sys
import pytest
from synthetics.heap import StartupHeap

heap = StartupHeap().pause()
pytest.main([sys.argv[1], "-q", "-p", "no:cacheprovider"], plugins=[heap])
junk = [[] for _ in range(100_000)]
for item in junk:
    item.append(item)  # cycles only the collector frees
del junk
before = gc.get_freeze_count()
heap.settle()
settled = gc.get_freeze_count()
heap.settle()
print(json.dumps({"before": before, "settled": settled, "again": gc.get_freeze_count()}))
"""


def test_settling_after_a_first_cycle_freezes_what_it_left_alive_not_its_garbage(
    tmp_path: Path,
) -> None:
    observed = observe(tmp_path, SETTLE, keeping_check(tmp_path))
    grown = int(observed["settled"]) - int(observed["before"])  # type: ignore[call-overload]
    assert 50_000 <= grown < 100_000  # the kept lists, not the 100,000 garbage ones
    assert observed["again"] == observed["settled"]  # once only


def test_a_command_without_checks_collects_as_usual(tmp_path: Path) -> None:
    script = """
import gc, json
from synthetics import cli
from synthetics.heap import StartupHeap

heap = StartupHeap().pause()
code = cli.main(["rules", "--prometheus", "--out", "rules.yml"], heap=heap)
print(json.dumps({"code": code, "enabled": gc.isenabled()}))
"""
    assert observe(tmp_path, script) == {"code": 0, "enabled": True}
    assert "groups:" in (tmp_path / "rules.yml").read_text()


def test_main_in_another_program_leaves_its_collector_alone(tmp_path: Path) -> None:
    script = """
import gc, json
from synthetics import cli

code = cli.main(["rules", "--prometheus", "--out", "rules.yml"])
print(json.dumps({"code": code, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""
    assert observe(tmp_path, script) == {"code": 0, "enabled": True, "frozen": 0}


def test_the_console_script_runs_the_command_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "synthetics", "rules", "--prometheus", "--out", "rules.yml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "groups:" in (tmp_path / "rules.yml").read_text()
    usage = subprocess.run(
        [sys.executable, "-m", "synthetics", "nope"], capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 3  # the contract's usage error, not argparse's 2
