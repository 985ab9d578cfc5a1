"""`/`: the first page a newcomer opens (the URL `duyet serve` prints first).

A few links, in Vietnamese first and English on request: the demo article with the widget, the
moderator UI, the API reference and the readiness check. Plain HTML, no script.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from service.http import openapi

routes = web.RouteTableDef()

# No script at all; only the page's own inline styles.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
LANGS = ("vi", "en")

# key -> (vi, en)
TEXT: dict[str, tuple[str, str]] = {
    "title": ("duyet: kiểm duyệt bình luận", "duyet: comment moderation"),
    "lead": (
        "Dịch vụ kiểm duyệt bình luận cho cổng thông tin tiếng Việt: bạn đọc gửi bình luận qua khung nhúng, "
        "mô hình chấm điểm rác, người kiểm duyệt quyết định.",
        "A comment-moderation service for Vietnamese news portals: readers comment through an embedded "
        "widget, a model scores spam, moderators decide.",
    ),
    "demo": ("Trang trình diễn", "The demo"),
    "demo_text": (
        "Một bài viết của cổng thông tin có khung bình luận duyet: thử gửi bình luận, có hoặc không có JavaScript.",
        "A portal article with the duyet widget: post a comment, with JavaScript or without.",
    ),
    "moderate": ("Duyệt bình luận", "Moderate"),
    "moderate_text": (
        "Hàng đợi kiểm duyệt trong trình duyệt, dùng bàn phím (tạo tài khoản: duyet moderators add TÊN).",
        "The review queue in the browser, keyboard first (an account: duyet moderators add NAME).",
    ),
    "docs": ("Tài liệu API", "API reference"),
    "docs_text": (
        "Mọi thao tác của API HTTP, nhóm theo chủ đề (bản máy đọc: /openapi.json).",
        "Every operation of the HTTP API, grouped by topic (machine-readable: /openapi.json).",
    ),
    "readyz": ("Trạng thái sẵn sàng", "Readiness"),
    "readyz_text": (
        "Kho dữ liệu, mô hình và captcha đã sẵn sàng phục vụ chưa (JSON).",
        "Whether the store, the model and the captchas are ready to serve (JSON).",
    ),
    "switch": ("English", "Tiếng Việt"),
}
LINKS = (("/demo", "demo"), ("/moderate", "moderate"), ("/docs", "docs"), ("/readyz", "readyz"))


@routes.get("/")
@openapi.operation(
    tags=("portal",),
    parameters=(openapi.query_param("lang", {"enum": list(LANGS)}, "The page's language (default vi)"),),
    responses={200: openapi.Response("The page", {"type": "string"}, content_type="text/html")},
)
async def home(request: web.Request) -> web.Response:
    """The landing page: links to the demo, the moderator UI, the API reference and readiness."""
    lang = "en" if request.query.get("lang") == "en" else "vi"
    i = LANGS.index(lang)
    words = {key: pair[i] for key, pair in TEXT.items()}
    links = [{"href": href, "label": words[key], "text": words[f"{key}_text"]} for href, key in LINKS]
    other = "vi" if lang == "en" else "en"
    context = {"lang": lang, "t": words, "links": links, "switch_href": f"/?lang={other}", "other": other}
    response = aiohttp_jinja2.render_template("home.html", request, context)
    response.charset = "utf-8"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    return response
