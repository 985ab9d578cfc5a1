"""Captcha routes: issue (or refresh) a captcha, and fetch its image and audio."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from service.errors import BadRequest
from service.http import appkeys

routes = web.RouteTableDef()
# Every fetch is for one short-lived captcha: never cache, never let a proxy share it.
NO_STORE = {"Cache-Control": "no-store, private"}


async def _body(request: web.Request) -> dict[str, Any]:
    """The optional fields, from JSON, a form post, or nothing at all."""
    if not request.can_read_body:
        return {}
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return body


def _optional_str(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string", code=f"invalid_{field}")
    return value


@routes.post("/v1/captchas")
async def issue(request: web.Request) -> web.Response:
    """A new captcha, optionally bound to `article_id`; `replaces` voids the one being refreshed."""
    body = await _body(request)
    captchas = request.app[appkeys.CAPTCHAS]
    issued = await captchas.issue(
        request[appkeys.CLIENT], _optional_str(body, "article_id"), _optional_str(body, "replaces")
    )
    return web.json_response(
        {
            "id": issued.id,
            "image_url": captchas.image_url(issued.id),
            "audio_url": captchas.audio_url(issued.id),
            "expires_in": issued.expires_in,
        },
        status=201,
        headers=NO_STORE,
    )


@routes.get("/v1/captchas/{id}/image")
async def image(request: web.Request) -> web.Response:
    png = await request.app[appkeys.CAPTCHAS].image(request.match_info["id"])
    return web.Response(body=png, content_type="image/png", headers=NO_STORE)


@routes.get("/v1/captchas/{id}/audio")
async def audio(request: web.Request) -> web.Response:
    lang = request[appkeys.LANG]
    wav = await request.app[appkeys.CAPTCHAS].audio(request.match_info["id"], lang)
    headers = {**NO_STORE, "Content-Language": lang, "Vary": "Accept-Language"}
    return web.Response(body=wav, content_type="audio/wav", headers=headers)
