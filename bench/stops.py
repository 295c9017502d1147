"""Hard stops, repeated: SIGTERM to the run's process group at random moments (N times) and SIGKILL
(M times, each followed by a run that must reap what the killed one left). Prints how long each
stop took and what, if anything, was left.

    python bench/stops.py [--sigterms 20] [--sigkills 5]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from synthetics.reaper import OWNER_ENV  # noqa: E402


def owned(tag: str) -> list[int]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(OWNER_ENV) == tag:
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return found


def folders(tag: str) -> list[Path]:
    bases = (Path(tempfile.gettempdir()), Path("/dev/shm"))  # clusters live in memory when they can
    return [p for base in bases for p in base.glob(f"synthetics-*-{tag}-*")]


def start(report_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    run = subprocess.Popen(
        [sys.executable, "-m", "synthetics.cli", "run", "--report-dir", str(report_dir),
         "--fault", "email.delay=30"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return run, f"{run.pid}-{int(psutil.Process(run.pid).create_time())}"


def settle(tag: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while owned(tag) or folders(tag):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sigterms", type=int, default=20)
    parser.add_argument("--sigkills", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-stops-"))
    took, codes, left = [], [], 0
    for n in range(args.sigterms):
        run, tag = start(work / f"term-{n}")
        time.sleep(random.uniform(0.3, 4.0))  # anywhere from start-up to the email wait
        sent = time.monotonic()
        os.killpg(run.pid, signal.SIGTERM)
        codes.append(run.wait(timeout=60))
        took.append(time.monotonic() - sent)
        left += not settle(tag, 10)
    print(
        f"SIGTERM to the group x{args.sigterms}: exit codes {sorted(set(codes))}, "
        f"stop time p50 {statistics.median(took):.2f} s, max {max(took):.2f} s, "
        f"runs that left something: {left}"
    )
    stale = 0
    for n in range(args.sigkills):
        run, tag = start(work / f"kill-{n}")
        time.sleep(random.uniform(1.0, 3.0))
        run.kill()
        run.wait(timeout=30)
        had = len(owned(tag))
        subprocess.run(
            [sys.executable, "-m", "synthetics.cli", "run", "--only", "auth", "--set",
             "deeplink.browser=off", "--report-dir", str(work / f"after-{n}")],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
        clean = settle(tag, 15)
        stale += not clean
        print(
            f"SIGKILL {n + 1}: {had} process(es) of the killed run alive; after the next run: "
            f"{'nothing left' if clean else 'LEFT BEHIND'}"
        )
    print(f"SIGKILL x{args.sigkills}: next runs left {stale} stale run(s) behind")


if __name__ == "__main__":
    main()
