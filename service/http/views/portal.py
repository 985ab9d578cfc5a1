"""The portal side: the embeddable widget (`/widget.js`) and the demo article page (`/demo`).

`/widget.js` is the static script with the server's own rules and messages baked in (so the
reader's hints say exactly what the server will check), built once per app, gzipped once, served
with an ETag. `/demo` is an article page like the Hanoi portal's, embedding the widget with two
lines; inside the widget element it renders a plain HTML form (captcha issued here, server-side)
for readers without JavaScript, and shows the outcome of that form's post (`?duyet=...`) itself.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from service import errors
from service.comments import messages
from service.comments import submission as comments
from service.comments.validation import Rules, check_article_id
from service.http import appkeys, bodies, drafts, openapi, presentation
from service.http.ui import STATIC_DIR, setup_templates
from service.review import reading
from service.settings import Settings

routes = web.RouteTableDef()

WIDGET_SOURCE = STATIC_DIR / "widget.js"
CONFIG_SLOT = re.compile(r"/\*duyet:config\*/.*?/\*duyet:end\*/", re.S)
# Short enough that a change of rules reaches readers within minutes; the ETag makes rechecks cheap.
WIDGET_CACHE = "public, max-age=600, stale-while-revalidate=86400"
DEMO_ARTICLE = "ha-noi/2019/07/hop-tac-ha-noi-hung-yen"
DEMO_PAGE_SIZE = 10
# The demo proves the widget needs no inline script (script-src 'self') and posts only to itself.
DEMO_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
)
# Field codes a reader can meet before the server answers, and after (for the no-JS outcome).
FIELD_CODES: dict[str, tuple[str, ...]] = {
    "name": ("required", "too_short", "too_long", "invalid_characters", "contains_url"),
    "phone": ("invalid_phone", "too_long"),
    "title": ("required", "too_short", "too_long"),
    "content": ("required", "too_short", "too_long"),
    "captcha_answer": ("required", "too_long", "captcha_invalid", "captcha_expired"),
}
REQUEST_CODES = ("validation_failed", "forbidden", "model_not_ready", "captcha_unavailable")
# The portal's readers and its article dates are in Vietnam; the widget shows the same clock.
PORTAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True, slots=True)
class WidgetAsset:
    body: bytes
    gzipped: bytes
    etag: str


WIDGET: web.AppKey[WidgetAsset] = web.AppKey("widget", WidgetAsset)


# --------------------------------------------------------------------------- widget
def limits(rules: Rules) -> dict[str, tuple[int, int]]:
    """Each field's (min, max) characters, as the server counts them."""
    return {
        "name": (rules.name_min, rules.name_max),
        "title": (rules.title_min, rules.title_max),
        "content": (rules.content_min, rules.content_max),
        "captcha_answer": (1, 32),
        "phone": (0, 32),
    }


def field_message(field: str, code: str, lang: str, rules: Rules) -> str:
    low, high = limits(rules).get(field, (0, 0))
    return messages.message(code, lang, field, min=low, max=high)


def widget_config(settings: Settings) -> dict[str, Any]:
    """The rules and messages the widget checks and shows before the server does."""
    rules = Rules.from_settings(settings)
    catalogue: dict[str, Any] = {}
    for lang in ("vi", "en"):
        words: dict[str, Any] = {code: messages.message(code, lang) for code in REQUEST_CODES}
        for field, codes in FIELD_CODES.items():
            words[field] = {code: field_message(field, code, lang, rules) for code in codes}
        catalogue[lang] = words
    # The captcha's drawn size: the widget shows it at that size, never scaled.
    captcha = (settings.captcha_width, settings.captcha_height)
    return {"rules": limits(rules), "captcha": captcha, "messages": catalogue}


def build_widget(settings: Settings) -> WidgetAsset:
    source = WIDGET_SOURCE.read_text(encoding="utf-8")
    config = json.dumps(widget_config(settings), ensure_ascii=False, separators=(",", ":"))
    # A function replacement: the JSON is inserted verbatim, backslashes and all.
    body = CONFIG_SLOT.sub(lambda _: f"/*duyet:config*/{config}/*duyet:end*/", source, count=1).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return WidgetAsset(body, gzip.compress(body, compresslevel=9, mtime=0), etag)


def _etag_matches(request: web.Request, etag: str) -> bool:
    wanted = request.headers.get("If-None-Match", "")
    return etag in [t.strip().removeprefix("W/") for t in wanted.split(",")]


