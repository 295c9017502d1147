"""Whether this machine has a Chromium for the browser tests (`.ci/run` installs one)."""

from __future__ import annotations

import pytest

from synthetics.deeplink.browser import find_chromium, playwright_chromium

FOUND = find_chromium(playwright_path=playwright_chromium)
needs_chromium = pytest.mark.skipif(
    FOUND is None,
    reason="no Chromium on this machine: `apt-get install chromium-headless-shell` (or chromium)",
)
