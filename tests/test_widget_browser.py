"""The portal widget and /demo in a real headless Chromium, against the real app (captcha test mode)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect
from redis.asyncio import Redis

from service.http.app import create_app
from service.review import moderators
from service.settings import Settings
from service.store.keys import Keys
from tests.browser import SCREENSHOTS, launch

pytestmark = pytest.mark.browser
CODE = "TEST1"
CAPTCHA_SRC = re.compile(r"/v1/captchas/[^/]+/image$")
SEED_LABELS = ["Họ tên:", "Số điện thoại:", "Tiêu đề:", "Nội dung:", "Mã xác nhận:"]
COMMENT = {
    "Họ tên:": "Trần Thị Bình",
    "Số điện thoại:": "0912 345 678",
    "Tiêu đề:": "Hợp tác nông nghiệp",
    "Nội dung:": "Mong hai địa phương sớm đưa nông sản Hưng Yên vào các chợ Hà Nội.",
}


@pytest.fixture
def serve(
    aiohttp_server: Callable[..., Awaitable[TestServer]], make_settings: Callable[..., Settings], redis: Redis
) -> Callable[..., Awaitable[TestServer]]:
    """Start the real app in captcha test mode, without the limits a test's many captchas would hit."""

    async def start(**overrides: Any) -> TestServer:
        settings = make_settings(
            captcha_test_code=CODE,
            captcha_pool_target=0,
            captcha_render_workers=1,
            captcha_issue_limit=0,
            captcha_refresh_limit=0,
            **overrides,
        )
        return await aiohttp_server(create_app(settings))

    return start


@pytest.fixture
async def server(serve: Callable[..., Awaitable[TestServer]]) -> TestServer:
    return await serve()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launch() as b:
        yield b


def field(page: Page, label: str) -> Any:
    """A widget field by its accessible name (hidden no-JS fallback fields are not in the tree)."""
    return page.get_by_role("textbox", name=label, exact=True)


async def approve_all(server: TestServer, redis: Redis) -> list[str]:
    """A moderator claims every pending comment and approves it, through the HTTP API."""
    _, token = await moderators.add(redis, Keys(), "mod-test", moderators.Role.MODERATOR)
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(server.make_url("/v1/queue/claim"), json={"limit": 10}) as resp:
            assert resp.status == 200, await resp.text()
            claimed = (await resp.json())["items"]
        for item in claimed:
            url = server.make_url(f"/v1/comments/{item['id']}/decision")
            async with http.post(url, json={"action": "approve", "version": item["version"]}) as resp:
                assert resp.status == 200, await resp.text()
    return [item["id"] for item in claimed]


async def test_form_shows_the_seed_fields_errors_and_fresh_captchas(server: TestServer, browser: Browser) -> None:
    """Seed labels; empty fields get Vietnamese errors beside them; a wrong code shows its error and a new image."""
    page = await browser.new_page()
    await page.goto(str(server.make_url("/demo")))
    for label in SEED_LABELS:
        await expect(field(page, label)).to_be_visible()
    refresh = page.get_by_role("button", name="Lấy lại mã bảo mật")
    await expect(refresh).to_be_visible()
    await expect(page.get_by_role("button", name="Nghe mã")).to_be_visible()
    image = page.locator("duyet-comments img[part=captcha-image]")
    await expect(image).to_have_attribute("src", CAPTCHA_SRC)
    first = await image.get_attribute("src")

    # "Lấy lại mã bảo mật" gives a new code and image.
    await refresh.click()
    await expect(image).not_to_have_attribute("src", first or "")
    assert await image.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")

    # Empty required fields: Vietnamese errors beside each, announced, focus on the first.
    await page.get_by_role("button", name="Gửi bình luận").click()
    await expect(page.locator("#e-name")).to_have_text("Họ tên là bắt buộc.")
    await expect(page.locator("#e-title")).to_have_text("Tiêu đề là bắt buộc.")
    await expect(page.locator("#e-content")).to_have_text("Nội dung là bắt buộc.")
    await expect(page.locator("#e-captcha_answer")).to_have_text("Mã xác nhận là bắt buộc.")
    await expect(page.locator("#e-phone")).to_be_hidden()
    await expect(page.get_by_role("alert")).to_have_text("Một số trường chưa hợp lệ.")
    await expect(field(page, "Họ tên:")).to_be_focused()
    await expect(field(page, "Họ tên:")).to_have_attribute("aria-invalid", "true")

    # A rule only the server checks comes back from the server, beside its field.
    for label, value in COMMENT.items():
        await field(page, label).fill(value)
    await field(page, "Họ tên:").fill("Mua ngay tai shop.vn")
    await field(page, "Mã xác nhận:").fill(CODE)
    await page.get_by_role("button", name="Gửi bình luận").click()
    await expect(page.locator("#e-name")).to_have_text("Họ tên không được chứa đường link.")

    # A wrong code: its error, and a fresh image (a code is single use).
    await field(page, "Họ tên:").fill(COMMENT["Họ tên:"])
    before = await image.get_attribute("src")
    await field(page, "Mã xác nhận:").fill("WRONG")
    await page.get_by_role("button", name="Gửi bình luận").click()
    await expect(page.locator("#e-captcha_answer")).to_have_text("Mã xác nhận không đúng, vui lòng nhập lại.")
    await expect(image).not_to_have_attribute("src", before or "")
    await expect(field(page, "Mã xác nhận:")).to_have_value("")


