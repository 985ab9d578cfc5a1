"""The landing page `/` and the API reference `/docs`, over HTTP against the real app."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from service.http.views.docs import TAGS
from tests.clients import MakeClient

NO_MODEL = {"model_path": "/nonexistent/spam-model.skops", "captcha_pool_target": 0, "captcha_render_workers": 1}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v or "" for k, v in attrs if k == "href"]


async def test_the_landing_page_links_the_demo_the_moderator_ui_the_docs_and_readiness(
    make_client: MakeClient,
) -> None:
    """`/` is the first URL `duyet serve` prints: a page, in Vietnamese (English on request), not a 404."""
    client = await make_client(**NO_MODEL)
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script" not in csp
    html = await resp.text()
    assert '<html lang="vi">' in html and "Trang trình diễn" in html and "Duyệt bình luận" in html
    assert "<script" not in html
    links = Links()
    links.feed(html)
    assert {"/demo", "/moderate", "/docs", "/readyz", "/?lang=en"} <= set(links.hrefs)
    for href in ("/demo", "/moderate", "/docs", "/readyz"):
        assert (await client.get(href)).status in (200, 503), href  # 503: readiness without a model
    english = await (await client.get("/?lang=en")).text()
    assert '<html lang="en">' in english and "The demo" in english and "API reference" in english


async def test_docs_are_grouped_by_tag_with_rendered_descriptions(make_client: MakeClient) -> None:
    """Every operation sits under its tag's section, each section says what it is for, and inline code
    in descriptions is rendered as code, never as raw backticks."""
    client = await make_client(**NO_MODEL)
    spec = await (await client.get("/openapi.json")).json()
    html = await (await client.get("/docs")).text()
    sections = re.findall(
        r"<h2 id=(tag-[a-z0-9-]+)>([^<]+)</h2><p class=about>([^<]*(?:<code>[^<]*</code>[^<]*)*)</p>", html
    )
    titles = [title for _, title, _ in sections]
    assert titles[:3] == ["public", "portal", "queue"], titles
    assert "other" not in titles
    assert all(about for _, _, about in sections)
    tagged = [op for methods in spec["paths"].values() for op in methods.values() if op.get("tags")]
    everything = [op for methods in spec["paths"].values() for op in methods.values()]
    untagged = [path for path, methods in spec["paths"].items() for op in methods.values() if not op.get("tags")]
    assert untagged == ["/static/{filename}"]  # aiohttp's static files: shown with the moderator UI
    assert len(everything) - len(tagged) == 1
    assert set(titles) <= set(TAGS)
    body = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    assert "`" not in body
    assert "<code>cursor</code>" in body  # "Pass as `cursor` for the next page"
