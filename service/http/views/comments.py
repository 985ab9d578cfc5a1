"""Public comment routes: submit (JSON or a plain HTML form post), list approved, form tokens.

Body parsing is strict and says what is wrong: only JSON or urlencoded forms (415), UTF-8 only
(400), well-formed JSON objects only (400), at most the app's body limit (413). A form post from a
browser without JavaScript (urlencoded, Accept prefers HTML, an allowed Referer) gets a 303 back
to its page with the outcome in the query (`?duyet=pending` / `?duyet=error&fields=name,title`),
so the form works without a script.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from service import errors
from service.comments import messages
from service.comments import submission as comments
from service.comments.validation import Rules, check_article_id, submission_model
from service.http import appkeys, bodies, drafts, openapi, presentation
from service.http.web import MAX_BODY
from service.review import reading
from service.store import availability

routes = web.RouteTableDef()

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
LIST_DEFAULT, LIST_MAX = 20, 100
LIST_CACHE = "public, max-age=15"
ANCHOR = "duyet-comments"
OUTCOME_PARAMS = ("duyet", "fields", "codes", "code", "draft")


# --------------------------------------------------------------------------- response schemas
class Accepted(BaseModel):
    id: str = Field(description="The comment's id")
    status: str = Field(description="Always 'pending': every comment waits for a moderator", examples=["pending"])


class PublicComment(BaseModel):
    id: str
    name: str
    title: str
    content: str
    created_at: str | None = Field(description="ISO 8601, UTC")


class CommentPage(BaseModel):
    items: list[PublicComment]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class PageQuery(BaseModel):
    limit: int = Field(LIST_DEFAULT, ge=1, le=LIST_MAX, description="Comments per page")
    cursor: bodies.Cursor | None = None


class FormTokenBody(BaseModel):
    token: str = Field(description="Send back as the form's `form_token`")


def _submission_schema(app: web.Application) -> type[BaseModel]:
    return submission_model(Rules.from_settings(app[appkeys.SETTINGS]))


# --------------------------------------------------------------------------- parsing
def _bad(code: str, lang: str, **params: Any) -> errors.BadRequest:
    return errors.BadRequest(messages.message(code, lang, **params), code=code)


def _has_surrogates(value: Any) -> bool:
    """JSON may escape lone surrogates ("\\ud800"): valid JSON, but not text we can store."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_surrogates(k) or _has_surrogates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogates(v) for v in value)
    return False


async def read_fields(request: web.Request) -> dict[str, Any]:
    """The submitted fields of a JSON or urlencoded body, or a domain error saying what is wrong."""
    lang = request[appkeys.LANG]
    ctype = request.content_type
    charset = (request.charset or "utf-8").lower()
    if ctype not in (JSON_TYPE, FORM_TYPE) or charset not in ("utf-8", "utf8"):
        raise errors.UnsupportedMediaType(messages.message("unsupported_media_type", lang))
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.PayloadTooLarge(messages.message("payload_too_large", lang, max=MAX_BODY)) from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad("invalid_utf8", lang, detail=f"byte {exc.start}") from None
    if ctype == FORM_TYPE:
        try:
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise _bad("invalid_utf8", lang, detail=f"percent-encoded bytes ({exc.reason})") from None
        return dict(pairs)  # a repeated field: the last one wins, as most form parsers do
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad("malformed_json", lang, detail=f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise _bad("malformed_json", lang, detail="nested too deeply") from None
    if not isinstance(data, dict):
        raise _bad("json_not_object", lang)
    if _has_surrogates(data):
        raise _bad("invalid_utf8", lang, detail="an unpaired surrogate escape")
    return data


# --------------------------------------------------------------------------- no-JS form posts
def _q(accept: str, media: str) -> float:
    """The quality the Accept header gives `media` (exact or type/* or */*), 0 when absent."""
    best, best_specificity = 0.0, -1
    major = media.split("/")[0]
    for part in accept.split(","):
        kind, *params = [p.strip() for p in part.split(";")]
        kind = kind.lower()
        specificity = 2 if kind == media else 1 if kind == f"{major}/*" else 0 if kind == "*/*" else -1
        if specificity < 0 or specificity < best_specificity:
            continue
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        best, best_specificity = q, specificity
    return best


def _allowed_referer(request: web.Request) -> str | None:
    """The Referer, if it is a page of an allowed origin (or of the service itself)."""
    referer = request.headers.get("Referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    settings = request.app[appkeys.SETTINGS]
    allowed = {o.lower() for o in settings.cors_origins} | {settings.base_url().lower()}
    if origin in allowed:
        return referer
    if origin == f"{request.scheme}://{request.host}".lower():
        # A page of ours as the Host header names it: a proxy may pass any Host, so go back by
        # path only ("/" + path: "//evil.example" would be another site), never to that host.
        return urlunsplit(("", "", "/" + parts.path.lstrip("/"), parts.query, ""))
    return None


def redirect_target(request: web.Request) -> str | None:
    """Where a no-JS form post goes back to, or None when the answer should be JSON."""
    if request.content_type != FORM_TYPE:
        return None
    accept = request.headers.get("Accept", "")
    if not accept or _q(accept, "text/html") <= _q(accept, "application/json"):
        return None
    return _allowed_referer(request)


def outcome_url(page: str, **outcome: str) -> str:
    """`page` with our outcome in its query (earlier outcomes replaced) and the comments anchor."""
    parts = urlsplit(page)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in OUTCOME_PARAMS]
    query += [(k, v) for k, v in outcome.items() if v]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ANCHOR))


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


