"""`[history]`: defaults, durations, URL resolution, the secret URL, and the trigger."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from synthetics import config
from synthetics.durations import parse_duration
from synthetics.errors import ConfigError
from synthetics.history.config import HistoryConfig, resolve_url
from synthetics.history.trigger import trigger_from


def test_defaults_follow_the_contract() -> None:
    history = config.load(env={}).config.history
    assert history.url.get_secret_value() == "sqlite:///.synthetics/history.sqlite"
    policy = history.policy()
    assert policy.window == timedelta(hours=2) and policy.min_runs == 3
    assert policy.expected_interval == timedelta(minutes=30) and policy.coverage == 0.8


def test_the_url_is_a_secret_read_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "synthetics.toml"
    path.write_text('[history]\nurl = "${HISTORY_DATABASE_URL}"\n')
    secret = "postgresql://monitor:pa55@db.internal/history"
    settings = config.load(path=path, env={"HISTORY_DATABASE_URL": secret})
    assert settings.config.history.url.get_secret_value() == secret
    assert "pa55" not in repr(settings.config) and "pa55" not in str(settings.config.history)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("history.window", "soon", "'soon' is not a duration like 90s, 15m, 2h or 7d"),
        ("history.expected_interval", "0m", "must be longer than zero"),
        ("history.coverage", "1.5", "less than or equal to 1"),
        ("history.min_runs", "0", "greater than or equal to 1"),
        ("history.retention", "30", "unknown key"),
        ("history.url", "ftp://x", "scheme 'ftp' is not sqlite:///PATH or postgresql://"),
    ],
)
def test_bad_values_name_the_key_and_where_they_came_from(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(sets=[f"{key}={value}"], env={})
    assert str(caught.value).startswith(f"{key} (from --set {key}): ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///.synthetics/history.sqlite", "sqlite:////etc/conf/.synthetics/history.sqlite"),
        ("sqlite:////var/lib/h.sqlite", "sqlite:////var/lib/h.sqlite"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_a_relative_sqlite_path_is_relative_to_the_config_folder(url: str, expected: str) -> None:
    assert resolve_url(url, Path("/etc/conf")) == expected


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1.5h", 5400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(
    ("env", "flag", "trigger"),
    [
        ({"GITHUB_EVENT_NAME": "schedule"}, None, "schedule"),
        ({"GITHUB_EVENT_NAME": "release"}, None, "release"),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.2.0"}, None, "release"),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, None, "ci"),
        ({"GITHUB_EVENT_NAME": "pull_request"}, None, "ci"),
        ({"GITHUB_EVENT_NAME": "workflow_dispatch"}, None, "manual"),
        ({"GITHUB_EVENT_NAME": "schedule"}, "release", "release"),  # the flag wins
        ({"CI": "true"}, None, "ci"),
        ({}, None, "manual"),
        ({}, "schedule", "schedule"),
    ],
)
def test_the_trigger_comes_from_the_flag_or_the_environment(
    env: dict[str, str], flag: str | None, trigger: str
) -> None:
    assert trigger_from(env, flag) == trigger


def test_an_unknown_trigger_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="trigger 'nightly' is not one of schedule, release"):
        trigger_from({}, "nightly")


def test_the_section_forbids_unknown_keys() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        HistoryConfig.model_validate({"path": "x"})
