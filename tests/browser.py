"""A real headless Chromium (Debian's `chromium` package) driven by Playwright, no browser download.

Use from async tests, next to the app served by `aiohttp_server`:

    async with launch() as browser:
        page = await browser.new_page()
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from tests.conftest import require_binary

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Screenshots go to a scratch directory, so a test run leaves the tracked files alone;
# `make screenshots` points DUYET_SCREENSHOTS at docs/screenshots to refresh the README's.
SCREENSHOTS = Path(os.environ.get("DUYET_SCREENSHOTS") or Path(tempfile.gettempdir()) / "duyet-screenshots")


@asynccontextmanager
async def launch() -> AsyncIterator[Browser]:
    executable = require_binary("chromium", "chromium")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()