# --------------------------------------------------------------------------- routes
SUBMIT_RESPONSES: dict[int | str, openapi.Response] = {
    202: openapi.Response("Stored and queued for review", Accepted),
    303: openapi.Response("A browser form post without JavaScript: back to the page, outcome in the query"),
    400: openapi.Response("Malformed JSON, invalid UTF-8, a bad Idempotency-Key", openapi.ERROR),
    403: openapi.Response("Not allowed to post", openapi.ERROR),
    413: openapi.Response("Body too large", openapi.ERROR),
    415: openapi.Response("Not JSON or a urlencoded form (UTF-8)", openapi.ERROR),
    422: openapi.Response("Field errors, all at once; captcha errors; Idempotency-Key reused", openapi.ERROR),
    429: openapi.Response("Too many submissions from this client or to this article", openapi.ERROR, retry_after=True),
    503: openapi.Response(
        "Store, captcha or spam model unavailable: nothing was stored", openapi.ERROR, retry_after=True
    ),
}


@routes.post("/v1/comments")
@openapi.operation(
    summary="Submit a comment",
    description=(
        "Validates every field (all errors at once, in Vietnamese or English by Accept-Language), then "
        "checks the captcha (single use), scores the comment and stores it in the review queue atomically. "
        "Accepts JSON or a plain HTML form post. The answer never reveals the spam score."
    ),
    tags=("public",),
    access=openapi.Access.PORTAL,
    request_body=_submission_schema,
    request_types=(JSON_TYPE, FORM_TYPE),
    parameters=(
        openapi.header_param(
            "Idempotency-Key",
            {"type": "string", "pattern": comments.IDEMPOTENCY_KEY.pattern},
            "1-128 of A-Z a-z 0-9 . _ : - ; a retry with the same key stores once",
        ),
    ),
    responses=SUBMIT_RESPONSES,
)
async def post_comment(request: web.Request) -> web.Response:
    """Submit a comment."""
    app = request.app
    lang = request[appkeys.LANG]
    back_to = redirect_target(request)
    data: dict[str, Any] = {}  # kept as a draft when a no-JS post fails (service.http.drafts)
    deps = comments.Deps(
        redis=app[appkeys.REDIS],
        keys=app[appkeys.KEYS],
        scripts=app[appkeys.SCRIPTS],
        settings=app[appkeys.SETTINGS],
        scorer=app[appkeys.SCORER],
        captchas=app[appkeys.CAPTCHAS],
        metrics=app[appkeys.METRICS],
    )
    try:
        try:
            data = await read_fields(request)
            origin = comments.Origin(
                client=request[appkeys.CLIENT],
                user_agent=request.headers.get("User-Agent", ""),
                lang=lang,
                idempotency_key=comments.check_idempotency_key(request.headers.get("Idempotency-Key"), lang),
            )
        except (errors.BadRequest, errors.PayloadTooLarge, errors.UnsupportedMediaType):
            await comments.count_refused(deps, request[appkeys.CLIENT], lang)  # 429 once over the limit
            raise
        accepted = await comments.submit(deps, data, origin)
    except errors.ValidationFailed as exc:
        if back_to is None:
            raise
        fields = ",".join(dict.fromkeys(e["field"] for e in exc.errors))
        codes = ",".join(dict.fromkeys(e["code"] for e in exc.errors))
        draft = await drafts.save(app[appkeys.REDIS], app[appkeys.KEYS], data)
        return _see_other(outcome_url(back_to, duyet="error", fields=fields, codes=codes, code=exc.code, draft=draft))
    except errors.DuyetError as exc:
        if back_to is None:
            raise
        draft = await drafts.save(app[appkeys.REDIS], app[appkeys.KEYS], data)
        return _see_other(outcome_url(back_to, duyet="error", code=exc.code, draft=draft))
    except Exception as exc:  # RedisError, or a write on a connection the store just cut
        if back_to is None or not availability.is_unavailable(exc):
            raise  # the edge answers 503 + Retry-After (or 500 for a bug)
        return _see_other(outcome_url(back_to, duyet="error", code="store_unavailable"))
    if back_to is not None:
        return _see_other(outcome_url(back_to, duyet="pending"))
    return web.json_response({"id": accepted.id, "status": "pending"}, status=202)


