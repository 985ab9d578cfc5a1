"""The portal widget and /demo in a real headless Chromium, against the real app (captcha test mode)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
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


async def test_the_first_click_after_a_corrected_field_sends_the_comment(server: TestServer, browser: Browser) -> None:
    """A field fixed after an error, then one click on the button: the comment goes. Leaving the field
    (the click itself does) must not move the button from under the pointer, and once every field is
    fine the red summary goes too."""
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    await page.goto(str(server.make_url("/demo")))
    await expect(page.locator("duyet-comments img[part=captcha-image]")).to_have_attribute("src", CAPTCHA_SRC)
    for label, value in COMMENT.items():
        await field(page, label).fill(value)
    await field(page, "Tiêu đề:").fill("Hợ")  # too short
    await field(page, "Mã xác nhận:").fill(CODE)
    button = page.get_by_role("button", name="Gửi bình luận")
    await button.click()
    await expect(page.locator("#e-title")).to_have_text("Tiêu đề phải có ít nhất 3 ký tự.")
    summary = page.locator("duyet-comments [part=alert]")
    await expect(summary).to_be_visible()
    await expect(field(page, "Tiêu đề:")).to_be_focused()

    await field(page, "Tiêu đề:").fill(COMMENT["Tiêu đề:"])
    before = await button.bounding_box()
    await field(page, "Tiêu đề:").evaluate("input => input.blur()")
    await expect(page.locator("#e-title")).to_be_hidden()
    await expect(field(page, "Tiêu đề:")).not_to_have_attribute("aria-invalid", "true")
    await expect(summary).to_be_hidden()
    assert await button.bounding_box() == before

    # The same again, the way a reader does it: the press on the button is what leaves the field.
    await field(page, "Tiêu đề:").fill("Hợ")
    await button.click()
    await expect(page.locator("#e-title")).to_be_visible()
    await field(page, "Tiêu đề:").fill(COMMENT["Tiêu đề:"])
    await button.click()  # once
    status = page.locator("duyet-comments").get_by_role("status").filter(has_text="chờ kiểm duyệt")
    await expect(status).to_have_text("Cảm ơn bạn! Bình luận đã được gửi và đang chờ kiểm duyệt.")


async def test_without_javascript_an_error_keeps_what_the_reader_typed(
    server: TestServer, browser: Browser, redis: Redis
) -> None:
    """JavaScript off: after a failed post the form comes back filled in, from a short-lived draft that
    only an opaque id in the URL points at (no words, no phone in the URL), used once. The form shows the
    widget's length hints, and the list shows times as the widget does, in Vietnam time."""
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(str(server.make_url("/demo")))
    form = page.locator(".nojs form")
    for hint in ("2–80 ký tự", "3–150 ký tự", "5–5000 ký tự", "Không bắt buộc; không hiển thị công khai."):
        await expect(form.get_by_text(hint, exact=True)).to_be_visible()
    await expect(field(page, "Họ tên:")).to_have_accessible_description("2–80 ký tự")
    for label, value in COMMENT.items():
        await field(page, label).fill(value)
    await field(page, "Mã xác nhận:").fill("WRONG")
    await page.get_by_role("button", name="Gửi bình luận").click()
    await expect(page.locator("#nojs-captcha_answer-error")).to_have_text("Mã xác nhận không đúng, vui lòng nhập lại.")
    for label, value in COMMENT.items():
        await expect(field(page, label)).to_have_value(value)
    await expect(field(page, "Mã xác nhận:")).to_have_value("")  # a captcha is single use
    url = page.url
    draft = re.search(r"[?&]draft=([A-Za-z0-9_-]+)", url)
    assert draft is not None, url
    for value in COMMENT.values():
        for piece in value.split():
            assert piece.lower() not in url.lower()
    assert "0912" not in url and "Tr%E1%BA%A7n" not in url
    assert await redis.exists(Keys().form_draft(draft.group(1))) == 0  # taken by the page that showed it

    # Used once: the same address again shows an empty form.
    await page.goto(url.split("#")[0])  # a new load, not a jump to the anchor
    await expect(field(page, "Họ tên:")).to_have_value("")

    # The draft waits minutes, not longer, and holds only what the reader typed.
    async with aiohttp.ClientSession() as http:
        data = {
            "article_id": "ha-noi/2019/07/hop-tac-ha-noi-hung-yen",
            "name": "Lan",
            "title": "Tiêu đề",
            "content": "Nội dung đủ dài.",
            "captcha_id": "x" * 20,
            "captcha_answer": "WRONG",
            "website": "",
        }
        headers = {"Accept": "text/html", "Referer": str(server.make_url("/demo"))}
        async with http.post(
            server.make_url("/v1/comments"), data=data, headers=headers, allow_redirects=False
        ) as resp:
            assert resp.status == 303, await resp.text()
            location = resp.headers["Location"]
    draft = re.search(r"[?&]draft=([A-Za-z0-9_-]+)", location)
    assert draft is not None and "Lan" not in location, location
    key = Keys().form_draft(draft.group(1))
    assert 0 < await redis.ttl(key) <= 600
    kept = await redis.get(key)
    assert kept is not None and set(json.loads(kept)) == {"name", "title", "content"}

    # Times as the widget shows them, in Vietnam time (UTC+7), not raw UTC ISO.
    for label, value in COMMENT.items():
        await field(page, label).fill(value)
    await field(page, "Mã xác nhận:").fill(CODE)
    await page.get_by_role("button", name="Gửi bình luận").click()
    await expect(page.get_by_role("status")).to_contain_text("chờ kiểm duyệt")
    assert len(await approve_all(server, redis)) == 1
    await page.goto(str(server.make_url("/demo")))
    stamp = page.locator(".nojs li time")
    iso = await stamp.get_attribute("datetime")
    assert iso is not None
    vietnam = datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(hours=7)
    await expect(stamp).to_have_text(vietnam.strftime("%H:%M %d/%m/%Y"))
    await context.close()

    # The widget shows the same time for the same comment.
    page = await browser.new_page()
    await page.goto(str(server.make_url("/demo")))
    await expect(page.locator("duyet-comments li[part=comment] time")).to_have_text(vietnam.strftime("%H:%M %d/%m/%Y"))


async def test_the_demo_issues_one_captcha_per_page_view(server: TestServer, browser: Browser) -> None:
    """The widget shows the captcha the page came with (issued for its no-JS form), not a second one."""
    page = await browser.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.method == "POST" and "/v1/captchas" in r.url else None)
    await page.goto(str(server.make_url("/demo")))
    given = await page.locator(".nojs input[name=captcha_id]").get_attribute("value")
    image = page.locator("duyet-comments img[part=captcha-image]")
    await expect(image).to_have_attribute("src", re.compile(rf"/v1/captchas/{given}/image$"))
    assert await image.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
    assert asked == []
    # Shown at the size it is drawn (220x80 by default), not scaled down.
    shown = "img => [img.naturalWidth, img.naturalHeight, img.clientWidth, img.clientHeight]"
    assert await image.evaluate(shown) == [220, 80, 220, 80]
    for label, value in COMMENT.items():
        await field(page, label).fill(value)
    await field(page, "Mã xác nhận:").fill(CODE)
    await page.get_by_role("button", name="Gửi bình luận").click()
    await expect(page.locator("duyet-comments").get_by_role("status").filter(has_text="chờ kiểm duyệt")).to_be_visible()
    # A new captcha for the next comment: the one the page came with is used up.
    await expect(image).not_to_have_attribute("src", re.compile(rf"/v1/captchas/{given}/image$"))
