"""The `synthetics` console script (and `python -m synthetics`): the command line in a process of
its own. The garbage collector is paused before the command line's modules load, and the heap
they make is frozen as the checks begin (synthetics.heap)."""

from __future__ import annotations

from typing import NoReturn

from synthetics.heap import StartupHeap


def console() -> NoReturn:
    """Run the command line with this process's collector paused through its start-up."""
    heap = StartupHeap().pause()
    from synthetics.cli import main

    raise SystemExit(main(heap=heap))


if __name__ == "__main__":
    console()