@routes.get(r"/v1/articles/{article_id:.+}/comments")
@openapi.operation(
    summary="Approved comments of an article",
    description="Newest first, paginated with an opaque cursor; public fields only (never phone or address).",
    tags=("public",),
    access=openapi.Access.PORTAL,
    parameters=(openapi.path_param("article_id", schema=bodies.schema_of(bodies.ArticleId)),),
    query=PageQuery,
    responses={
        200: openapi.Response("A page of comments", CommentPage, etag=True),
        304: openapi.Response("Not modified (If-None-Match)"),
        400: openapi.Response("Invalid cursor", openapi.ERROR),
        422: openapi.Response("Invalid article id or limit", openapi.ERROR),
    },
)
async def list_comments(request: web.Request) -> web.Response:
    """Approved comments of an article, newest first."""
    lang = request[appkeys.LANG]
    article_id = check_article_id(request.match_info["article_id"], lang)
    page = _page_query(request, lang)
    app = request.app
    items, next_cursor = await reading.list_approved(
        app[appkeys.REDIS], app[appkeys.KEYS], article_id, page.limit, page.cursor
    )
    public = [presentation.public_comment(item) for item in items]
    body = json.dumps({"items": public, "next_cursor": next_cursor}, ensure_ascii=False, separators=(",", ":"))
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": LIST_CACHE, "Vary": "Accept-Language"}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return web.Response(text=body, content_type=JSON_TYPE, charset="utf-8", headers=headers)


def _page_query(request: web.Request, lang: str) -> PageQuery:
    """The query as a `PageQuery`, its problems in this route's localised words (422 limit, 400 cursor)."""
    try:
        return PageQuery.model_validate({k: v for k, v in request.query.items() if v != ""})
    except ValidationError as exc:
        if exc.errors()[0]["loc"][0] == "cursor":
            raise errors.BadRequest(
                messages.message("invalid_cursor", lang, field="cursor"), code="invalid_cursor"
            ) from None
        raise errors.ValidationFailed(
            [messages.field_error("limit", "out_of_range", lang, min=1, max=LIST_MAX)],
            message=messages.message("validation_failed", lang),
        ) from None


@routes.get("/v1/form-token")
@openapi.operation(
    summary="A signed timestamp for the comment form",
    description="Fetch when the form is shown and send back as `form_token`: the time a reader takes is a spam signal.",
    tags=("public",),
    responses={200: openapi.Response("The token", FormTokenBody)},
)
async def form_token(request: web.Request) -> web.Response:
    """A signed timestamp for the comment form."""
    token = comments.issue_form_token(request.app[appkeys.SETTINGS].secret_bytes)
    return web.json_response({"token": token}, headers={"Cache-Control": "no-store"})
