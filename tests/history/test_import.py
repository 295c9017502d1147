"""`synthetics history import`: results.json files and folders, idempotent, bad files named."""

from __future__ import annotations

import json
from pathlib import Path

from synthetics.cli import main
from synthetics.history.importer import import_paths
from synthetics.history.store import SqlStore, open_store
from tests.rules.runs import run


def _write(folder: Path, minutes: int) -> Path:
    path = folder / f"run-{minutes}" / "results.json"
    run(minutes).write(path)
    return path


def test_files_and_folders_are_imported_once(store: SqlStore, tmp_path: Path) -> None:
    single = _write(tmp_path / "one", 0)
    for minutes in (10, 20):
        _write(tmp_path / "artifacts" / "nested", minutes)
    summary = import_paths(store, [single, tmp_path / "artifacts", single])
    assert (summary.added, summary.already, summary.errors) == (3, 0, [])
    again = import_paths(store, [tmp_path])
    assert (again.added, again.already) == (0, 3)
    assert store.count() == 3


def test_a_bad_file_is_named_and_the_others_still_imported(store: SqlStore, tmp_path: Path) -> None:
    _write(tmp_path, 0)
    broken = tmp_path / "broken" / "results.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    other = tmp_path / "other" / "results.json"
    other.parent.mkdir()
    other.write_text(json.dumps({"schema": "something/else@1"}))
    summary = import_paths(store, [tmp_path, tmp_path / "missing.json"])
    assert summary.added == 1
    assert len(summary.errors) == 3
    assert any(str(broken) in e for e in summary.errors)
    assert any("schema is 'something/else@1'" in e for e in summary.errors)
    assert any("missing.json: no such file" in e for e in summary.errors)


def test_the_command_imports_into_the_configured_history(tmp_path: Path, capsys) -> None:
    config = tmp_path / "conf" / "synthetics.toml"
    config.parent.mkdir()
    config.write_text('[history]\nurl = "sqlite:///state/history.sqlite"\n')
    results = _write(tmp_path / "reports", 0)
    assert main(["history", "import", str(results), "--config", str(config)]) == 0
    assert "imported 1 run(s) into the sqlite history; 0 already there" in capsys.readouterr().out
    assert main(["history", "import", str(tmp_path / "reports"), "--config", str(config)]) == 0
    assert "0 run(s)" in capsys.readouterr().out
    # The relative path is taken from the config file's folder, not from where we stand.
    database = config.parent / "state" / "history.sqlite"
    assert database.exists()
    opened = open_store(f"sqlite:///{database}")
    assert opened.count() == 1
    opened.close()


def test_the_command_exits_1_when_a_file_was_not_imported(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("[]")
    url = f"history.url=sqlite:///{tmp_path}/h.sqlite"
    assert main(["history", "import", str(bad), "--set", url]) == 1
    assert "not imported" in capsys.readouterr().err


def test_a_bad_history_url_is_a_configuration_error(tmp_path: Path, capsys) -> None:
    code = main(["history", "import", str(tmp_path), "--set", "history.url=mysql://u:pw@h/db"])
    assert code == 3
    err = capsys.readouterr().err
    assert "history.url (from --set history.url)" in err and "pw@" not in err
