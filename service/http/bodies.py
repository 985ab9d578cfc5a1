"""Request bodies and query strings, validated with the pydantic models the OpenAPI document shows.

A handler names its model once, in `@openapi.operation(request_body=..., query=...)`, and reads
the request with `body(request, Model)` / `query(request, Model)`: the document and the checks
are the same object. Any invalid input is a 400 `invalid_parameter` naming the field.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from service import errors
from service.articles import ARTICLE_ID_MAX, ARTICLE_ID_PATTERN

M = TypeVar("M", bound=BaseModel)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

ArticleId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=ARTICLE_ID_MAX,
        pattern=ARTICLE_ID_PATTERN,
        description=f"The portal's id of the article: 1-{ARTICLE_ID_MAX} of A-Z a-z 0-9 . _ : / -",
    ),
]
# What service.review.cursors.encode_cursor writes ("<score>~<member>", the score as Python's repr
# of a float); opaque to clients.
Cursor = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^-?(?:[0-9]+(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?|inf)~.+$",
        description="`next_cursor` of the previous page",
    ),
]


def schema_of(annotated: Any) -> dict[str, Any]:
    """The JSON Schema of a field type, for a path parameter."""
    return TypeAdapter(annotated).json_schema()


class Body(BaseModel):
    """Base of the API's JSON bodies: unknown fields are ignored, as they always were."""

    model_config = ConfigDict(extra="ignore")


class Form(Body):
    """Base of the browser forms' bodies. The document lists their fields and no others (a form
    sends only its own); the handler still ignores any other field, as a browser may add one."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False})


def refuse(code: str, message: str, field: str) -> PydanticCustomError:
    """A check across fields of a model, answered with its own code (e.g. reason_required) and field."""
    return PydanticCustomError(code, message, {"code": code, "field": field})


def validate(model: type[M], data: Any) -> M:
    """`data` as a `model`, or the first problem as a 400 naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx = err.get("ctx") or {}
        where = ".".join(str(part) for part in err["loc"])
        message = f"{where}: {err['msg']}" if where else str(err["msg"])
        field = str(err["loc"][0]) if err["loc"] else str(ctx.get("field", ""))
        raise errors.BadRequest(message, code=str(ctx.get("code", "invalid_parameter")), field=field) from None


async def json_object(request: web.Request) -> dict[str, Any]:
    """A JSON object body ({} when empty); 400 for anything else."""
    raw = await request.read() if request.body_exists else b""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:  # also bytes that are not UTF-8
        raise errors.BadRequest("the body is not valid JSON", code="invalid_json") from None
    except RecursionError:  # nesting deeper than any body of ours: refused, not a 500 with a traceback
        raise errors.BadRequest("the body is nested too deeply", code="invalid_json") from None
    if not isinstance(data, dict):
        raise errors.BadRequest("the body must be a JSON object", code="invalid_json")
    return data


async def form_fields(request: web.Request) -> dict[str, str]:
    """The text fields of a form post; 400 when the body cannot be read as one."""
    try:
        data = await request.post()
    except (ValueError, LookupError, AssertionError, HttpProcessingError):  # e.g. no boundary, not UTF-8
        # The message names no part of the body: it is not echoed back (nor logged) to anyone.
        raise errors.BadRequest("the form body could not be read", code="invalid_form") from None
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def body(request: web.Request, model: type[M], *, forms: bool = False) -> M:
    """The request's JSON body (or form post, where `forms` allows it) as a `model`."""
    if forms and request.content_type in FORM_TYPES:
        return validate(model, await form_fields(request))
    return validate(model, await json_object(request))


def query(request: web.Request, model: type[M]) -> M:
    """The query string as a `model`; an empty value counts as not given."""
    return validate(model, {k: v for k, v in request.query.items() if v != ""})
