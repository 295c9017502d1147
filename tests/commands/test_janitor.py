"""`synthetics janitor` against a real sandbox treated as somebody else's project: it deletes the
throwaway users (and profiles) runs left behind, and never a real user or a real user's rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from synthetics.cli import main
from synthetics.commands.janitor import address_pattern, parse_age
from synthetics.errors import ConfigError
from synthetics.inbox import (
    ImapConfig,
    InbucketConfig,
    MailosaurConfig,
    MailpitConfig,
    MailSlurpConfig,
)
from synthetics.sandbox.server import Sandbox, SandboxInfo, settings_for_port
from synthetics.sandbox.settings import SandboxSettings
from synthetics.users import new_run_id, run_started, throwaway_run

DOMAIN = "mamapace-synthetics.dev"
CONFIG = """
default_target = "local"

[targets.local]
url = "${LOCAL_URL}"
anon_key = "${LOCAL_ANON_KEY}"
service_role_key = "${LOCAL_SERVICE_ROLE_KEY}"

[targets.local.inbox]
provider = "mailpit"
url = "${LOCAL_INBOX_URL}"
address_template = "synthetic+{tag}@mamapace-synthetics.dev"

[deeplink]
browser = "off"

[thresholds]
email_timeout_s = 60
"""


# -- the pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "run"),
    [
        ({"synthetic": True, "synthetics_run_id": "20260101t120000-abcdef"}, True),
        ({"synthetic": "true", "synthetics_run_id": "20260101t120000-abcdef"}, False),
        ({"synthetic": 1, "synthetics_run_id": "20260101t120000-abcdef"}, False),
        ({"synthetic": False, "synthetics_run_id": "20260101t120000-abcdef"}, False),
        ({"synthetic": True}, False),
        ({"synthetic": True, "synthetics_run_id": "nightly"}, False),
        ({"synthetic": True, "synthetics_run_id": "20261399t999999-abcdef"}, False),
        ({"synthetic": True, "synthetics_run_id": ["20260101t120000-abcdef"]}, False),
        ({"synthetics_run_id": "20260101t120000-abcdef"}, False),
        ({}, False),
    ],
)
def test_only_a_run_s_mark_makes_a_throwaway(metadata: dict[str, Any], run: bool) -> None:
    assert (throwaway_run(metadata) is not None) is run


def test_a_run_id_says_when_its_run_started() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert run_started(new_run_id(moment)) == moment
    assert run_started("20260304t050607-ABCDEF") is None


@pytest.mark.parametrize(
    ("config", "username", "matches"),
    [
        (MailpitConfig(url="http://x", address_template="synthetic+{tag}@d.dev"),
         "synthetic+20260101t120000-abcdef-primary", True),
        (MailpitConfig(url="http://x", address_template="synthetic+{tag}@d.dev"),
         "synthetic+20260101t120000-abcdef-primary_0a1b2c", True),  # taken: `_` + 6 hex
        (MailpitConfig(url="http://x", address_template="Synthetic+{tag}@d.dev"),
         "synthetic+20260101t120000-abcdef-browser", True),  # the trigger lower-cases
        (MailpitConfig(url="http://x", address_template="synthetic+{tag}@d.dev"),
         "synthetic+nightly-primary", False),
        (MailpitConfig(url="http://x", address_template="synthetic+{tag}@d.dev"),
         "synthetic_fan", False),
        (MailpitConfig(url="http://x", address_template="synthetic+{tag}@d.dev"),
         "xsynthetic+20260101t120000-abcdef-primary", False),
        (InbucketConfig(url="http://x", address_template="{tag}.mon@d.dev"),
         "20260101t120000-abcdef-second.mon", True),
        (ImapConfig(host="h", username="u", password="p", address="Monitor@d.dev"),
         "monitor+20260101t120000-abcdef-fallback", True),
        (MailosaurConfig(server_id="abcd1234", api_key=SecretStr("k" * 12)),
         "20260101t120000-abcdef-primary", True),
        (MailosaurConfig(server_id="abcd1234", api_key=SecretStr("k" * 12)),
         "mother2026", False),
    ],
)  # fmt: skip
def test_profiles_are_matched_by_the_addresses_runs_sign_up_with(
    config: Any, username: str, matches: bool
) -> None:
    pattern = address_pattern(config)
    assert pattern is not None
    assert (pattern.python.match(username) is not None) is matches


def test_an_inbox_that_picks_its_own_addresses_matches_no_profile() -> None:
    assert address_pattern(MailSlurpConfig(api_key=SecretStr("k" * 12))) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("0s", 0), ("0", 0), ("90s", 90), ("1h", 3600), ("7d", 604800)]
)
def test_older_than_takes_durations_and_zero(text: str, seconds: float) -> None:
    assert parse_age(text) == timedelta(seconds=seconds)


def test_older_than_names_the_option_when_wrong() -> None:
    with pytest.raises(ConfigError, match="--older-than"):
        parse_age("soon")


# -- against the sandbox ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def project() -> Iterator[Sandbox]:
    """A Supabase stand-in the janitor treats as somebody else's project."""
    with Sandbox(settings_for_port(SandboxSettings(), 0)) as sandbox:
        yield sandbox


