"""junit.xml from a run: one `<testcase>` per check id, one `<testsuite>` per group.

CI test reports then list `email.delivery` in class `email`, not `test_email.py::test_delivery`.
Statuses map onto what every JUnit reader understands:

| status | element |
|---|---|
| ok, info | passed; the message in `<system-out>` (info also as a `status` line there) |
| warning | `<failure type="warning">` |
| critical | `<failure type="critical">` |
| crashed (`check_error`) | `<error type="warning">`: the monitor's bug, not the app's |
| blocked, skipped | `<skipped>` with the reason (a blocked check names its root) |

A warning is a failure because the run exits 1 for it, and CI fails on that: a test report
showing it as a pass would contradict the exit code. The type attribute keeps warnings and
criticals apart for readers that show it. The document follows the JUnit schema Jenkins' xunit
plugin validates against (junit-10.xsd), which pytest's own junitxml also targets: testsuite
properties (run id, target, status, trigger, faults), times in seconds.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from synthetics.results import CheckResult, RunResult
from synthetics.status import Status
from synthetics.text import one_line, safe_text

FILENAME = "junit.xml"
#: Characters XML 1.0 cannot carry at all, even escaped: C0 controls but tab, LF and CR; lone
#: surrogates; U+FFFE and U+FFFF (named themselves, this compiles ten times faster than the
#: negated class of what XML allows, and matches the same code points).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str, limit: int | None = 4000) -> str:
    return _NOT_XML.sub("\ufffd", safe_text(value, limit=limit))


def _seconds(ms: float) -> str:
    return f"{max(ms, 0.0) / 1000:.3f}"


def _details(check: CheckResult, run: RunResult) -> str:
    """The body of a failure: the message, then what to do (the alert's runbook section)."""
    lines = [check.message]
    if check.reason:
        lines.append(f"reason: {check.reason}")
    for name, value in check.measurements.items():
        lines.append(f"{name}: {value:g}")
    for alert in run.alerts:
        if check.id in alert.checks or alert.check == check.id:
            lines.append(f"runbook: {alert.runbook}")
            if alert.first_step:
                lines.append(f"first step: {alert.first_step}")
            break
    return "\n".join(lines)


def _testcase(suite: ET.Element, check: CheckResult, run: RunResult) -> str:
    """Add the check's testcase; return its outcome: passed, failure, error or skipped."""
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": check.group, "name": check.id, "time": _seconds(check.duration_ms)},
    )
    message = _text(one_line(check.message, limit=None), limit=500)
    if check.status in (Status.BLOCKED, Status.SKIPPED):
        why = f"blocked by {check.blocked_by}" if check.blocked_by else message or "skipped"
        if check.blocked_by and message:
            why = f"{why}: {message}"
        ET.SubElement(case, "skipped", {"type": check.status.value, "message": _text(why, 500)})
        return "skipped"
    if check.status in (Status.WARNING, Status.CRITICAL):
        kind = "error" if check.reason == "check_error" else "failure"
        element = ET.SubElement(case, kind, {"type": check.status.value, "message": message})
        element.text = _text(_details(check, run))
        return kind
    out = ET.SubElement(case, "system-out")
    out.text = _text(f"status: {check.status.value}\n{check.message}")
    return "passed"


def junit_xml(run: RunResult) -> bytes:
    """The run as a JUnit XML document (UTF-8)."""
    root = ET.Element("testsuites", {"name": f"synthetics {run.target}"})
    properties = {
        "run_id": run.run_id,
        "target": run.target,
        "status": "interrupted" if run.interrupted else run.status.value,
        "trigger": run.trigger,
        "location": run.location,
        "version": run.version,
        "faults": ", ".join(run.faults),
    }
    groups: dict[str, list[CheckResult]] = {}
    for check in run.checks:
        groups.setdefault(check.group, []).append(check)
    totals: dict[str, Any] = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for number, (group, checks) in enumerate(groups.items()):
        suite = ET.SubElement(root, "testsuite", {"name": group})
        props = ET.SubElement(suite, "properties")
        for name, value in properties.items():
            ET.SubElement(props, "property", {"name": name, "value": _text(value, 500)})
        outcomes = [_testcase(suite, c, run) for c in checks]
        took = sum(c.duration_ms for c in checks)
        suite.attrib.update(
            {
                "tests": str(len(checks)),
                "failures": str(outcomes.count("failure")),
                "errors": str(outcomes.count("error")),
                "skipped": str(outcomes.count("skipped")),
                "time": _seconds(took),
                "timestamp": run.started_at.replace(microsecond=0).isoformat(),
                "id": str(number),
                "package": "synthetics",
            }
        )
        if run.location:
            suite.set("hostname", _text(run.location, 64))
        totals["tests"] += len(checks)
        totals["failures"] += outcomes.count("failure")
        totals["errors"] += outcomes.count("error")
        totals["time"] += took
    root.attrib.update(
        {
            "tests": str(totals["tests"]),
            "failures": str(totals["failures"]),
            "errors": str(totals["errors"]),
            "time": _seconds(totals["time"]),
        }
    )
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


class JunitXml:
    """The finishing stage that writes `<report-dir>/junit.xml` (atomically)."""

    name = FILENAME

    def write(self, run: RunResult, finish: Any) -> None:
        """Write junit.xml; a failed write leaves no temporary file."""
        folder: Path = finish.report_dir
        folder.mkdir(parents=True, exist_ok=True)
        data = finish.redactor.redact(junit_xml(run).decode("utf-8")).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".junit-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, folder / FILENAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