async def test_a_valid_post_awaits_moderation_then_appears_once_approved(
    server: TestServer, browser: Browser, redis: Redis
) -> None:
    """Keyboard only: a valid comment shows the awaiting-moderation message; approved, it is listed."""
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    await page.goto(str(server.make_url("/demo")))
    await expect(page.get_by_role("status").filter(has_text="Chưa có bình luận nào.")).to_be_visible()
    await expect(page.locator("duyet-comments img[part=captcha-image]")).to_have_attribute("src", CAPTCHA_SRC)
    await field(page, "Họ tên:").focus()
    for label, value in COMMENT.items():
        await expect(field(page, label)).to_be_focused()
        await page.keyboard.type(value)
        await page.keyboard.press("Tab")
    await expect(field(page, "Mã xác nhận:")).to_be_focused()
    await page.keyboard.type(CODE)
    await page.keyboard.press("Enter")
    status = page.locator("duyet-comments").get_by_role("status").filter(has_text="chờ kiểm duyệt")
    await expect(status).to_have_text("Cảm ơn bạn! Bình luận đã được gửi và đang chờ kiểm duyệt.")
    await expect(field(page, "Nội dung:")).to_have_value("")

    assert len(await approve_all(server, redis)) == 1
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    await page.goto(str(server.make_url("/demo")))
    listed = page.locator("duyet-comments li[part=comment]")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text(COMMENT["Tiêu đề:"])
    await expect(listed).to_contain_text(COMMENT["Nội dung:"])
    await expect(listed).not_to_contain_text("0912")  # the phone is never public
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "demo.png"), full_page=True)


async def test_the_widget_shows_the_outcome_of_a_no_js_post(
    serve: Callable[..., Awaitable[TestServer]], browser: Browser
) -> None:
    """Back from a form post (?duyet=...), the widget shows the outcome, then drops it from the address."""
    server = await serve(model_path="/nonexistent/spam-model.skops")  # nothing is scored: skip the slow load
    page = await browser.new_page()
    await page.goto(str(server.make_url("/demo?duyet=error&fields=title&codes=too_short")))
    await expect(page.locator("#e-title")).to_have_text("Tiêu đề phải có ít nhất 3 ký tự.")
    assert "duyet=" not in page.url
    await page.goto(str(server.make_url("/demo?duyet=pending")))
    await expect(page.locator("duyet-comments").get_by_role("status").first).to_contain_text("chờ kiểm duyệt")


async def test_the_form_works_without_javascript(server: TestServer, browser: Browser, redis: Redis) -> None:
    """JavaScript off: the plain form posts, comes back with errors beside fields, then with 'pending'."""
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(str(server.make_url("/demo")))
    for label in SEED_LABELS:
        await expect(field(page, label)).to_be_visible()
    await expect(page.get_by_role("link", name="Lấy lại mã bảo mật")).to_be_visible()
    for label, value in COMMENT.items():
        await field(page, label).fill(value)
    await field(page, "Mã xác nhận:").fill("WRONG")
    await page.get_by_role("button", name="Gửi bình luận").click()
    await expect(page.locator("#nojs-captcha_answer-error")).to_have_text("Mã xác nhận không đúng, vui lòng nhập lại.")
    assert "duyet=error" in page.url

    for label, value in COMMENT.items():
        await field(page, label).fill(value)
    await field(page, "Mã xác nhận:").fill(CODE)
    await page.get_by_role("button", name="Gửi bình luận").click()
    await expect(page.get_by_role("status")).to_have_text("Cảm ơn bạn! Bình luận đã được gửi và đang chờ kiểm duyệt.")
    assert "duyet=pending" in page.url
    assert len(await approve_all(server, redis)) == 1
    await page.goto(str(server.make_url("/demo")))
    await expect(page.locator(".nojs li")).to_contain_text(COMMENT["Tiêu đề:"])
    await context.close()
