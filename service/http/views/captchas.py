"""Captcha routes: issue (or refresh) a captcha, and fetch its image and audio."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from service.captcha.seals import ID_PATTERN
from service.http import appkeys, bodies, openapi

routes = web.RouteTableDef()
# Every fetch is for one short-lived captcha: never cache, never let a proxy share it.
NO_STORE = {"Cache-Control": "no-store, private"}


class CaptchaRequest(bodies.Body):
    """Optional: the body may be empty, JSON or a form post."""

    article_id: bodies.ArticleId | None = Field(None, description="Bind the captcha to this article")
    replaces: str | None = Field(
        None,
        max_length=512,
        description="The captcha being refreshed: it is voided (if it was issued to this client)",
        json_schema_extra={"pattern": ID_PATTERN},  # checked by service.captcha, which answers invalid_captcha_id
    )

    @field_validator("article_id", "replaces", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value


class CaptchaIssued(BaseModel):
    id: str = Field(description="Send back as `captcha_id` with the comment")
    image_url: str = Field(description="The PNG")
    audio_url: str = Field(description="The code read aloud (WAV), in the Accept-Language")
    expires_in: int = Field(description="Seconds the captcha stays valid")


ID_PARAM = openapi.path_param("id", "The captcha's id", {"type": "string", "maxLength": 512})
MEDIA_RESPONSES: dict[int | str, openapi.Response] = {
    404: openapi.Response("Unknown, expired or already used", openapi.ERROR),
}


@routes.post("/v1/captchas")
@openapi.operation(
    summary="Issue a captcha",
    description="A new captcha, optionally bound to `article_id`; `replaces` voids the one being refreshed.",
    tags=("public",),
    access=openapi.Access.PORTAL,
    request_body=CaptchaRequest,
    request_types=("application/json", "application/x-www-form-urlencoded"),
    body_required=False,
    responses={
        201: openapi.Response("The captcha", CaptchaIssued),
        429: openapi.Response("Too many captchas for this client", openapi.ERROR, retry_after=True),
    },
)
async def issue(request: web.Request) -> web.Response:
    """A new captcha, optionally bound to `article_id`; `replaces` voids the one being refreshed."""
    captchas = request.app[appkeys.CAPTCHAS]
    await captchas.count_issue(request[appkeys.CLIENT])  # a flood is refused before its bodies are parsed
    body = await bodies.body(request, CaptchaRequest, forms=True)
    issued = await captchas.issue(request[appkeys.CLIENT], body.article_id, body.replaces, counted=True)
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
@openapi.operation(
    summary="A captcha's image",
    tags=("public",),
    parameters=(ID_PARAM,),
    responses={200: openapi.Response("The PNG", {"type": "string"}, content_type="image/png"), **MEDIA_RESPONSES},
)
async def image(request: web.Request) -> web.Response:
    png = await request.app[appkeys.CAPTCHAS].image(request.match_info["id"])
    return web.Response(body=png, content_type="image/png", headers=NO_STORE)


@routes.get("/v1/captchas/{id}/audio")
@openapi.operation(
    summary="A captcha's code read aloud",
    tags=("public",),
    parameters=(ID_PARAM,),
    responses={200: openapi.Response("The WAV", {"type": "string"}, content_type="audio/wav"), **MEDIA_RESPONSES},
)
async def audio(request: web.Request) -> web.Response:
    lang = request[appkeys.LANG]
    wav = await request.app[appkeys.CAPTCHAS].audio(request.match_info["id"], lang)
    headers = {**NO_STORE, "Content-Language": lang, "Vary": "Accept-Language"}
    return web.Response(body=wav, content_type="audio/wav", headers=headers)
