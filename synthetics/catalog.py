"""THE check table: every check's id, group, order, failure severity, runbook section, thresholds
and needs. Everything else (run order, `--only` groups, pytest markers, severity, alert grouping,
the terminal and the reports) derives from it; nothing else lists check ids.

`rpc.<function>` is one row (`rpc`) that stands for every configured v2 RPC, in the configured
order.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthetics.status import Status

#: Sections of the runbook (seed/operations-monitoring-rollback.md) an alert points to.
PLAN_A = "Rollback Plan A: Auth Configuration Rollback"
PLAN_B = "Rollback Plan B: v2 RPC Rollback"
PLAN_C = "Rollback Plan C: Complete Migration Rollback"
SECURITY = "Emergency Procedures: Security Incident Response (act immediately)"
HOUSEKEEPING = "Monitoring Implementation: delete leftover throwaway users (Authentication > Users)"
#: Not the app: the monitor itself (its inbox, its browser, its own code) needs attention.
MONITOR = "the monitor itself: its configuration, inbox or code (not the app)"

#: The first steps of each runbook section, for alerts that must say what to do now.
FIRST_STEPS = {
    PLAN_A: "Revert the Auth settings (Site URL, Redirect URLs) in the Supabase dashboard, then "
    "test registration with the reverted settings",
    PLAN_B: "Restore the previous service implementation (v1 RPCs if preserved); check the v2 "
    "functions' grants and RLS policies",
    PLAN_C: "Restore the pre-migration database snapshot and deploy the previous stable release",
    SECURITY: "REVOKE ALL ON ALL TABLES/FUNCTIONS IN SCHEMA public FROM anon; then assess "
    "whether data was accessed",
    HOUSEKEEPING: "Delete the leftover synthetic users (`synthetics janitor`) and their rows",
    MONITOR: "Fix the monitor (run `synthetics doctor`); the app may be fine",
}

#: The check groups `--only` accepts, in run order. Cleanup always runs.
GROUPS = ("auth", "email", "deeplink", "rpc", "security", "cleanup")


@dataclass(frozen=True)
class CheckSpec:
    """What a check id means: where it runs, how bad its failure is, and where to act."""

    id: str
    group: str
    order: int
    on_failure: Status
    runbook: str
    title: str
    #: Threshold keys (`[thresholds]`) its latency measurement is graded by: (warning, info).
    latency: tuple[str, ...] = ()
    needs_browser: bool = False
    #: Whether the check's verdict is a security finding (critical only on proof of access).
    security: bool = False
    #: Whether it needs no confirmed user, so it runs while the confirmation email is awaited
    #: (outputs keep the catalogue's order whatever the execution order).
    early: bool = False


def _spec(
    check_id: str,
    group: str,
    on_failure: Status,
    runbook: str,
    title: str,
    *,
    latency: tuple[str, ...] = (),
    browser: bool = False,
    early: bool = False,
) -> CheckSpec:
    return CheckSpec(
        check_id,
        group,
        0,
        on_failure,
        runbook,
        title,
        latency,
        browser,
        security=group == "security",
        early=early,
    )


_C, _W = Status.CRITICAL, Status.WARNING
_ROWS = (
    _spec("auth.health", "auth", _C, PLAN_A, "Auth and REST endpoints answer"),
    _spec("auth.settings", "auth", _C, PLAN_A, "confirm email on, sign-ups on"),
    _spec(
        "auth.signup",
        "auth",
        _C,
        PLAN_A,
        "a throwaway user can sign up",
        latency=("signup_warning_ms",),
    ),
    _spec("email.delivery", "email", _C, PLAN_A, "the confirmation email arrives"),
    _spec(
        "deeplink.redirect",
        "deeplink",
        _C,
        PLAN_A,
        "the link lands on the deep link",
        latency=("deeplink_warning_ms",),
    ),
    _spec(
        "deeplink.browser",
        "deeplink",
        _C,
        PLAN_A,
        "a browser click lands on the deep link",
        latency=("deeplink_warning_ms",),
        browser=True,
    ),
    _spec(
        "deeplink.single_use",
        "deeplink",
        _W,
        PLAN_A,
        "a second click gives no session",
    ),
    _spec("deeplink.app_links", "deeplink", _C, PLAN_A, "app-link association files", early=True),
    _spec(
        "auth.session",
        "auth",
        _C,
        PLAN_A,
        "the deep link yields a working session",
        latency=("session_warning_ms",),
    ),
    _spec("auth.signin", "auth", _C, PLAN_A, "password sign-in and token rotation"),
    _spec(
        "auth.recovery",
        "auth",
        _C,
        PLAN_A,
        "password reset: email → deep link → new password",
        latency=("deeplink_warning_ms",),
    ),
    _spec(
        "rpc",
        "rpc",
        _C,
        PLAN_B,
        "a v2 RPC answers correctly",
        latency=("rpc_warning_ms", "rpc_info_ms"),
    ),
    _spec(
        "security.anon_rpc", "security", _C, SECURITY, "functions refuse the anon key", early=True
    ),
    _spec("security.direct_table", "security", _C, SECURITY, "exposed tables stay closed"),
    _spec("security.advisor", "security", _C, SECURITY, "no catalog findings (db_url)", early=True),
    _spec("security.cross_user", "security", _C, SECURITY, "users cannot touch others' data"),
    _spec("security.error_leak", "security", _W, SECURITY, "errors expose no internals"),
    _spec("cleanup", "cleanup", _W, HOUSEKEEPING, "throwaway users and their rows are deleted"),
)
CATALOG: dict[str, CheckSpec] = {
    s.id: CheckSpec(**{**s.__dict__, "order": n}) for n, s in enumerate(_ROWS)
}
#: The row every `rpc.<function>` check shares.
RPC = CATALOG["rpc"]


def spec_for(check_id: str) -> CheckSpec:
    """The spec of a check id; every `rpc.<function>` shares the `rpc` row."""
    if check_id in CATALOG and check_id != "rpc":
        return CATALOG[check_id]
    if check_id.startswith("rpc."):
        return RPC
    raise KeyError(check_id)


def base_id(check_id: str) -> str:
    """The catalogue row of a check id (`rpc.get_home_feed_v2` → `rpc`)."""
    return spec_for(check_id).id


def order_key(check_id: str, rpc_order: int = 0) -> tuple[int, int]:
    """Where a check runs and is shown: catalogue order, RPCs in their configured order."""
    return (spec_for(check_id).order, rpc_order)


def execution_key(check_id: str, rpc_order: int = 0) -> tuple[int, int, int]:
    """When a check runs: the catalogue's order, except that the checks needing no confirmed
    user run right after the sign-up, while its confirmation email is on its way."""
    spec = spec_for(check_id)
    if spec.early:
        return (CATALOG["auth.signup"].order, 1, spec.order)
    return (spec.order, 0, rpc_order)


def browser_checks() -> frozenset[str]:
    """The checks that need Chromium."""
    return frozenset(s.id for s in CATALOG.values() if s.needs_browser)


def parse_groups(only: str | None) -> frozenset[str] | None:
    """`--only a,b` → the groups (cleanup always included); None runs everything.

    Raises ValueError naming the unknown groups.
    """
    if only is None:
        return None
    chosen = {g.strip() for g in only.split(",") if g.strip()}
    unknown = sorted(chosen - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown group(s) {', '.join(unknown)}; groups: {', '.join(GROUPS)}")
    if not chosen:
        raise ValueError(f"no group given; groups: {', '.join(GROUPS)}")
    return frozenset(chosen | {"cleanup"})
