"""No secret of a run (keys, passwords, tokens, links, codes) appears in any of its outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import synthetics.checks

CHECKS = Path(synthetics.checks.__file__).parent
ROOT = Path(__file__).parents[2]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.")


@pytest.mark.parametrize(
    "extra",
    [
        [],
        [
            "--synthetics-set",
            'deeplink.accepts=["tokens"]',
            "--synthetics-fault",
            "security.verbose_errors",
        ],
        [
            "--synthetics-set",
            "auth.flow=implicit",
            "--synthetics-fault",
            "auth.redirect_disallowed",
        ],
    ],
    ids=["clean", "pkce-stranded-verbose", "implicit-disallowed"],
)
def test_no_secret_in_any_output(tmp_path: Path, extra: list[str]) -> None:
    reports = tmp_path / "reports"
    secrets_file = tmp_path / "secrets.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.checks.secrets_harness",
            str(secrets_file),
            str(CHECKS),
            "-c",
            str(CHECKS / "pytest.ini"),
            "--rootdir",
            str(CHECKS),
            "--synthetics-report-dir",
            str(reports),
            f"--junitxml={reports / 'junit.xml'}",
            f"--html={reports / 'report.html'}",
            "--self-contained-html",
            "-rA",
            "--tb=long",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    found = json.loads(secrets_file.read_text())
    secrets = set(found["secrets"])
    assert found["users_left"] == [], "users were left behind"
    # The run met real secrets: keys, passwords, tokens, the link and its token.
    assert len(secrets) >= 8, result.stdout + result.stderr
    outputs = {
        "terminal": result.stdout + result.stderr,
        **{p.name: p.read_text(errors="replace") for p in reports.iterdir() if p.is_file()},
    }
    assert {"results.json", "junit.xml", "report.html"} <= set(outputs)
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({len(secret)} chars) leaked into {name}"
        assert not JWT.search(text), f"a JWT-shaped string leaked into {name}"
        assert "/verify?token=" not in text.replace("token=[REDACTED]", ""), name
