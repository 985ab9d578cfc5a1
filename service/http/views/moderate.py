"""The moderator UI's pages: log-in, the review queue, a comment's details, log-out.

Pages are server-rendered (Jinja2, autoescaped) under a strict Content-Security-Policy: no
inline script or style anywhere, so a comment that smuggles markup past the escaping still
cannot run. The queue page's script talks to the moderator JSON API (`/v1/...`) with the session
cookie and the `X-CSRF-Token` header; `moderators.require` accepts either that or a Bearer token.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import Field

from service import errors
from service.http import appkeys, auth, bodies, openapi, presentation, sessions, ui
from service.review import moderators, reading
from service.review import undo as review
from service.review.states import CommentNotFound
from service.store import ratelimit

routes = web.RouteTableDef()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
LANG_COOKIE = "duyet_lang"
VERDICTS = ("ham", "suspect", "spam")
BATCH = 10  # comments claimed at a time
LOGIN_MAX_FIELD = 200

SHORTCUTS: list[tuple[tuple[str, ...], str]] = [
    (("j",), "key_next"),
    (("k",), "key_prev"),
    (("a",), "key_approve"),
    (("r",), "key_reject"),
    (("s",), "key_spam"),
    (("l",), "key_release"),
    (("x",), "key_select"),
    (("u",), "key_undo"),
    (("o", "Enter"), "key_open"),
    (("1", "…", "9", "0"), "key_reason_digit"),
    (("?",), "key_help"),
    (("Esc",), "key_escape"),
]


def _lang(request: web.Request) -> tuple[str, bool]:
    """The page language: ?lang= (remembered in a cookie), else the cookie, else Vietnamese."""
    asked = request.query.get("lang")
    if asked in ui.LANGS:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    return (cookie if cookie in ui.LANGS else "vi"), False


def _page(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    lang, remember = _lang(request)
    context = {"lang": lang, "t": ui.words(lang), "moderator": None, "csrf": "", **context}
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    if remember:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            path="/moderate",
            samesite="Strict",
            max_age=365 * 86400,
            secure=sessions.is_secure(request),
        )
    return response


def _login_page(request: web.Request, error: str = "", name: str = "", status: int = 200) -> web.Response:
    nonce = sessions.new_login_nonce()
    token = sessions.login_token(request.app[appkeys.SETTINGS].secret_bytes, nonce)
    response = _page(request, "moderate/login.html", {"error": error, "name": name, "login_token": token}, status)
    sessions.set_login_cookie(response, request, nonce)
    return response


class LoginForm(bodies.Form):
    name: str = Field("", description="The moderator's name")
    secret: str = Field("", description="The password, or an access token")
    csrf_token: str = Field("", description="The log-in page's token (sessions.CSRF_FIELD)")


class LogoutForm(bodies.Form):
    csrf_token: str = Field("", description="The session's CSRF token, or send the X-CSRF-Token header")


LANG_PARAM = openapi.query_param("lang", {"enum": list(ui.LANGS)}, "The page's language, remembered in a cookie")
HTML = "text/html"
PAGE = openapi.Response("The page", {"type": "string"}, content_type=HTML)
BACK = openapi.Response("Back to /moderate")
UI = ("moderator UI",)


@routes.get("/moderate", name="moderate")
@openapi.operation(tags=UI, access=openapi.Access.PAGE, parameters=(LANG_PARAM,), responses={200: PAGE})
async def moderate(request: web.Request) -> web.Response:
    """The queue when logged in; the log-in form otherwise."""
    session = await sessions.current(request)
    if session is None:
        return _login_page(request)
    try:
        mod = await moderators.get(request.app[appkeys.REDIS], request.app[appkeys.KEYS], session.moderator)
    except moderators.ModeratorNotFound:
        return _login_page(request)
    settings = request.app[appkeys.SETTINGS]
    lang, _ = _lang(request)
    words = ui.words(lang)
    shortcuts = [(keys, words[label].format(s=review.UNDO_WINDOW_MS // 1000)) for keys, label in SHORTCUTS]
    context = {
        "moderator": mod.name,
        "csrf": session.csrf,
        "batch": min(BATCH, settings.max_claim),
        "lease_ms": settings.lease_seconds * 1000,
        "undo_ms": review.UNDO_WINDOW_MS,
        "reasons": ui.reasons(lang),
        "shortcuts": shortcuts,
        "ui_data": {"words": ui.script_words(lang), "reasons": dict(ui.reasons(lang))},
    }
    return _page(request, "moderate/queue.html", context)


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def _require_form(request: web.Request) -> None:
    if request.content_type not in bodies.FORM_TYPES:
        raise errors.UnsupportedMediaType("send the log-in form as application/x-www-form-urlencoded")


async def _form(request: web.Request, model: type[bodies.M]) -> bodies.M:
    _require_form(request)
    return bodies.validate(model, await bodies.form_fields(request))


async def _count_attempt(
    request: web.Request, bucket: str, subject: str, words: dict[str, str], name: str
) -> web.Response | None:
    """One log-in attempt counted in `bucket`; the log-in page with 429 once over the limit."""
    app = request.app
    settings = app[appkeys.SETTINGS]
    try:
        await ratelimit.hit(
            app[appkeys.REDIS],
            app[appkeys.SCRIPTS],
            app[appkeys.KEYS],
            bucket,
            subject,
            settings.login_limit,
            settings.login_window,
        )
    except errors.RateLimited as exc:
        response = _login_page(request, words["login_limited"].format(s=exc.retry_after), name, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return None


@routes.post("/moderate/login")
@openapi.operation(
    tags=UI,
    request_body=LoginForm,
    request_types=bodies.FORM_TYPES,
    parameters=(LANG_PARAM,),
    responses={
        303: BACK,
        401: openapi.Response("The log-in page again: wrong name or secret", {"type": "string"}, content_type=HTML),
        403: openapi.Response("The log-in page again: its token expired", {"type": "string"}, content_type=HTML),
        415: openapi.Response("Not a form post", openapi.ERROR),
        429: openapi.Response("Too many attempts", {"type": "string"}, content_type=HTML, retry_after=True),
    },
)
async def login(request: web.Request) -> web.Response:
    """Name + password (or access token) -> a new session; one answer for every failure."""
    app = request.app
    redis, keys, settings = app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SETTINGS]
    lang, _ = _lang(request)
    words = ui.words(lang)
    # Attempts are counted per client address (a /64 for IPv6), before the body is even read, and,
    # for passwords, per account: guessing is throttled both ways, yet one address cannot lock every
    # moderator out. Tokens carry 256 random bits and name no account before they match, so they
    # are counted per address only, and wrong passwords sent for a name never block that
    # moderator's token.
    _require_form(request)
    limited = await _count_attempt(request, "login", request[appkeys.CLIENT], words, "")
    if limited is not None:
        return limited
    form = bodies.validate(LoginForm, await bodies.form_fields(request))
    name = form.name.strip().lower()[:LOGIN_MAX_FIELD]
    secret = form.secret[:LOGIN_MAX_FIELD]
    try:
        sessions.check_login_token(request, form.csrf_token)
    except sessions.CsrfFailed:
        return _login_page(request, words["login_expired"], name, status=403)
    if not secret.startswith(moderators.TOKEN_PREFIX):
        limited = await _count_attempt(request, "login-name", name or "-", words, name)
        if limited is not None:
            return limited
    mod: moderators.Moderator | None
    if secret.startswith(moderators.TOKEN_PREFIX):
        mod = await moderators.authenticate_token(redis, keys, secret)
        if mod is not None and name and mod.name != name:
            mod = None
    else:
        mod = await moderators.authenticate_password(redis, keys, name, secret)
    if mod is None:
        return _login_page(request, words["login_failed"], name, status=401)
    old = await sessions.current(request)
    if old is not None:  # a fresh id at every log-in (no session fixation)
        await sessions.destroy(redis, keys, old)
    value, _ = await sessions.create(redis, keys, mod.name, settings.session_seconds)
    response = _see_other("/moderate")
    sessions.set_cookie(response, request, value)
    response.del_cookie(sessions.LOGIN_COOKIE, path="/moderate")
    return response


@routes.post("/moderate/logout")
@openapi.operation(
    tags=UI,
    access=openapi.Access.FORM,
    request_body=LogoutForm,
    request_types=bodies.FORM_TYPES,
    body_required=False,
    responses={
        303: BACK,
        403: openapi.Response("The CSRF token is missing or wrong", openapi.ERROR),
        415: openapi.Response("Not a form post", openapi.ERROR),
    },
)
async def logout(request: web.Request) -> web.Response:
    """End the session (CSRF-checked, so another site cannot log a moderator out).

    Without a session there is nothing to end: a cross-site form post arrives without the
    SameSite=Strict cookie, and must not be answered with a cookie deletion either."""
    session = await sessions.current(request)
    response = _see_other("/moderate")
    if session is None:
        return response
    form = await _form(request, LogoutForm)
    sessions.check_csrf(session, form.csrf_token or request.headers.get(sessions.CSRF_HEADER))
    await sessions.destroy(request.app[appkeys.REDIS], request.app[appkeys.KEYS], session)
    sessions.clear_cookie(response, request)
    return response


def _history_row(entry: dict[str, Any], words: dict[str, str], reasons: dict[str, str]) -> dict[str, Any]:
    detail = []
    if entry.get("from") or entry.get("to"):
        before, after = (words.get(f"state_{entry.get(k)}", str(entry.get(k) or "")) for k in ("from", "to"))
        detail.append(f"{before} → {after}")
    if entry.get("reason"):
        detail.append(reasons.get(str(entry["reason"]), str(entry["reason"])))
    if entry.get("note"):
        detail.append(f"“{entry['note']}”")
    event = str(entry.get("event") or "")
    return {
        "at_iso": entry.get("at_iso"),
        "event": words.get(f"event_{event}", event),
        "by": entry.get("by"),
        "detail": " · ".join(detail),
    }


@routes.get("/moderate/comments/{id}")
@openapi.operation(
    tags=UI,
    access=openapi.Access.PAGE,
    parameters=(LANG_PARAM,),
    responses={
        200: PAGE,
        303: BACK,
        404: openapi.Response("No such comment", {"type": "string"}, content_type=HTML),
    },
)
async def detail(request: web.Request) -> web.Response:
    """One comment: text, score and reasons, its full audit history, and the sender's other comments."""
    session = await sessions.current(request)
    if session is None:
        return _see_other("/moderate")
    redis, keys = request.app[appkeys.REDIS], request.app[appkeys.KEYS]
    lang, _ = _lang(request)
    words = ui.words(lang)
    reasons = dict(ui.reasons(lang))
    base = {"moderator": session.moderator, "csrf": session.csrf}
    try:
        raw = await reading.get(redis, keys, request.match_info["id"])
    except CommentNotFound:
        return _page(request, "moderate/detail.html", {**base, "comment": None}, status=404)
    comment = presentation.moderator_comment(raw)
    history = presentation.audit_trail(await reading.history(redis, keys, request.match_info["id"], raw))
    others = presentation.sender_comments(await review.same_sender(redis, keys, raw))
    for other in others:
        other["state_label"] = words.get(f"state_{other['state']}", other["state"])
    found = comment.get("reasons")
    reason_list: list[Any] = found if isinstance(found, list) else []
    terms = [t for r in reason_list if isinstance(r, dict) for t in r.get("terms") or [] if isinstance(t, str)]
    reason_lines = [str(r.get(lang) or r.get("code")) for r in reason_list if isinstance(r, dict)]
    verdict = comment.get("verdict") if comment.get("verdict") in VERDICTS else "ham"
    context = {
        **base,
        "comment": comment,
        "percent": round(float(comment.get("spam_probability") or 0) * 100),
        "verdict": verdict,
        "verdict_label": words[f"verdict_{verdict}"],
        "state_label": words.get(f"state_{comment.get('state')}", str(comment.get("state"))),
        "terms": terms,
        "reason_lines": reason_lines,
        "history": [_history_row(h, words, reasons) for h in history],
        "others": others,
    }
    return _page(request, "moderate/detail.html", context)


@routes.post("/v1/comments/{id}/undo")
@openapi.operation(
    tags=("queue",),
    access=openapi.Access.MODERATOR,
    responses={
        200: openapi.Response("The comment, pending again", {"type": "object", "required": ["id", "state"]}),
        409: openapi.Response("Not your decision, or too late to undo", openapi.ERROR),
    },
)
async def undo(request: web.Request) -> web.Response:
    """Take back your own decision within a few seconds: the comment goes back to pending."""
    mod = await auth.require(request)
    app = request.app
    outcome = await review.undo(
        app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SCRIPTS], request.match_info["id"], mod.name
    )
    return web.json_response(presentation.outcome(outcome))


def install(app: web.Application) -> None:
    """Templates, static files and the UI's routes."""
    if aiohttp_jinja2.APP_KEY not in app:  # the portal's pages share the same environment
        ui.setup_templates(app)
    app.add_routes(routes)
    app.router.add_static("/static/", ui.STATIC_DIR, name="static", append_version=False)
