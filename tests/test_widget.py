"""/widget.js and /demo over HTTP: headers, size, the server's rules baked in, the no-JS page."""

from __future__ import annotations

import gzip
import re
from typing import Any

from aiohttp.test_utils import TestClient

from service.http.views.portal import WIDGET_SOURCE
from tests.clients import MakeClient

Client = TestClient[Any, Any]
GZIP_BUDGET = 15 * 1024  # the budget for the widget, gzipped
# These pages never score a comment: without a model (the slowest part of start-up) the app is
# not ready for submissions but serves the widget and the demo all the same.
NO_MODEL = {"model_path": "/nonexistent/spam-model.skops", "captcha_pool_target": 0, "captcha_render_workers": 1}


async def test_widget_is_served_as_utf8_javascript_gzipped_and_cacheable(make_client: MakeClient) -> None:
    """/widget.js: text/javascript; charset=utf-8, gzip when accepted, cacheable, 304 on its ETag."""
    client = await make_client(**NO_MODEL)
    resp = await client.get("/widget.js", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert resp.headers["Content-Encoding"] == "gzip"
    assert "max-age=" in resp.headers["Cache-Control"] and "Accept-Encoding" in resp.headers["Vary"]
    packed = await resp.read()
    assert len(packed) < GZIP_BUDGET, f"widget.js is {len(packed)} bytes gzipped"
    assert gzip.decompress(packed).decode().startswith("/* duyet comment widget")
    again = await client.get("/widget.js", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304
    plain = await client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and (await plain.text()) == gzip.decompress(packed).decode()


async def test_widget_carries_the_servers_own_rules_and_messages(make_client: MakeClient) -> None:
    """The hints the reader sees are the server's settings and its Vietnamese wording."""
    client = await make_client(**NO_MODEL, name_min_length=4, title_max_length=90)
    text = await (await client.get("/widget.js")).text()
    assert '"name":[4,80]' in text and '"title":[3,90]' in text
    assert "Họ tên phải có ít nhất 4 ký tự." in text
    assert "Tiêu đề không được dài quá 90 ký tự." in text
    assert "Title must be at most 90 characters long." in text


def test_widget_source_never_builds_markup_from_strings() -> None:
    """Server and reader text reach the page only through textContent/append (no innerHTML, eval, document.write)."""
    comments = re.compile(r"/\*.*?\*/|(^|\s)//\s.*$", re.S | re.M)  # "// " comments, never "https://"
    source = comments.sub("", WIDGET_SOURCE.read_text(encoding="utf-8"))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, sink


async def test_demo_is_a_utf8_article_page_embedding_the_widget_in_two_lines(make_client: MakeClient) -> None:
    """/demo: the seed's article, the two embed lines, no inline script (CSP script-src 'self')."""
    client = await make_client(**NO_MODEL, captcha_test_code="TEST1")
    resp = await client.get("/demo")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    html = await resp.text()
    assert "Thành phố Hà Nội và tỉnh Hưng Yên hợp tác phát huy thế mạnh của mỗi địa phương" in html
    assert "(16:25 13/07/2019)" in html and "Viết bình luận" in html
    assert '<script src="/widget.js" defer></script>' in html
    assert re.search(r'<duyet-comments id="duyet-comments" article-id="[^"]+">', html)
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html)), "inline script"


async def test_demo_has_a_plain_form_for_readers_without_javascript(make_client: MakeClient) -> None:
    """Inside the widget element: a form posting to /v1/comments with a captcha issued server-side."""
    client = await make_client(**NO_MODEL, captcha_test_code="TEST1")
    html = await (await client.get("/demo")).text()
    assert '<form method="post" action="/v1/comments"' in html
    for label in ("Họ tên:", "Số điện thoại:", "Tiêu đề:", "Nội dung:", "Mã xác nhận:", "Lấy lại mã bảo mật"):
        assert label in html
    captcha_id = re.search(r'name="captcha_id" value="([^"]+)"', html)
    assert captcha_id is not None
    image = await client.get(f"/v1/captchas/{captcha_id.group(1)}/image")
    assert image.status == 200 and image.content_type == "image/png"
    assert re.search(r'name="form_token" value="\d+\.[0-9a-f]+"', html)
    assert 'name="website"' in html  # the honeypot


async def test_demo_shows_the_outcome_of_a_no_js_post(make_client: MakeClient) -> None:
    """Back from the 303, /demo renders the outcome itself: each field's error beside it, or 'pending'."""
    client = await make_client(**NO_MODEL)
    query = "duyet=error&fields=name,captcha_answer&codes=required,captcha_invalid"
    html = await (await client.get(f"/demo?{query}")).text()
    assert 'role="alert">Một số trường chưa hợp lệ.' in html
    assert '<p class="error" id="nojs-name-error">Họ tên là bắt buộc.</p>' in html
    assert "Mã xác nhận không đúng, vui lòng nhập lại." in html
    assert 'id="nojs-name" name="name" type="text" maxlength="80" required aria-invalid="true"' in html
    html = await (await client.get("/demo?duyet=pending")).text()
    assert "đang chờ kiểm duyệt" in html
    html = await (await client.get("/demo?duyet=error&code=forbidden")).text()
    assert "Không thể gửi bình luận." in html
