"""No secret of a run (keys, passwords, tokens, links, codes) appears in any of its outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import synthetics.checks
from synthetics.plugin import RUNTIME

pytest_plugins = ["pytester"]

CHECKS = Path(synthetics.checks.__file__).parent
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
def test_no_secret_in_any_output(pytester: pytest.Pytester, extra: list[str]) -> None:
    reports = pytester.path / "reports"
    result = pytester.runpytest_inprocess(
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
    )
    finish = result.reprec.getcalls("pytest_sessionfinish")[0]  # type: ignore[attr-defined]
    runtime = finish.session.config.stash[RUNTIME]
    secrets = runtime.redactor.values()
    users = runtime.users.users
    assert users == [] or all(u.id is None for u in users), "users were left behind"
    # The run met real secrets: keys, passwords, tokens, the link and its token.
    assert len(secrets) >= 8
    outputs = {
        "terminal": "\n".join(result.outlines + result.errlines),
        **{p.name: p.read_text(errors="replace") for p in reports.iterdir() if p.is_file()},
    }
    assert {"results.json", "junit.xml", "report.html"} <= set(outputs)
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({len(secret)} chars) leaked into {name}"
        assert not JWT.search(text), f"a JWT-shaped string leaked into {name}"
        assert "/verify?token=" not in text.replace("token=[REDACTED]", ""), name
