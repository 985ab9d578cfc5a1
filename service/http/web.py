"""The HTTP edge: one middleware that gives every request an id, a client address, metrics and
security headers, and turns domain errors (and aiohttp's own) into JSON `{error: {code, message}}`
responses.

This is the only place that knows which domain error means which HTTP status.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from redis.exceptions import RedisError

from service import errors, logs
from service.http import appkeys, sessions
from service.http.clients import client_address, language
from service.store import availability

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # comments are at most a few KB; anything bigger is refused early (413)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Before the handler: an answer ends the request there (a CORS preflight); None goes on.
Step = Callable[[web.Request], Awaitable[web.StreamResponse | None]]
# After it, on an answer not yet sent (CORS headers).
Finish = Callable[[web.Request, web.StreamResponse], None]

STATUS: dict[type[errors.DuyetError], int] = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.ValidationFailed: 422,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}
# aiohttp's HTTP exceptions (router 404/405, body too large) get a stable code too.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ServerLogFilter(logging.Filter):
    """aiohttp logs a request it cannot even parse (a header over 8,190 bytes, a NUL in a header)
    as "Error handling request from <client address>" at ERROR with a traceback quoting the raw
    header. That is a client's mistake, not ours, and addresses are never logged: it becomes one
    INFO line naming the kind of error. Other errors of aiohttp's keep their traceback, without
    the address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != "Error handling request from %s":
            return True
        record.args = ()
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = f"refused a request that could not be parsed: {type(exc).__name__}"
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        else:
            record.msg = "error handling a request"
        return True


SERVER_LOG_FILTER = ServerLogFilter()
# Installed once, by importing the HTTP edge (aiohttp's server logger is a process-wide object).
logging.getLogger("aiohttp.server").addFilter(SERVER_LOG_FILTER)
_aiohttp_handle_error = RequestHandler.handle_error


def _handle_error(
    self: RequestHandler,
    request: BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    """aiohttp answers a request it could not parse before any app or middleware sees it, with
    the parser's message, which quotes the raw header back (and names aiohttp's version in
    `Server`). aiohttp offers no hook for that answer (aio-libs/aiohttp#3287, open since 2018), so
    its handler is wrapped here: the same 400, with a fixed message and our headers
    (tests/test_security_edge.py fails if an aiohttp upgrade changes the method)."""
    if isinstance(exc, HttpProcessingError):
        message = f"{status} Bad Request: the request could not be parsed"
    response = _aiohttp_handle_error(self, request, status, exc, message)
    response.headers["Server"] = SERVER
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


RequestHandler.handle_error = _handle_error  # type: ignore[method-assign]


def status_of(exc: errors.DuyetError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def domain_error_response(exc: errors.DuyetError) -> web.Response:
    status = status_of(exc)
    body = error_body(exc.code, exc.message, **exc.details)
    headers = {}
    if isinstance(exc, errors.ValidationFailed):
        body["errors"] = exc.errors
    if isinstance(exc, errors.RateLimited | errors.Unavailable):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return web.json_response(body, status=status, headers=headers)


def route_name(request: web.Request) -> str:
    """The route template (e.g. /v1/captchas/{id}/image), so metrics don't explode per id."""
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    if resource is None or info.http_exception is not None:
        return "unmatched"
    return resource.canonical


def _context(request: web.Request) -> str:
    """Request id, client address and language, set once for everything downstream; the id."""
    settings = request.app[appkeys.SETTINGS]
    rid = request.headers.get("X-Request-Id", "")
    if not (0 < len(rid) <= 64 and rid.replace("-", "").isalnum()):
        rid = f"{random.getrandbits(64):016x}"  # a label, not a secret: no urandom syscall per request
    request[appkeys.REQUEST_ID] = rid
    request[appkeys.CLIENT] = client_address(
        request.remote, request.headers.get("X-Forwarded-For"), settings.trusted_networks
    )
    request[appkeys.LANG] = language(request.headers.get("Accept-Language"))
    return rid


async def _answer(request: web.Request, handler: Handler, steps: Sequence[Step]) -> web.StreamResponse:
    """The steps, then the handler, with every error turned into a JSON answer (or re-raised:
    redirects, and HTTP exceptions that already carry JSON)."""
    try:
        for step in steps:
            early = await step(request)
            if early is not None:
                return early
        return await handler(request)
    except errors.DuyetError as exc:
        return domain_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        code = HTTP_CODES.get(exc.status, f"http_{exc.status}")
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "Location")}
        return web.json_response(error_body(code, exc.reason), status=exc.status, headers=headers)
    except RedisError as exc:
        request.app[appkeys.METRICS].redis_errors.labels(type(exc).__name__).inc()
        if not availability.is_unavailable(exc):
            log.exception("store error during %s %s", request.method, request.path)
            return web.json_response(error_body("internal_error", "internal error"), status=500)
        # Down, loading, read-only, full or busy: "try again shortly", with no traceback per request.
        log.warning("store unavailable during %s %s: %s", request.method, request.path, type(exc).__name__)
        return domain_error_response(
            errors.Unavailable("the store is unavailable, try again shortly", code="store_unavailable")
        )
    except Exception as exc:
        if availability.is_unavailable(exc):  # a connection the store cut mid-write (a failover)
            log.warning("store unavailable during %s %s: %s", request.method, request.path, type(exc).__name__)
            return domain_error_response(
                errors.Unavailable("the store is unavailable, try again shortly", code="store_unavailable")
            )
        log.exception("unhandled error during %s %s", request.method, request.path)
        return web.json_response(error_body("internal_error", "internal error"), status=500)


