"""Fixtures shared by the end-to-end tests: Debian's headless Chromium, driven by Playwright.

Playwright drives the system browser (``/usr/bin/chromium``); ``playwright install`` is never run,
because it downloads a browser build of its own. scripts/test.sh installs the Debian package.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Screenshots and other files a person looks at after a browser run (CI uploads the folder):
# $CITYWIFI_TEST_ARTEFACTS, else test-artefacts/ at the repository root (ignored by git).
ARTEFACTS = Path(os.environ.get("CITYWIFI_TEST_ARTEFACTS")
                 or Path(__file__).resolve().parents[2] / "test-artefacts")
# Headless in a container: no sandbox (no user namespaces), no GPU, and nothing that phones home
# (updates, sync, QUIC probes), so a page only talks to the servers a test starts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module; each test opens its own contexts (cookies, locale).
    Skips when Playwright or Debian's chromium is missing."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is not installed")
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """The folder browser tests save screenshots into (created on first use)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS
