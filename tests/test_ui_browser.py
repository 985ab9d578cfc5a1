"""The moderator UI in a real headless Chromium: log in, claim, decide with the keyboard, bulk, undo,
live stats, two moderators, hostile comment text, log-out. Saves the README's screenshots."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, ConsoleMessage, Page, expect
from redis.asyncio import Redis

from service.review import intake, moderators, reading
from service.settings import Settings
from service.spam.loading import ModelCache
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests.browser import SCREENSHOTS, launch
from tests.queue_helpers import make_comment
from tests.test_ui_sessions import ui_app

pytestmark = pytest.mark.browser
K = Keys()
PASSWORD = "mat-khau-rat-dai"
BATCH = 3
# Comments come scored, so the spam model is not loaded (seconds per app); no captcha pool either (ui_app).
FAST = {"model_path": "/nonexistent/no-model.skops"}
CURRENT = re.compile(r"\bcurrent\b")
WAIT = 10_000  # ms for UI expectations: generous, a busy CI machine is slow

SAMPLES = [
    (
        0.97,
        "spam",
        "Khuyến mãi lớn!!! Vay tiền nhanh",
        "Vay tiền nhanh không cần thế chấp, khuyến mãi 50%. Gọi ngay 0912 345 678 hoặc vào http://vay-nhanh.example",
        [
            {"code": "words", "vi": "từ ngữ: vay tiền, khuyến mãi", "en": "words: vay tiền, khuyến mãi",
             "terms": ["vay tiền", "khuyến mãi"]},
            {"code": "phone_in_text", "vi": "có số điện thoại trong nội dung", "en": "a phone number in the text",
             "terms": ["0912 345 678"]},
            {"code": "links", "vi": "có đường dẫn", "en": "contains a link", "terms": ["http://vay-nhanh.example"]},
        ],
    ),
    (
        0.71,
        "suspect",
        "Xem thêm tại trang của tôi",
        "Bài viết hay. Mọi người xem thêm bí quyết làm giàu tại trang cá nhân của tôi nhé.",
        [{"code": "words", "vi": "từ ngữ: làm giàu", "en": "words: làm giàu", "terms": ["làm giàu"]}],
    ),
    (
        0.12,
        "ham",
        "Cần sửa đường Nguyễn Trãi",
        "Đoạn đường Nguyễn Trãi gần ngã tư Sở ngập mỗi khi mưa to. Mong thành phố sớm khắc phục.",
        [],
    ),
    (
        0.05,
        "ham",
        "Cảm ơn bài viết",
        "Thông tin hữu ích về lịch tiêm chủng cho trẻ. Cảm ơn phóng viên.",
        [],
    ),
    (0.04, "ham", "Ý kiến về giao thông", "Nên có thêm làn đường riêng cho xe buýt.", []),
    (0.03, "ham", "Góp ý", "Giờ mở cửa của bộ phận một cửa nên kéo dài đến 17 giờ.", []),
]  # fmt: skip


@dataclass
class Env:
    server: TestServer
    redis: Redis
    scripts: Scripts
    browser: Browser
    csp_errors: list[str]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def new_page(self, width: int = 1280, height: int = 720, locale: str = "en-US") -> Page:
        context = await self.browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        page = await context.new_page()
        page.on("console", self._console)
        return page

    def _console(self, msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.csp_errors.append(msg.text)

    async def moderator(self, name: str) -> None:
        await moderators.add(self.redis, K, name, moderators.Role.MODERATOR)
        await moderators.set_password(self.redis, K, name, PASSWORD)

    async def enqueue(self, probability: float, verdict: str, title: str, content: str, reasons: Any, **kw: Any) -> str:
        comment = make_comment(
            spam_probability=probability, verdict=verdict, title=title, content=content, reasons=reasons, **kw
        )
        cid, _ = await intake.enqueue(self.redis, K, self.scripts, comment)
        return cid

    async def state(self, cid: str) -> dict[str, str]:
        return await reading.get(self.redis, K, cid)


@pytest.fixture
async def env(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    make_settings: Callable[..., Settings],
    model_cache: ModelCache,
    redis: Redis,
) -> AsyncIterator[Env]:
    server = await aiohttp_server(ui_app(make_settings(max_claim=BATCH, **FAST), model_cache))
    async with launch() as browser:
        yield Env(server, redis, Scripts(redis), browser, [])


async def log_in(env: Env, page: Page, name: str, shot: str | None = None) -> None:
    await page.goto(env.url("/moderate"))
    await page.get_by_label("Tên đăng nhập").fill(name)
    await page.get_by_label("Mật khẩu hoặc mã truy cập").fill(PASSWORD)
    if shot:
        await page.screenshot(path=SCREENSHOTS / shot)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page.get_by_test_id("who")).to_have_text(name, timeout=WAIT)


def card(page: Page, cid: str) -> Any:
    return page.locator(f'[data-id="{cid}"]')


async def test_one_moderator_works_the_queue_with_the_keyboard(env: Env) -> None:
    """Log in; a batch is claimed in priority order with highlights; approve (a), undo (u), reject with a
    reason (r, digit, Enter), spam (s), bulk reject (x, x, r); stats follow; details; log-out ends the session."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await env.moderator("lan")
    ids = [await env.enqueue(*sample) for sample in SAMPLES]
    page = await env.new_page()
    await log_in(env, page, "lan", shot="moderate-login.png")

    cookie = next(c for c in await page.context.cookies() if c["name"] == "duyet_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # Claimed as the page opened: the three most likely spam comments, most urgent first.
    cards = page.locator(".card")
    await expect(cards).to_have_count(BATCH, timeout=WAIT)
    assert [await c.get_attribute("data-id") for c in await cards.all()] == ids[:BATCH]
    for cid in ids[:BATCH]:
        assert (await env.state(cid))["claimed_by"] == "lan"
    first = card(page, ids[0])
    marks = await first.locator("mark").all_text_contents()
    assert "Vay tiền" in marks and "khuyến mãi" in marks and "0912 345 678" in marks
    # Terms are the comment's own words: found with their diacritics, whatever the case.
    assert await card(page, ids[1]).locator(".c-content mark").all_text_contents() == ["làm giàu"]
    assert await first.locator(".bar").get_attribute("aria-valuenow") == "97"
    await expect(page.get_by_test_id("stat-waiting")).to_have_text("6", timeout=WAIT)
    await expect(page.get_by_test_id("stat-decided")).to_have_text("0", timeout=WAIT)
    await expect(first).to_have_class(CURRENT, timeout=WAIT)
    assert await page.evaluate("document.activeElement.closest('.card').dataset.id") == ids[0]
    await page.screenshot(path=SCREENSHOTS / "moderate-queue.png")

    # j moves down, k back up; a approves the current card.
    await page.keyboard.press("j")
    await expect(card(page, ids[1])).to_have_class(CURRENT)
    await page.keyboard.press("k")
    await page.keyboard.press("a")
    await expect(first).to_have_count(0, timeout=WAIT)
    assert (await env.state(ids[0]))["state"] == "approved"
    await expect(page.get_by_test_id("toast")).to_contain_text("Đã duyệt 1 bình luận", timeout=WAIT)
    await expect(page.get_by_test_id("stat-decided")).to_have_text("1", timeout=WAIT)
    await expect(page.get_by_test_id("stat-waiting")).to_have_text("5", timeout=WAIT)

    # u undoes it: pending again, claimed back onto the page.
    await page.keyboard.press("u")
    await expect(first).to_have_count(1, timeout=WAIT)
    after_undo = await env.state(ids[0])
    assert after_undo["state"] == "claimed" and after_undo["claimed_by"] == "lan"
    await expect(page.get_by_test_id("stat-waiting")).to_have_text("6", timeout=WAIT)

    # r opens the reason picker; 3 picks the third reason (abusive), Enter confirms.
    await page.keyboard.press("r")
    dialog = page.get_by_test_id("reason-dialog")
    await expect(dialog).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "moderate-reason.png")
    await page.keyboard.press("3")
    await page.keyboard.press("Enter")
    await expect(first).to_have_count(0, timeout=WAIT)
    rejected = await env.state(ids[0])
    assert (rejected["state"], rejected["reason"]) == ("rejected", "abusive")

    # s: reject as spam.
    current_id = await page.evaluate("document.querySelector('.card.current').dataset.id")
    await page.keyboard.press("s")
    await expect(card(page, current_id)).to_have_count(0, timeout=WAIT)
    assert ((await env.state(current_id))["state"], (await env.state(current_id))["reason"]) == ("rejected", "spam")

    # Bulk: x selects, j moves, x selects again; r + 2 (advertising) rejects both in one request.
    await expect(cards).to_have_count(BATCH, timeout=WAIT)  # the page claimed more as it emptied
    chosen = [await c.get_attribute("data-id") for c in (await cards.all())[:2]]
    await page.keyboard.press("x")
    await page.keyboard.press("j")
    await page.keyboard.press("x")
    await expect(page.get_by_test_id("bulk")).to_be_visible()
    await expect(page.locator(".card.selected")).to_have_count(2)
    await page.keyboard.press("r")
    await page.keyboard.press("2")
    await page.keyboard.press("Enter")
    for cid in chosen:
        await expect(card(page, cid)).to_have_count(0, timeout=WAIT)
        assert ((await env.state(str(cid)))["state"], (await env.state(str(cid)))["reason"]) == (
            "rejected",
            "advertising",
        )
    await expect(page.get_by_test_id("toast")).to_contain_text("Đã xử lý 2 bình luận", timeout=WAIT)
    # abusive, spam and the two advertising: the undone approval is not a decision any more.
    await expect(page.get_by_test_id("stat-decided")).to_have_text("4", timeout=WAIT)

    # ? shows the shortcuts.
    await page.keyboard.press("?")
    await expect(page.get_by_test_id("help-dialog")).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "moderate-help.png")
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("help-dialog")).to_be_hidden()

    # The detail page: history from the audit stream, other comments from the same sender.
    detail = await page.context.new_page()
    await detail.goto(env.url(f"/moderate/comments/{ids[0]}"))
    history = detail.get_by_test_id("history")
    await expect(history.locator("tbody tr")).to_have_count(
        6
    )  # submitted, claimed, decided, reopened, claimed, decided
    await expect(history).to_contain_text("Nhận xử lý")
    await expect(history).to_contain_text("Mở lại")
    await expect(history).to_contain_text("“undo”")
    await expect(history).to_contain_text("Thô tục, xúc phạm")
    await expect(detail.get_by_test_id("others").locator("li")).to_have_count(len(ids) - 1)
    assert "Vay tiền" in await detail.locator(".detail mark").all_text_contents()
    await detail.screenshot(path=SCREENSHOTS / "moderate-detail.png", full_page=True)
    await detail.close()

    # Log-out: claims go back to the queue, the page is the log-in form, the old cookie is dead.
    held = [await c.get_attribute("data-id") for c in await cards.all()]
    await page.get_by_test_id("logout").click()
    await expect(page.get_by_role("button", name="Đăng nhập")).to_be_visible(timeout=WAIT)
    for cid in held:
        assert (await env.state(str(cid)))["state"] == "pending"
    async with aiohttp.ClientSession(cookies={"duyet_session": cookie["value"]}) as http:
        async with http.get(env.url("/v1/stats")) as resp:
            assert resp.status == 401
    assert env.csp_errors == []


async def test_highlights_are_whole_words_with_their_diacritics(env: Env) -> None:
    """A term marks whole words only, in any case, and only with its own diacritics: "chí" is not
    inside "CHÍNH CHỦ", nor is it "chi" or "chỉ"; a term without diacritics is another word."""
    await env.moderator("lan")
    terms = ["chí", "bán nhà", "chinh chu"]
    reasons = [{"code": "words", "vi": "từ ngữ", "en": "words", "terms": terms}]
    content = "CHÍNH CHỦ bán nhà, chi phí thấp, chỉ cần gọi. Có ý CHÍ thì BÁN NHÀ được."
    cid = await env.enqueue(0.9, "spam", "Nhà chính chủ", content, reasons)
    page = await env.new_page()
    await log_in(env, page, "lan")
    marks = card(page, cid).locator(".c-content mark")
    await expect(marks).to_have_count(3, timeout=WAIT)
    assert await marks.all_text_contents() == ["bán nhà", "CHÍ", "BÁN NHÀ"]
    assert await card(page, cid).locator(".c-title mark").count() == 0
    detail = await page.context.new_page()
    await detail.goto(env.url(f"/moderate/comments/{cid}"))
    await expect(detail.locator(".detail mark")).to_have_count(3)
    assert await detail.locator(".detail mark").all_text_contents() == ["bán nhà", "CHÍ", "BÁN NHÀ"]


async def test_two_moderators_never_share_claims_and_see_live_changes(env: Env) -> None:
    """A second moderator's page never shows the first one's claims; a new submission and the other's
    decisions reach the first page live (event stream), in the header's stats."""
    await env.moderator("lan")
    await env.moderator("minh")
    ids = [await env.enqueue(*sample) for sample in SAMPLES]
    lan = await env.new_page()
    await log_in(env, lan, "lan")
    await expect(lan.locator(".card")).to_have_count(BATCH, timeout=WAIT)
    minh = await env.new_page()
    await log_in(env, minh, "minh")
    await expect(minh.locator(".card")).to_have_count(BATCH, timeout=WAIT)
    lan_ids = {await c.get_attribute("data-id") for c in await lan.locator(".card").all()}
    minh_ids = {await c.get_attribute("data-id") for c in await minh.locator(".card").all()}
    assert lan_ids.isdisjoint(minh_ids) and lan_ids | minh_ids == set(ids)
    await expect(lan.get_by_test_id("stat-waiting")).to_have_text("6", timeout=WAIT)

    # Live: a new comment arrives; minh approves one. Lan's page learns both without reloading.
    await expect(lan.get_by_test_id("live")).to_have_text("", timeout=WAIT)
    await env.enqueue(0.5, "suspect", "Bình luận mới", "Vừa gửi xong.", [])
    await expect(lan.get_by_test_id("live")).to_contain_text("1 bình luận mới", timeout=WAIT)
    await expect(lan.get_by_test_id("stat-waiting")).to_have_text("7", timeout=WAIT)
    await minh.keyboard.press("a")
    await expect(minh.locator(".card")).to_have_count(BATCH - 1, timeout=WAIT)
    await expect(lan.get_by_test_id("stat-decided")).to_have_text("1", timeout=WAIT)
    await expect(lan.get_by_test_id("stat-waiting")).to_have_text("6", timeout=WAIT)
    # Still nothing of minh's on lan's page, even after the new arrival.
    lan_now = {await c.get_attribute("data-id") for c in await lan.locator(".card").all()}
    minh_now = {await c.get_attribute("data-id") for c in await minh.locator(".card").all()}
    assert lan_now.isdisjoint(minh_now)
    assert env.csp_errors == []


