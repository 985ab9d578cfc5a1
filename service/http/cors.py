"""CORS for the public routes the portal's pages call from the reader's browser.

Only configured origins (settings.cors_origins) get CORS headers, and only on the public routes
(captchas, submitting a comment, listing an article's comments, form tokens); moderator routes
never answer cross-origin. A preflight from anywhere else gets a 403 JSON error, so a
misconfigured portal sees why instead of a silent browser failure. No credentials: the public
routes need no cookies.
"""

from __future__ import annotations

from aiohttp import web

from service.http import appkeys
from service.http.web import error_body

ALLOW_HEADERS = ("Content-Type", "Accept", "Accept-Language", "Idempotency-Key", "X-Request-Id", "If-None-Match")
EXPOSE_HEADERS = "Retry-After, X-Request-Id, ETag, Location"
MAX_AGE = "600"


def public_methods(path: str) -> tuple[str, ...]:
    """The methods a browser on another origin may use on `path` (none for private routes)."""
    if path == "/v1/captchas" or path.startswith("/v1/captchas/"):
        return ("GET", "POST")
    if path == "/v1/comments":
        return ("POST",)
    if path.startswith("/v1/articles/") and path.endswith("/comments"):
        return ("GET",)
    if path == "/v1/form-token":
        return ("GET",)
    return ()


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin in request.app[appkeys.SETTINGS].cors_origins:
        return origin
    return None


def _preflight(request: web.Request) -> web.Response:
    origin = _allowed_origin(request)
    methods = public_methods(request.path)
    wanted = request.headers.get("Access-Control-Request-Method", "").upper()
    asked = [h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()]
    allowed_lower = {h.lower() for h in ALLOW_HEADERS}
    problem = None
    if origin is None:
        problem = "this origin may not call the API from a browser (see DUYET_CORS_ORIGINS)"
    elif wanted not in methods:
        problem = f"{wanted or 'this method'} {request.path} is not open to other origins"
    elif any(h.lower() not in allowed_lower for h in asked):
        problem = "request headers not allowed: " + ", ".join(h for h in asked if h.lower() not in allowed_lower)
    if problem is not None:
        return web.json_response(error_body("cors_forbidden", problem), status=403, headers={"Vary": "Origin"})
    assert origin is not None
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
            "Access-Control-Max-Age": MAX_AGE,
            "Vary": "Origin",
        },
    )


async def preflight(request: web.Request) -> web.StreamResponse | None:
    """The edge's step: a CORS preflight is answered here; anything else goes on."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return _preflight(request)
    return None


def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The edge's finish: CORS headers on a public route's answer, errors included."""
    methods = public_methods(request.path)
    if not methods:
        return
    # Caches must keep one copy per origin, even for answers without CORS headers.
    vary = response.headers.get("Vary")
    response.headers["Vary"] = f"{vary}, Origin" if vary and "Origin" not in vary else (vary or "Origin")
    origin = _allowed_origin(request)
    if origin is not None and request.method in methods:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
