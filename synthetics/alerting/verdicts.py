"""From one run (and the history's rules) to observations per subject: pure.

The run's `alerts` already group checks by cause (`synthetics.severity.alerts`): one outage is
one alert with the checks it blocked listed inside, so it becomes one observation and, once it
fires, one page. A subject that was open before and does not alert now *passes* only when every
check it covered ran and is ok; a blocked, skipped or unselected check says nothing.

A rule of the history that measures the same cause as a check joins that check's subject
(`RULE_SUBJECTS`): the email delivery rate and `email.delivery` are one alert, not two pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from synthetics.alerting.model import AlertState, Observation
from synthetics.catalog import spec_for
from synthetics.results import RunResult
from synthetics.severity import Alert
from synthetics.status import Status

#: History rules (synthetics.rules.rates) → the subject of the checks whose cause they measure.
RULE_SUBJECTS = {
    "email_delivery": "email.delivery",
    "deeplink_failure": "deeplink.redirect",
    "rpc_error": "rpc.*",
    "rpc_time": "rpc.*",
    "auth_failure": "auth.signup",
    "no_registration": "auth.signup",
}
#: Every proven security exposure of a target is one incident (the runbook's Security Incident
#: Response), however many probes show it: one page, the checks listed inside.
SECURITY_SUBJECT = "security"
#: Reasons that say the check could not decide: never a security incident at once.
UNDECIDED = frozenset({"inconclusive", "check_error"})


class RuleFinding(Protocol):
    """What alerting needs of a history rule's evaluation (synthetics.rules.rates.Evaluation)."""

    @property
    def rule(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def state(self) -> str: ...  # "ok" | "firing" | "insufficient_data"
    @property
    def level(self) -> Status | None: ...
    @property
    def value(self) -> float | None: ...
    @property
    def message(self) -> str: ...


def subject_of_rule(rule: str) -> str:
    """The subject a rule's alert belongs to."""
    return RULE_SUBJECTS.get(rule, f"rule:{rule}")


def immediate(alert: Alert) -> bool:
    """A security finding: critical, in group security, and not undecided. It fires at once."""
    if alert.severity is not Status.CRITICAL or alert.reason in UNDECIDED:
        return False
    for name in alert.checks or (alert.check,):  # `security.*` groups several checks
        try:
            if spec_for(name).security:
                return True
        except KeyError:
            continue
    return False


def observe(
    run: RunResult,
    previous: Mapping[str, AlertState] | None = None,
    rules: Sequence[RuleFinding] = (),
) -> list[Observation]:
    """This run's observation of every subject it alerts on, every subject open before, and
    every subject a rule speaks about."""
    found: dict[str, Observation] = {}
    for alert in run.alerts:
        obs = _from_alert(run, alert)
        if obs.subject in found:
            obs = _merge(found[obs.subject], obs)
        found[obs.subject] = obs
    statuses = {c.id: c.status for c in run.checks}
    for subject, state in (previous or {}).items():
        if subject not in found:
            checks = state.checks or _checks_of(subject, run)
            found[subject] = Observation(
                subject=subject, failing=_seen_passing(checks, statuses), checks=checks
            )
    for finding in rules:
        subject = subject_of_rule(finding.rule)
        if subject not in found:
            checks = _checks_of(subject, run)
            found[subject] = Observation(
                subject=subject, failing=_seen_passing(checks, statuses), checks=checks
            )
        base = found[subject]
        rule_only = not base.checks and subject.startswith("rule:")
        if finding.state == "firing" and finding.level is not None and finding.level.rank > 0:
            level = finding.level
            if base.rule_level is not None and base.rule_level.rank > level.rank:
                level = base.rule_level
            base = replace(base, rule_level=level, rule_message=finding.message)
            if rule_only and not base.message:
                base = replace(base, message=finding.message, value=_number(finding.value))
        elif finding.state == "ok":
            base = replace(base, rule_ok=True)
            if rule_only and base.failing is None:
                base = replace(base, failing=False)
        found[subject] = base
    return list(found.values())


def _checks_of(subject: str, run: RunResult) -> tuple[str, ...]:
    """The checks a subject covers when no alert named them (`rpc.*`: every RPC of the run)."""
    if subject == "rpc.*":
        return tuple(c.id for c in run.checks if c.id.startswith("rpc."))
    if subject == SECURITY_SUBJECT:
        return tuple(c.id for c in run.checks if c.group == "security")
    try:
        spec_for(subject)
    except KeyError:
        return ()
    return (subject,)


def _seen_passing(checks: Sequence[str], statuses: Mapping[str, Status]) -> bool | None:
    """`failing` for a subject that does not alert: False (it passed) when every check ran and
    is ok; None (not seen) when any did not run, or fails under another subject."""
    if not checks:
        return None
    for check in checks:
        status = statuses.get(check)
        if status is None or status in (Status.BLOCKED, Status.SKIPPED) or status.rank > 0:
            return None
    return False


def _merge(a: Observation, b: Observation) -> Observation:
    """Two causes under one subject (e.g. slow and failing RPCs): the worse leads."""
    lead, other = (a, b) if a.severity.rank >= b.severity.rank else (b, a)
    return replace(
        lead,
        message=f"{lead.message}; {other.message}",
        checks=tuple(dict.fromkeys([*lead.checks, *other.checks])),
        blocked=tuple(dict.fromkeys([*lead.blocked, *other.blocked])),
        immediate=lead.immediate or other.immediate,
    )


def _from_alert(run: RunResult, alert: Alert) -> Observation:
    value, threshold = _measure(run, alert)
    return Observation(
        subject=SECURITY_SUBJECT if immediate(alert) else alert.check,
        failing=True,
        severity=alert.severity,
        message=alert.message,
        checks=alert.checks or (alert.check,),
        blocked=alert.blocked,
        runbook=alert.runbook,
        first_step=alert.first_step,
        value=value,
        threshold=threshold,
        immediate=immediate(alert),
    )


def _measure(run: RunResult, alert: Alert) -> tuple[str, str]:
    """The alert's current value and the threshold it is judged by, as text."""
    limits: Mapping[str, Any] = run.thresholds
    checks = [c for c in run.checks if c.id in (alert.checks or (alert.check,))]
    if alert.check.startswith("rpc.") and len(checks) > 1:
        total = sum(1 for c in run.checks if c.id.startswith("rpc."))
        return f"{len(checks)} of {total} v2 RPCs", ""
    check = checks[0] if checks else None
    if check is None:
        return "", ""
    if check.id == "email.delivery":
        delivered = check.measurements.get("delivery_s")
        if delivered is None:
            timeout = limits.get("email_timeout_s")
            return "not delivered", f"email_timeout_s = {timeout:g} s" if timeout else ""
        sla = limits.get("email_sla_s")
        return f"{delivered:.1f} s", f"email_sla_s = {sla:g} s" if sla else ""
    try:
        keys = spec_for(check.id).latency
    except KeyError:
        keys = ()
    latency = check.measurements.get("latency_ms")
    if latency is not None and keys and alert.reason == "slow":
        key = keys[0] if alert.severity is Status.WARNING or len(keys) == 1 else keys[-1]
        limit = limits.get(key)
        return f"{latency:.0f} ms", f"{key} = {limit:g} ms" if limit else ""
    return (alert.reason or "failed"), ""


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 100:.0f} %" if 0 <= value <= 1 else f"{value:g}"