@pytest.fixture
def config(tmp_path: Path, project: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    info = project.info
    for name, value in environment(info).items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "synthetics.toml"
    path.write_text(CONFIG)
    return path


def environment(info: SandboxInfo) -> dict[str, str]:
    return {
        "LOCAL_URL": info.api_url,
        "LOCAL_ANON_KEY": info.anon_key,
        "LOCAL_SERVICE_ROLE_KEY": info.service_role_key,
        "LOCAL_INBOX_URL": info.inbox_url,
    }


def admin(info: SandboxInfo) -> dict[str, str]:
    return {"apikey": info.service_role_key, "Authorization": f"Bearer {info.service_role_key}"}


def create_user(
    info: SandboxInfo, email: str, metadata: dict[str, Any] | None = None, *, confirm: bool = True
) -> str:
    body: dict[str, Any] = {
        "email": email,
        "password": "a-real-password-1",
        "email_confirm": confirm,
    }
    if metadata is not None:
        body["user_metadata"] = metadata
    answer = httpx.post(f"{info.api_url}/auth/v1/admin/users", headers=admin(info), json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def sql(info: SandboxInfo, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(info.db_url, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def user_ids(info: SandboxInfo) -> set[str]:
    return {r[0] for r in sql(info, "select id::text from auth.users")}


def profile_ids(info: SandboxInfo) -> set[str]:
    return {r[0] for r in sql(info, "select id::text from public.user_profiles")}


def add_post(info: SandboxInfo, profile: str) -> str:
    rows = sql(
        info,
        "insert into public.posts (user_id, body) values (%s, 'a real post') returning id::text",
        profile,
    )
    return str(rows[0][0])


def post_ids(info: SandboxInfo) -> set[str]:
    return {r[0] for r in sql(info, "select id::text from public.posts")}


def throwaway(info: SandboxInfo, run_id: str, role: str = "primary") -> str:
    email = f"synthetic+{run_id}-{role}@{DOMAIN}"
    return create_user(info, email, {"synthetic": True, "synthetics_run_id": run_id})


def janitor(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["janitor", "--config", str(config), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_janitor_deletes_throwaways_and_their_rows_and_never_anyone_else(
    config: Path, project: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    info = project.info
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    # Real users beside the throwaways: confirmed, unconfirmed, and metadata that almost matches.
    reals = {
        "confirmed": create_user(info, f"real-mother-{tag}@{DOMAIN}"),
        "unconfirmed": create_user(info, f"real-father-{tag}@{DOMAIN}", confirm=False),
        "string true": create_user(
            info,
            f"string-true-{tag}@{DOMAIN}",
            {"synthetic": "true", "synthetics_run_id": new_run_id(now - timedelta(hours=3))},
        ),
        "false": create_user(
            info,
            f"not-synthetic-{tag}@{DOMAIN}",
            {"synthetic": False, "synthetics_run_id": new_run_id(now - timedelta(hours=3))},
        ),
        "no run id": create_user(info, f"marked-{tag}@{DOMAIN}", {"synthetic": True}),
        # An address exactly like a run's, but nothing marks the user: a real person's.
        "synthetic address": create_user(
            info, f"synthetic+{new_run_id(now - timedelta(hours=5))}-primary@{DOMAIN}"
        ),
        "synthetic in the name": create_user(info, f"synthetic.lover.{tag}@{DOMAIN}"),
    }
    real_posts = {add_post(info, profile) for profile in reals.values()}
    # Profiles of the app's own v1 sign-up have no auth user either: never a run's.
    v1_profiles = {
        r[0]
        for r in sql(
            info,
            "insert into public.user_profiles (username) values (%s), (%s), (%s) "
            "returning id::text",
            f"synthetic_fan_{tag}",
            f"synthetic+nightly-{tag}-primary",
            f"synthetic+{new_run_id(now - timedelta(hours=6))}",
        )
    }
    # A throwaway from three hours ago, one from a run still going, and a profile whose
    # auth user a killed run's teardown had already deleted.
    old_run = new_run_id(now - timedelta(hours=3))
    old = throwaway(info, old_run)
    sql(info, "update auth.users set created_at = now() - interval '3 hours' where id = %s", old)
    old_post = add_post(info, old)
    young = throwaway(info, new_run_id(now), "browser")
    orphan_run = new_run_id(now - timedelta(hours=2))
    orphan = throwaway(info, orphan_run, "fallback")
    orphan_post = add_post(info, orphan)
    gone = httpx.delete(f"{info.api_url}/auth/v1/admin/users/{orphan}", headers=admin(info))
    assert gone.status_code == 200
    assert orphan in profile_ids(info) and orphan not in user_ids(info)
    keep_users, keep_profiles = set(reals.values()), set(reals.values()) | v1_profiles

    code, out = janitor(config, "--dry-run", capsys=capsys)
    assert code == 0, out
    assert f"would delete   synthetic+{old_run}-primary@{DOMAIN}" in out
    assert f"would delete   profile synthetic+{orphan_run}-fallback" in out
    assert {old, young} <= user_ids(info) and orphan in profile_ids(info)  # nothing deleted

    code, out = janitor(config, capsys=capsys)  # --older-than 1h: the running run keeps its user
    assert code == 0, out
    assert f"deleted        synthetic+{old_run}-primary@{DOMAIN}" in out
    assert "rows: 1 user_profiles.id" in out
    assert f"deleted        profile synthetic+{orphan_run}-fallback" in out
    assert "1 throwaway user(s) newer than the cut-off left alone" in out
    assert old not in user_ids(info) and old not in profile_ids(info)
    assert orphan not in profile_ids(info)
    assert young in user_ids(info)
    assert not {old_post, orphan_post} & post_ids(info)  # their rows went with them

    code, out = janitor(config, "--older-than", "0s", capsys=capsys)
    assert code == 0, out
    assert young not in user_ids(info) and young not in profile_ids(info)

    # Every real user, profile and row survived all three.
    assert keep_users <= user_ids(info)
    assert keep_profiles <= profile_ids(info)
    assert real_posts <= post_ids(info)
    assert info.service_role_key not in out and info.anon_key not in out


def test_what_could_not_be_deleted_is_said_and_exits_1(
    config: Path, project: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    info = project.info
    run_id = new_run_id(datetime.now(UTC) - timedelta(hours=2))
    user = throwaway(info, run_id)
    sql(info, "revoke delete on public.user_profiles from service_role")
    try:
        code, out = janitor(config, "--older-than", "0s", capsys=capsys)
    finally:
        sql(info, "grant delete on public.user_profiles to service_role")
    assert code == 1, out
    assert f"NOT DELETED    synthetic+{run_id}-primary@{DOMAIN}" in out
    assert "user_profiles" in out and "could not be deleted" in out
    assert user not in user_ids(info)  # the user went; its profile is what is left
    assert user in profile_ids(info)
    # The next janitor finds the profile by its address and finishes the job.
    code, out = janitor(config, "--older-than", "0s", capsys=capsys)
    assert code == 0, out
    assert f"deleted        profile synthetic+{run_id}-primary" in out
    assert user not in profile_ids(info)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--target", "sandbox"], "nothing is left behind"),
        (["--older-than", "soon"], "--older-than"),
        (["--set", "targets.local.service_role_key="], "service_role_key"),
    ],
)
def test_configuration_errors_exit_3_before_anything_is_sent(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, out = janitor(config, *args, capsys=capsys)
    assert code == 3
    assert expected in out


def test_a_killed_run_leaves_users_the_janitor_removes(
    tmp_path: Path, config: Path, project: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    info = project.info
    bystander = create_user(info, f"real-grandma-{uuid.uuid4().hex[:6]}@{DOMAIN}")
    before = user_ids(info)
    project.set_faults(["email.delay=30"])  # the run sits waiting for its email
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "synthetics.cli", "run", "--config", str(config),
             "--report-dir", str(tmp_path / "reports"), "--set", "deeplink.browser=off"],
            env={**os.environ, **environment(info)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        delay = 0.05
        while not user_ids(info) - before:
            assert run.poll() is None, "the run ended before signing up"
            assert time.monotonic() < deadline, "the run never signed up its user"
            time.sleep(delay)  # polling the database against a deadline
            delay = min(delay * 2, 0.5)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        project.set_faults([])
    left = user_ids(info) - before
    assert left and left <= profile_ids(info)  # SIGKILL: no teardown, user and profile stay
    code, out = janitor(config, "--older-than", "0s", capsys=capsys)
    assert code == 0, out
    assert not left & user_ids(info)
    assert not left & profile_ids(info)
    assert bystander in user_ids(info) and bystander in profile_ids(info)
    assert before <= user_ids(info)  # no one else was touched
