"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import os

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from service import errors
from service.http import appkeys, openapi

routes = web.RouteTableDef()
# /readyz must answer within 1 s even when Redis hangs.
REDIS_CHECK_TIMEOUT = 0.6


@routes.get("/healthz")
@openapi.operation(
    summary="Liveness",
    tags=("ops",),
    responses={200: openapi.Response("Alive", {"type": "object", "required": ["status", "pid"]})},
)
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop turns (with its pid, to tell workers apart, and
    which event loop it is: "uvloop" or "asyncio", settings.event_loop)."""
    loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    return web.json_response({"status": "ok", "pid": os.getpid(), "event_loop": loop})


@routes.get("/readyz")
@openapi.operation(
    summary="Readiness: Redis answers and the spam model is loaded",
    tags=("ops",),
    responses={
        200: openapi.Response("Ready", {"type": "object", "required": ["status", "checks"]}),
        503: openapi.Response("Not ready; `reasons` says why", {"type": "object"}, retry_after=True),
    },
)
async def readyz(request: web.Request) -> web.Response:
    """Ready to take traffic: Redis answers and the spam model is loaded."""
    app = request.app
    problems: list[str] = []
    checks: dict[str, object] = {}
    try:
        await asyncio.wait_for(app[appkeys.REDIS].ping(), REDIS_CHECK_TIMEOUT)
        checks["redis"] = "ok"
    except Exception as exc:  # any failure, including a hang, means not ready
        app[appkeys.METRICS].redis_errors.labels(type(exc).__name__).inc()
        checks["redis"] = "unreachable"
        problems.append(f"redis: {type(exc).__name__}")
    scorer = app[appkeys.SCORER]
    if scorer.ready:
        checks["model"] = scorer.version
    else:
        checks["model"] = "not loaded"
        model_errors: list[str] = app[appkeys.MODEL_ERROR]
        problems.extend(model_errors or ["model: not loaded"])
    if app[appkeys.SETTINGS].captcha_test_code:
        checks["captcha_test_mode"] = True
        checks["warning"] = "captcha test mode is on: every captcha code is fixed"
    body: dict[str, object] = {"status": "ok" if not problems else "unavailable", "checks": checks}
    if problems:
        body["reasons"] = problems
        return web.json_response(body, status=503, headers={"Retry-After": "2"})
    return web.json_response(body)


@routes.get("/metrics")
@openapi.operation(
    summary="Prometheus metrics",
    tags=("ops",),
    responses={
        200: openapi.Response("The text exposition format", {"type": "string"}, content_type="text/plain"),
        401: openapi.Response("DUYET_METRICS_TOKEN is set and the bearer token is missing or wrong", openapi.ERROR),
    },
)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics; behind DUYET_METRICS_TOKEN (a bearer token) when it is set."""
    token = request.app[appkeys.SETTINGS].metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise errors.Unauthorized("a bearer token is required for /metrics")
    data = request.app[appkeys.METRICS].render()
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})
