"""The hostile table: every run against a misbehaving target ends on time, keeps its reports
small, crashes no check, raises no false security finding and shows no secret.

The target is a real sandbox behind `hostile.py`'s proxy; each case scripts what the proxy does
to one kind of request. The run's own deadlines are short (1 s per request, one retry), so the
whole table runs in a few minutes.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from synthetics.sandbox.server import Sandbox, settings_for_port
from synthetics.sandbox.settings import SandboxSettings
from tests.checks.hostile import JUNK_HTML, Rule, hostile_proxy

ROOT = Path(__file__).parents[2]
RUN_TIMEOUT_S = 60
CONFIG = f"""
default_target = "hostile"
retries = 1
request_timeout_s = 1
run_timeout_s = {RUN_TIMEOUT_S}

[targets.hostile]
url = "${{HOSTILE_URL}}"
anon_key = "${{HOSTILE_ANON_KEY}}"
service_role_key = "${{HOSTILE_SERVICE_ROLE_KEY}}"

[targets.hostile.inbox]
provider = "mailpit"
url = "${{HOSTILE_INBOX_URL}}"
address_template = "synthetic+{{tag}}@mamapace-synthetics.dev"

[thresholds]
email_timeout_s = 5
email_sla_s = 2

[deeplink]
browser = "off"
"""

TRICKY = (
    b'{"id": {"n": 1}, "identities": "x", "access_token": 5, "users": 7, "user": [],'
    b' "refresh_token": {}, "code": ["x"], "message": {"a": null}}'
)
#: Every request the run makes, and what is wrong with the answer.
STEPS = [
    ("GET", "/auth/v1/health"),
    ("GET", "/auth/v1/settings"),
    ("POST", "/auth/v1/signup"),
    ("GET", "/auth/v1/verify"),
    ("POST", "/auth/v1/token"),
    ("GET", "/auth/v1/user"),
    ("POST", "/auth/v1/admin/users"),
    ("GET", "/auth/v1/admin/users"),
    ("DELETE", "/auth/v1/admin/users"),
    ("GET", "/rest/v1/$"),
    ("POST", "/rest/v1/rpc/get_my_profile_v2"),
    ("POST", "/rest/v1/rpc/create_post_v2"),
    ("POST", "/rest/v1/rpc/get_home_feed_v2"),
    ("POST", "/rest/v1/rpc/delete_post_v2"),
]
SHAPES = {"empty object": b"{}", "array": b"[]", "tricky": TRICKY}

CASES: list[tuple[str, list[Rule]]] = [
    (f"{method} {path.rstrip('$')} answers {name}", [Rule(method, path, "body", body=shape)])
    for method, path in STEPS
    for name, shape in SHAPES.items()
]
CASES += [
    ("health drips a byte at a time", [Rule("GET", "/auth/v1/health", "drip")]),
    ("REST sends its headers slowly", [Rule("GET", "/rest/v1/$", "slow_headers")]),
    ("sign-up answers 50 MB", [Rule("POST", "/auth/v1/signup", "big", status=500)]),
    ("every RPC answers 50 MB", [Rule("POST", "/rest/v1/rpc/", "big", status=400)]),
    ("an error with a lone surrogate", [Rule("POST", "/rest/v1/rpc/create_post_v2", "body",
        status=400, body=b'{"code": "P0001", "message": "bad \\ud800 text", "details": null,'
                         b' "hint": null}')]),
    ("an error with terminal escapes", [Rule("POST", "/rest/v1/rpc/get_home_feed_v2", "body",
        status=400, body=b'{"code": "P0001", "message": "\\u001b[2J\\u0000\\u0007\\r gone",'
                         b' "details": null, "hint": null}')]),
    ("HTML junk everywhere in REST", [Rule("GET", "/rest/v1/", "body", body=JUNK_HTML),
                                      Rule("POST", "/rest/v1/", "body", body=JUNK_HTML)]),
    ("a javascript: Location", [Rule("GET", "/auth/v1/verify", "location", status=303,
                                     location="javascript:alert(document.cookie)")]),
    ("a Location that is not a URL", [Rule("GET", "/auth/v1/verify", "location", status=303,
                                           location="http://[::1:bad/\t x")]),
    ("the sign-up answer is lost", [Rule("POST", "/auth/v1/signup", "lost", times=1)]),
    ("credentials echoed by REST", [Rule("POST", "/rest/v1/rpc/get_my_profile_v2", "echo",
                                         status=400)]),
    ("credentials echoed by Auth", [Rule("GET", "/auth/v1/settings", "echo", status=500),
                                    Rule("GET", "/auth/v1/admin/users", "echo", status=500)]),
]  # fmt: skip


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[object, Sandbox]]:
    with hostile_proxy() as proxy:
        settings = replace(settings_for_port(SandboxSettings(), 0), external_url=proxy.url)
        with Sandbox(settings) as sandbox:
            proxy.upstream = sandbox.info.api_url
            yield proxy, sandbox


def secret_forms(sandbox: Sandbox) -> list[str]:
    """Fragments of every form of every key the proxy may echo that an output must not contain.

    A JWT's first characters are its header, the same for every HS256 key: the fragments are
    taken from where the secret is (payload and signature) in every form.
    """
    forms = []
    for key in (sandbox.info.anon_key, sandbox.info.service_role_key):
        middle = len(key) // 2
        forms += [key[-20:], key[-21:-1], key[middle : middle + 20]]
        for encoded in (key, f"{key}:"):
            b64 = base64.b64encode(encoded.encode()).decode()
            forms.append(b64[len(b64) // 2 : len(b64) // 2 + 20])
    return forms


@pytest.mark.parametrize(("case", "rules"), CASES, ids=[c for c, _ in CASES])
def test_a_hostile_answer(
    case: str, rules: list[Rule], target: tuple[object, Sandbox], tmp_path: Path
) -> None:
    proxy, sandbox = target
    proxy.script(*rules)  # type: ignore[attr-defined]
    config = tmp_path / "synthetics.toml"
    config.write_text(CONFIG)
    env = {
        **os.environ,
        "HOSTILE_URL": proxy.url,  # type: ignore[attr-defined]
        "HOSTILE_ANON_KEY": sandbox.info.anon_key,
        "HOSTILE_SERVICE_ROLE_KEY": sandbox.info.service_role_key,
        "HOSTILE_INBOX_URL": sandbox.info.inbox_url,
    }
    reports = tmp_path / "reports"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", "--config", str(config),
         "--report-dir", str(reports), "--", "-p", "no:randomly"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S + 30,
    )  # fmt: skip
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert took < RUN_TIMEOUT_S + 10, f"{case}: the run took {took:.0f} s"
    assert result.returncode in (0, 1, 2, 4), output  # never 3: the config is fine
    results_file = reports / "results.json"
    assert results_file.exists(), output
    assert results_file.stat().st_size < 5_000_000
    results = json.loads(results_file.read_text())
    crashed = [c["id"] for c in results["checks"] if c.get("reason") == "check_error"]
    assert not crashed, (
        case,
        crashed,
        [c["message"] for c in results["checks"] if c["id"] in crashed],
    )
    false_findings = [
        (c["id"], c["message"])
        for c in results["checks"]
        if c["id"].startswith("security.") and c["status"] == "critical"
    ]
    assert not false_findings, (case, false_findings)
    assert "Traceback" not in result.stdout
    assert "\x1b[2J" not in output and "\x00" not in output
    written = output + "".join(
        p.read_text(errors="replace")
        for p in reports.iterdir()
        if p.suffix in (".json", ".xml", ".html")
    )
    for form in secret_forms(sandbox):
        assert form not in written, (case, form)
