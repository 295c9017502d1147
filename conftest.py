"""Loads the synthetics plugin for checks run from this checkout (`pytest synthetics/checks`,
`pytest --synthetics-target staging`); installed, its `pytest11` entry point does the same. The
plugin stays inert for the project's own tests."""

import pytest


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Not `pytest_plugins = [...]`: pytest refuses that in a conftest.py above its rootdir, which
    # this one is when this checkout's checks are run from another folder.
    pluginmanager.import_plugin("synthetics.plugin")