def _observe(request: web.Request, status: int, started: float) -> None:
    metrics = request.app[appkeys.METRICS]
    route = route_name(request)
    elapsed = time.perf_counter() - started
    metrics.requests.labels(request.method, route, str(status)).inc()
    metrics.latency.labels(request.method, route).observe(elapsed)
    if route != "/metrics" and log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s %s %s",
            request.method,
            route,
            status,
            extra={"method": request.method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 2)},
        )


# The API reference is plain HTML with inline CSS: no script, nothing to load, never framed.
DOCS_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
SERVER = "duyet"  # not aiohttp's "Python/3.x aiohttp/3.y": versions tell an attacker which bugs to try


def secure_headers(request: web.Request, headers: MutableMapping[str, str]) -> None:
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers["Server"] = SERVER
    if request.path == "/docs" or request.path.startswith("/docs/"):
        headers.setdefault("Content-Security-Policy", DOCS_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    hsts = request.app[appkeys.SETTINGS].hsts_seconds
    if hsts and sessions.is_secure(request):  # over plain http the header means nothing (RFC 6797 8.1)
        headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")


def edge_middleware(steps: Sequence[Step] = (), finishes: Sequence[Finish] = ()) -> Middleware:
    """The service's one middleware (one layer per request, not one per concern). In order:
    the request's context (id, client, language); the `steps` (the CORS preflight, the portal's
    key: each may answer early) and the handler, with domain, HTTP and store errors turned into
    JSON answers; the `finishes` (CORS headers) on every answer not yet sent; the request id and
    security headers on every answer, errors and redirects included; metrics and the debug log."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = _context(request)
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500
        try:
            try:
                response = await _answer(request, handler, steps)
            except web.HTTPException as exc:  # a redirect, or an error left as aiohttp made it
                status = exc.status
                secure_headers(request, exc.headers)
                raise
            status = response.status
            if not response.prepared:  # a stream (the moderators' /v1/events) has sent its headers already
                for finish in finishes:
                    finish(request, response)
                response.headers["X-Request-Id"] = rid
                secure_headers(request, response.headers)
            return response
        finally:
            _observe(request, status, started)
            logs.request_id.reset(token)

    return edge