XSS_TITLE = '<script>window.__pwned = "title"</script>Tiêu đề'
XSS_CONTENT = (
    "<img src=x onerror=\"window.__pwned='img'\"> <svg onload=\"window.__pwned='svg'\"></svg> "
    "\"><script>window.__pwned='attr'</script> <a href=\"javascript:window.__pwned='href'\">bấm</a> vay tiền"
)
XSS_NAME = "<b onmouseover=\"window.__pwned='name'\">Kẻ xấu</b>"


async def test_hostile_comment_text_renders_as_text_and_runs_nothing(env: Env) -> None:
    """<script>, onerror= and friends in a comment (and in the reasons) show up as literal text, on the
    queue and on the detail page, create no elements and run nothing; the CSP reports no violation."""
    await env.moderator("lan")
    reasons = [
        {"code": "markup", "vi": "<img src=x onerror=alert(1)>", "en": "markup", "terms": ["<img src=x", "vay tiền"]}
    ]
    cid = await env.enqueue(0.9, "spam", XSS_TITLE, XSS_CONTENT, reasons, name=XSS_NAME)
    page = await env.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await log_in(env, page, "lan")
    body = card(page, cid)
    await expect(body).to_have_count(1, timeout=WAIT)
    assert await body.locator(".c-title").text_content() == XSS_TITLE
    assert await body.locator(".c-content").text_content() == XSS_CONTENT
    assert await body.locator(".c-name").text_content() == XSS_NAME
    assert await body.locator(".reasons li").text_content() == "<img src=x onerror=alert(1)>"
    assert await body.locator("img, svg, script, b, a[href^='javascript']").count() == 0
    assert "<img src=x" in await body.locator("mark").all_text_contents()
    await body.locator(".c-name").hover()
    await page.screenshot(path=SCREENSHOTS / "moderate-hostile.png")
    detail = await page.context.new_page()
    await detail.goto(env.url(f"/moderate/comments/{cid}"))
    assert await detail.get_by_test_id("detail-title").text_content() == XSS_TITLE
    assert await detail.locator(".detail .c-content").text_content() == XSS_CONTENT
    assert await detail.locator(".detail img, .detail svg, .detail script:not([src])").count() == 0
    for p in (page, detail):
        assert await p.evaluate("window.__pwned === undefined")
    assert dialogs == []
    assert env.csp_errors == []


