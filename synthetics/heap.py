"""The garbage collector of a `synthetics` command's own process.

A run's process loads pytest, Playwright, psycopg, uvicorn, the supabase client and the checks:
some 230,000 objects that live until the process exits and hold no garbage worth looking for.
Looking anyway cost a run about 0.6 s of its 3.5 s (bench/run.py): the collector made full passes
while the modules loaded, pytest forces five at the end of every session (its unraisable-exception
plugin), and the interpreter makes one more at exit, each over the whole heap.

So the command's process pauses the collector while it starts, and when the checks first begin it
freezes the heap it has (`gc.freeze`: later collections skip those objects) and lets the collector
run again: what the checks make from then on is collected as usual. This happens once per process:
`watch` freezes its start-up heap before its first cycle, not the garbage of every cycle, and
once more before its second cycle what the first left alive (its garbage collected first).

Only the console command does this (`synthetics.__main__.console`, and `python -m synthetics.cli`);
`synthetics.cli.main()` called in another program's process, such as the test suite's, leaves
its collector alone.
"""

from __future__ import annotations

import gc
from typing import Any

from pluggy import HookimplMarker

hookimpl = HookimplMarker("pytest")


class StartupHeap:
    """The collector paused through a process's start-up, and that heap frozen as the checks
    begin. A pytest plugin object: `synthetics run` and `watch` hand it to pytest."""

    def __init__(self) -> None:
        self.paused = False
        self.frozen = False
        self.settled = False

    def pause(self) -> StartupHeap:
        """Stop collecting while the process starts (no-op if the collector is already off)."""
        if gc.isenabled():
            gc.disable()
            self.paused = True
        return self

    def release(self) -> None:
        """Freeze what start-up made and collect again from here on; only the first call acts."""
        if self.frozen:
            return
        self.frozen = True
        gc.freeze()
        if self.paused:
            self.paused = False
            gc.enable()

    @hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: Any) -> None:
        """The checks are collected and about to run: start-up is over."""
        self.release()

    def settle(self) -> None:
        """Between two cycles of a long-lived process (`watch`, before every cycle but its
        first): once, collect the first cycle's garbage, then freeze what is still alive (the
        warm sandbox and browser, the caches), so that each later cycle's collections, pytest's
        five at the end of every session among them, look only at that cycle's objects."""
        if self.frozen and not self.settled:
            self.settled = True
            gc.collect()
            gc.freeze()
