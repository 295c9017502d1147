"""junit.xml from a run: a testcase per check id in a class per group, warnings visible, valid
against the JUnit schema Jenkins reads (restated in junit-jenkins.xsd)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from synthetics.exporters.junit import JunitXml, junit_xml
from synthetics.finish import Finish
from synthetics.redact import Redactor
from synthetics.results import CheckResult, RunResult
from synthetics.status import Status

SCHEMA = xmlschema.XMLSchema(Path(__file__).with_name("junit-jenkins.xsd"))
RUNS = Path(__file__).parents[1] / "alerting" / "runs"  # real sandbox runs' results.json


def cases(document: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(document)
    return {c.get("name", ""): c for c in root.iter("testcase")}


@pytest.mark.parametrize("name", ["clean", "email.drop", "security.anon_grant"])
def test_every_real_run_is_valid_junit_with_a_testcase_per_check(name: str) -> None:
    run = RunResult.read(RUNS / f"{name}.json")
    document = junit_xml(run)
    SCHEMA.validate(document.decode("utf-8"))
    found = cases(document)
    assert sorted(found) == sorted(c.id for c in run.checks)  # each once
    for check in run.checks:
        assert found[check.id].get("classname") == check.group
    root = ET.fromstring(document)
    assert [s.get("name") for s in root.iter("testsuite")] == list(
        dict.fromkeys(c.group for c in run.checks)
    )
    assert root.get("tests") == str(len(run.checks))
    for suite in root.iter("testsuite"):  # the run's order within each group
        names = [c.get("name") for c in suite.iter("testcase")]
        assert names == [c.id for c in run.checks if c.group == suite.get("name")]


def test_a_lost_email_fails_its_check_and_its_dependents_say_what_blocked_them() -> None:
    run = RunResult.read(RUNS / "email.drop.json")
    found = cases(junit_xml(run))
    failure = found["email.delivery"].find("failure")
    assert failure is not None and failure.get("type") == "critical"
    assert "runbook: Rollback Plan A" in (failure.text or "")
    skipped = found["auth.session"].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith(
        "blocked by email.delivery"
    )
    assert found["rpc.get_home_feed_v2"].find("failure") is None  # no blind spot, no alarm


def test_a_warning_is_a_failure_of_type_warning_not_a_pass() -> None:
    run = RunResult.read(RUNS / "clean.json")
    slow = run.check("rpc.get_home_feed_v2")
    assert slow is not None
    slow.status, slow.reason = Status.WARNING, "slow"
    slow.message = "get_home_feed_v2 answered in 1210 ms, slower than 1000 ms (rpc_warning_ms)"
    document = junit_xml(run)
    SCHEMA.validate(document.decode("utf-8"))
    failure = cases(document)["rpc.get_home_feed_v2"].find("failure")
    assert failure is not None and failure.get("type") == "warning"
    assert "1210 ms" in failure.get("message", "")
    suite = next(s for s in ET.fromstring(document).iter("testsuite") if s.get("name") == "rpc")
    assert suite.get("failures") == "1"


def test_a_crashed_check_is_an_error_the_monitor_made() -> None:
    run = RunResult.read(RUNS / "clean.json")
    crashed = run.check("security.error_leak")
    assert crashed is not None
    crashed.status, crashed.reason = Status.WARNING, "check_error"
    crashed.message = "the check itself crashed (KeyError: 'x')"
    error = cases(junit_xml(run))["security.error_leak"].find("error")
    assert error is not None and error.get("type") == "warning"


def test_hostile_text_stays_well_formed_and_valid(tmp_path: Path) -> None:
    run = RunResult.read(RUNS / "clean.json")
    run.checks.append(
        CheckResult(
            id="rpc.weird",
            group="rpc",
            status=Status.CRITICAL,
            message="<b>&amp;</b>\x00\x1b[2J\ufffe\ud800 ]]> 'quoted' \"double\"",
        )
    )
    document = junit_xml(run)
    SCHEMA.validate(document.decode("utf-8"))
    failure = cases(document)["rpc.weird"].find("failure")
    assert failure is not None
    assert "<b>&amp;</b>" in failure.get("message", "")
    assert "\x00" not in document.decode("utf-8")


def test_the_stage_writes_junit_xml_redacted_and_atomically(tmp_path: Path) -> None:
    run = RunResult.read(RUNS / "clean.json")
    check = run.check("auth.signup")
    assert check is not None
    check.message = "signed up with password hunter2-very-secret"
    redactor = Redactor()
    redactor.add("hunter2-very-secret")
    JunitXml().write(run, Finish(report_dir=tmp_path, redactor=redactor))
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]
    text = (tmp_path / "junit.xml").read_text()
    assert "hunter2-very-secret" not in text and "[REDACTED]" in text
    SCHEMA.validate(text)


@pytest.mark.parametrize(
    "document",
    [
        "<testsuites><testsuite name='a' failures='0' errors='0'/></testsuites>",  # no tests
        "<testsuites><testsuite name='a' tests='1' failures='0' errors='0'>"
        "<testcase name='x'><properties/></testcase></testsuite></testsuites>",
        "<testsuites><testsuite name='a' tests='1' failures='0' errors='0' time='1s'/>"
        "</testsuites>",
    ],
    ids=["suite-without-tests", "properties-in-a-testcase", "time-with-a-unit"],
)
def test_the_schema_refuses_what_jenkins_refuses(document: str) -> None:
    assert not SCHEMA.is_valid(document)
