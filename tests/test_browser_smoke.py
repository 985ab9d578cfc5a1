"""The browser harness itself: Debian's Chromium starts and renders a page served by the real app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestServer

from service.http.app import create_app
from service.settings import Settings
from tests.browser import launch


async def test_chromium_loads_a_page_of_the_app(
    aiohttp_server: Callable[..., Awaitable[TestServer]], make_settings: Callable[..., Settings], redis: Any
) -> None:
    """A real headless Chromium fetches /healthz from the running app."""
    server = await aiohttp_server(create_app(make_settings()))
    async with launch() as browser:
        page = await browser.new_page()
        resp = await page.goto(str(server.make_url("/healthz")))
        assert resp is not None and resp.status == 200
        assert '"status": "ok"' in await page.content()
