"""What started a run: `schedule`, `release`, `manual` or `ci`, from `--trigger` or the environment.

Precedence: an explicit `--trigger` wins (the pre-release workflow is started by a tag push or by
hand, yet its runs are release runs); else GitHub's `GITHUB_EVENT_NAME`; else `ci` when another CI
says so (`CI=true`); else `manual` (an engineer's laptop). The rules keep release, manual and CI
runs out of the scheduled series, so a pre-release rehearsal never pages anyone.
"""

from __future__ import annotations

from collections.abc import Mapping

TRIGGERS = ("schedule", "release", "manual", "ci")

#: GitHub Actions events (docs: "Events that trigger workflows") → our trigger.
_GITHUB_EVENTS = {
    "schedule": "schedule",
    "release": "release",
    "workflow_dispatch": "manual",
    "repository_dispatch": "manual",
}


def trigger_from(env: Mapping[str, str], flag: str | None = None) -> str:
    """The run's trigger from `--trigger` (`flag`) or the environment (ValueError: bad flag)."""
    if flag is not None:
        if flag not in TRIGGERS:
            raise ValueError(f"trigger {flag!r} is not one of {', '.join(TRIGGERS)}")
        return flag
    event = env.get("GITHUB_EVENT_NAME", "").strip()
    if event:
        if event == "push" and env.get("GITHUB_REF", "").startswith("refs/tags/"):
            return "release"
        # push, pull_request, merge_group, workflow_run, workflow_call…: the project's CI.
        return _GITHUB_EVENTS.get(event, "ci")
    if env.get("CI", "").strip().lower() in ("true", "1", "yes"):
        return "ci"
    return "manual"
