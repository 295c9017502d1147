"""A test's outcome → the check's result: status from severity, message, reason, evidence.

A failed assertion is the check's verdict. A target that could not be reached or answered
nonsense is a failed check with that message. Any other exception is the check itself crashing:
that is the monitor's bug, never a finding about the app (`reason: check_error`, a warning, with
the exception and a short trace in the evidence).
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import pytest

from synthetics.catalog import spec_for
from synthetics.clients.http import BadResponse, TransportFailure
from synthetics.errors import SyntheticsError
from synthetics.plugin.api import CheckFailed, CheckRecord
from synthetics.redact import Redactor
from synthetics.results import CheckResult
from synthetics.severity import evaluate
from synthetics.status import Status
from synthetics.text import safe_text

#: The longest message a check keeps (its evidence may hold more).
MESSAGE_LIMIT = 1200
#: How much of a crash's traceback the evidence keeps.
TRACE_LINES = 12


def check_id(item: pytest.Item) -> str | None:
    """The contract id of a collected check (rpc ids carry the function)."""
    marker = item.get_closest_marker("check")
    if marker is None:
        return None
    base = str(marker.args[0])
    callspec = getattr(item, "callspec", None)
    if base == "rpc" and callspec is not None:
        return f"rpc.{callspec.params['rpc_function']}"
    return base


def tries(record: CheckRecord) -> int:
    """1 + the retries it took (an answered request after failed tries counts as a retry)."""
    failed = sum(
        1 for a in record.recorder.attempts if a.error is not None or a.status in (502, 503, 504)
    )
    return 1 + failed


def skip_reason(report: pytest.TestReport) -> str:
    """The plain text of a skip (pytest keeps it as (path, line, "Skipped: why"))."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "skipped")


def _crash_evidence(error: BaseException) -> dict[str, str]:
    frames = traceback.format_exception(type(error), error, error.__traceback__)
    lines = "".join(frames).strip().splitlines()
    return {"exception": type(error).__name__, "trace": "\n".join(lines[-TRACE_LINES:])}


def result_for(
    record: CheckRecord,
    report: pytest.TestReport,
    call: pytest.CallInfo[Any],
    *,
    thresholds: Any,
    redactor: Redactor,
) -> CheckResult:
    """The check's result from its record and pytest's report of the test."""
    result = CheckResult(
        id=record.id,
        group=spec_for(record.id).group,
        status=Status.OK,
        duration_ms=(time.perf_counter() - record.started) * 1000,
        attempts=tries(record),
        measurements=dict(record.measurements),
        message=record.message,
        evidence=dict(record.evidence),
    )
    if result.attempts > 1:
        result.evidence["attempts"] = ", ".join(
            a.error or str(a.status) for a in record.recorder.attempts
        )
    if report.skipped:
        if record.blocked_by:
            result.status, result.blocked_by = Status.BLOCKED, record.blocked_by
        else:
            result.status = Status.SKIPPED
        result.message = skip_reason(report)
    elif report.passed:
        graded = evaluate(
            record.id,
            passed=True,
            measurements=record.measurements,
            thresholds=thresholds,
            attempts=result.attempts,
        )
        result.status, result.reason = graded.status, graded.reason
        if graded.why:
            result.message = f"{result.message}; {graded.why}" if result.message else graded.why
    else:
        error = call.excinfo.value if call.excinfo else None
        reason = error.reason if isinstance(error, CheckFailed) else None
        if isinstance(error, AssertionError):
            message = str(error).split("\nassert ")[0].strip() or "assertion failed"
        elif isinstance(error, TransportFailure | BadResponse):
            message = str(error)
        elif isinstance(error, SyntheticsError) and report.when == "setup":
            message = f"the run could not start: {error}"
        elif isinstance(error, pytest.fail.Exception) and "Timeout" in str(error):
            reason = "deadline"  # pytest-timeout: the check ran out of its own time
            message = (
                "the check did not finish within its deadline, so it decided nothing "
                f"({error}); requests that never end, or a wait that never resolves"
            )
        else:
            reason = "check_error"
            message = (
                f"the check itself crashed ({type(error).__name__}: {error}); this is a bug "
                "in the monitor, not a finding about the target"
            )
            if error is not None:
                result.evidence.update(_crash_evidence(error))
        graded = evaluate(
            record.id,
            passed=False,
            measurements=record.measurements,
            thresholds=thresholds,
            reason=reason,
        )
        result.status, result.reason = graded.status, graded.reason
        result.message = message
    result.message = safe_text(redactor.redact(result.message), limit=MESSAGE_LIMIT)
    result.evidence = {
        k: safe_text(redactor.redact(v), limit=8000) for k, v in result.evidence.items()
    }
    return result


def not_run(check: str, root: str, message: str) -> CheckResult:
    """A check that never ran because the run stopped (`root`: interrupted, deadline)."""
    return CheckResult(
        id=check,
        group=spec_for(check).group,
        status=Status.BLOCKED,
        message=message,
        blocked_by=root,
    )
