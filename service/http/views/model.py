"""Admin routes for the spam model: which version this replica scores with, the registry, shadow counts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.http import appkeys, auth, openapi
from service.review import labels
from service.review.moderators import Role
from service.spam import registry
from service.spam.shadow import ShadowingScorer

routes = web.RouteTableDef()


async def _state(app: web.Application) -> dict[str, Any]:
    redis, keys = app[appkeys.REDIS], app[appkeys.KEYS]
    scorer = app[appkeys.SCORER]
    shadow = scorer.shadow_report() if isinstance(scorer, ShadowingScorer) else {"version": None}
    return {
        "version": scorer.version,  # what this replica scores with right now
        "ready": scorer.ready,
        "registry": {
            "current": await registry.current(redis, keys),  # None: the shipped file
            "shadow": await registry.shadow(redis, keys),
            "history": await registry.history(redis, keys),
            "versions": [
                {"version": c.get("version"), "created": c.get("created")} for c in await registry.cards(redis, keys)
            ],
        },
        "shadow": shadow,
        "labels": await labels.count(redis, keys),
    }


MODEL_STATE = {"type": "object", "required": ["version", "ready", "registry", "shadow", "labels"]}


@routes.get("/v1/model")
@openapi.operation(
    summary="The spam model in use, the registry, shadow agreement",
    tags=("model",),
    access=openapi.Access.ADMIN,
    responses={200: openapi.Response("The model's state", MODEL_STATE)},
)
async def get_model(request: web.Request) -> web.Response:
    """The model in use, the registry's current/shadow/previous versions, shadow agreement counts."""
    await auth.require(request, Role.ADMIN)
    return web.json_response(await _state(request.app))


@routes.post("/v1/model/reload")
@openapi.operation(
    summary="Re-read the model registry now",
    tags=("model",),
    access=openapi.Access.ADMIN,
    responses={200: openapi.Response("The model's state, and whether it changed", MODEL_STATE)},
)
async def reload_model(request: web.Request) -> web.Response:
    """Re-read the registry now (normally a promotion's pub/sub message does this)."""
    await auth.require(request, Role.ADMIN)
    changed = await request.app[appkeys.MODEL_FOLLOWER].sync()
    return web.json_response({"changed": changed, **await _state(request.app)})