@routes.get("/widget.js")
@openapi.operation(
    tags=("portal",),
    responses={
        200: openapi.Response("The script", {"type": "string"}, etag=True, content_type="text/javascript"),
        304: openapi.Response("Not modified (If-None-Match)"),
    },
)
async def widget_js(request: web.Request) -> web.Response:
    """The embeddable comment widget (no dependencies)."""
    asset = request.app[WIDGET]
    headers = {
        "Cache-Control": WIDGET_CACHE,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        # A public script: portals may load it with crossorigin/SRI, or behind COEP.
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if _etag_matches(request, asset.etag):
        return web.Response(status=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, content_type="text/javascript", charset="utf-8", headers=headers)


# --------------------------------------------------------------------------- demo page
@dataclass(frozen=True, slots=True)
class FormOutcome:
    """What the no-JS form post came back with (`?duyet=...`), ready to show."""

    kind: str  # "pending" or "error"
    message: str
    fields: dict[str, str]  # field -> message


def outcome_of(query: Any, lang: str, rules: Rules) -> FormOutcome | None:
    """Read `?duyet=pending|error&fields=..&codes=..&code=..` (see service.http.views.comments.outcome_url)."""
    kind = query.get("duyet")
    if kind == "pending":
        return FormOutcome("pending", PENDING[lang], {})
    if kind != "error":
        return None
    fields = [f for f in query.get("fields", "").split(",") if f in FIELD_CODES]
    codes = [c for c in query.get("codes", "").split(",") if c]
    # The codes are de-duplicated: they pair with the fields only when none repeated.
    paired = len(codes) == len(fields)
    shown = {}
    for i, field in enumerate(fields):
        code = codes[i] if paired else ""
        known = code in FIELD_CODES[field]
        shown[field] = (
            field_message(field, code, lang, rules) if known else messages.message("invalid_cursor", lang, field)
        )
    code = query.get("code", "")
    if shown:
        summary = messages.message("validation_failed", lang)
    elif code in REQUEST_CODES:
        summary = messages.message(code, lang)
    else:
        summary = FAILED[lang]
    return FormOutcome("error", summary, shown)


PENDING = {
    "vi": "Cảm ơn bạn! Bình luận đã được gửi và đang chờ kiểm duyệt.",
    "en": "Thank you! Your comment was received and awaits moderation.",
}
LENGTH_HINT = {"vi": "{min}–{max} ký tự", "en": "{min}–{max} characters"}
PHONE_HINT = {"vi": "Không bắt buộc; không hiển thị công khai.", "en": "Optional; never shown publicly."}
FAILED = {
    "vi": "Không gửi được bình luận, vui lòng thử lại.",
    "en": "The comment could not be sent, please try again.",
}


def shown_time(iso: str | None) -> str:
    """`2026-12-03T06:58:30.911Z` as a reader in Vietnam reads it (`13:58 03/12/2026`), as the widget shows it."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        return ""
    return moment.astimezone(PORTAL_TIME).strftime("%H:%M %d/%m/%Y")


def hint(field: str, lang: str, rules: Rules) -> str:
    """The line under a field, as the widget words it: its length, or that the phone is optional."""
    if field == "phone":
        return PHONE_HINT[lang]
    low, high = limits(rules)[field]
    return LENGTH_HINT[lang].format(min=low, max=high)


async def _captcha_for_form(request: web.Request, article_id: str) -> dict[str, Any] | None:
    """A captcha for the no-JS form, issued here (the page cannot ask for one without a script).

    None when this reader may not have one right now (rate limited): the page still renders."""
    captchas = request.app[appkeys.CAPTCHAS]
    try:
        issued = await captchas.issue(request[appkeys.CLIENT], article_id)
    except errors.RateLimited:
        return None
    return {
        "id": issued.id,
        "image_url": captchas.image_url(issued.id),
        "audio_url": captchas.audio_url(issued.id),
        "expires_in": issued.expires_in,
    }


@routes.get("/demo")
@openapi.operation(
    tags=("portal",),
    parameters=(
        openapi.query_param("article", bodies.schema_of(bodies.ArticleId), f"Default: {DEMO_ARTICLE}"),
        openapi.query_param("lang", {"enum": ["vi", "en"]}, "The page's language (default vi)"),
        openapi.query_param("cursor", bodies.schema_of(bodies.Cursor)),
        openapi.query_param("duyet", {"type": "string"}, "The outcome of a form post without JavaScript"),
        openapi.query_param("draft", {"type": "string"}, "What the reader typed before a failed post (read once)"),
    ),
    responses={
        200: openapi.Response("The page", {"type": "string"}, content_type="text/html"),
        400: openapi.Response("Invalid cursor", openapi.ERROR),
        422: openapi.Response("Invalid article id", openapi.ERROR),
    },
)
async def demo(request: web.Request) -> web.Response:
    """A portal article page with the widget embedded, for trying duyet in a browser."""
    app = request.app
    settings = app[appkeys.SETTINGS]
    # The page is a Vietnamese portal's: the widget follows the page's language, not the browser's.
    lang = "en" if request.query.get("lang") == "en" else "vi"
    article_id = check_article_id(request.query.get("article", DEMO_ARTICLE), lang)
    rules = Rules.from_settings(settings)
    cursor = request.query.get("cursor") or None  # a hand-edited bad one is a 400 from the queue
    items, next_cursor = await reading.list_approved(
        app[appkeys.REDIS], app[appkeys.KEYS], article_id, DEMO_PAGE_SIZE, cursor
    )
    comments_shown = [presentation.public_comment(item) for item in items]
    for comment in comments_shown:
        comment["shown_at"] = shown_time(comment.get("created_at"))
    context = {
        "article_id": article_id,
        "lang": lang,
        "rules": limits(rules),
        "hints": {name: hint(name, lang, rules) for name in ("name", "phone", "title", "content")},
        "draft": await drafts.take(app[appkeys.REDIS], app[appkeys.KEYS], request.query.get("draft")),
        # The only captcha of this page view: the widget takes it over from the form (data-expires-in).
        "captcha": await _captcha_for_form(request, article_id),
        "form_token": comments.issue_form_token(settings.secret_bytes),
        "outcome": outcome_of(request.query, lang, rules),
        "comments": comments_shown,
        "next_cursor": next_cursor,
        "test_code": settings.captcha_test_code,
        "captcha_size": (settings.captcha_width, settings.captcha_height),
    }
    response = aiohttp_jinja2.render_template("demo.html", request, context)
    response.charset = "utf-8"
    response.headers["Content-Security-Policy"] = DEMO_CSP
    response.headers["Cache-Control"] = "no-store"  # a fresh captcha and form token every time
    return response


def install(app: web.Application) -> None:
    """Add the widget and demo routes; the widget is built once, from this app's settings."""
    if aiohttp_jinja2.APP_KEY not in app:
        setup_templates(app)
    app[WIDGET] = build_widget(app[appkeys.SETTINGS])
    app.add_routes(routes)