async def test_usable_on_a_tablet_and_in_english(env: Env) -> None:
    """At tablet size nothing overflows sideways and the actions stay reachable; ?lang=en switches words."""
    await env.moderator("lan")
    for sample in SAMPLES[:3]:
        await env.enqueue(*sample)
    page = await env.new_page(width=768, height=1024)
    await log_in(env, page, "lan")
    await expect(page.locator(".card")).to_have_count(BATCH, timeout=WAIT)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    approve = page.locator(".card.current .act-approve")
    box = await approve.bounding_box()
    assert box is not None and box["height"] >= 40  # finger-sized
    await page.screenshot(path=SCREENSHOTS / "moderate-tablet.png")
    await page.goto(env.url("/moderate?lang=en"))
    await expect(page.get_by_role("button", name="Log out")).to_be_visible(timeout=WAIT)
    # The previous page's claims come back as its releases land: at least one card is here at once.
    await expect(page.locator(".card .verdict").first).to_have_text(re.compile("Spam|Suspect|Looks fine"), timeout=WAIT)
    # Every control has an accessible name (label, text or aria-label).
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('button, input:not([type=hidden]), a[href]')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
            .map(el => el.outerHTML)"""
    )
    assert unnamed == []
    # Focus is visible: the focused control gets an outline.
    await page.keyboard.press("Tab")
    assert await page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    assert env.csp_errors == []


async def test_an_access_token_alone_logs_in(env: Env) -> None:
    """As the README says: the log-in form takes an access token without a name."""
    _, token = await moderators.add(env.redis, K, "minh", moderators.Role.MODERATOR)
    page = await env.new_page()
    await page.goto(env.url("/moderate"))
    await page.get_by_label("Mật khẩu hoặc mã truy cập").fill(token)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page.get_by_test_id("who")).to_have_text("minh", timeout=WAIT)
