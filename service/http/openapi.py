"""The OpenAPI 3.1 document, built from the app's own routes and pydantic models.

Every route the router knows appears: handlers describe themselves with `@operation(...)`
(request model, parameters, responses); a handler without it is still listed, with the first
line of its docstring as summary and a `default` response. Request and response schemas are the
pydantic models validation uses (JSON Schema 2020-12, which OpenAPI 3.1 speaks natively), hoisted
into `components/schemas`, so the document and the checks cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

ATTR = "__openapi__"
REF = "#/components/schemas/{model}"
Schema = dict[str, Any]
ModelSource = type[BaseModel] | Schema | Callable[[web.Application], "type[BaseModel] | Schema"]
F = TypeVar("F", bound=Callable[..., Any])
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


# --------------------------------------------------------------------------- the error format
class FieldError(BaseModel):
    field: str = Field(description="The field (or header) at fault")
    code: str = Field(description="A stable code: required, too_short, too_long, invalid_characters, ...")
    message: str = Field(description="For people, in Vietnamese or English (Accept-Language)")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str = Field(description="A stable machine code")
    message: str = Field(description="What is wrong")


class ErrorBody(BaseModel):
    """Every error the service answers with (service.http.web)."""

    error: ErrorDetail
    errors: list[FieldError] | None = Field(None, description="Every field error at once (422 only)")


ERROR: type[BaseModel] = ErrorBody


# --------------------------------------------------------------------------- describing routes
@dataclass(frozen=True)
class Response:
    description: str
    schema: ModelSource | None = None
    retry_after: bool = False  # the answer carries Retry-After
    etag: bool = False  # the answer carries ETag and Cache-Control
    content_type: str = "application/json"


@dataclass(frozen=True)
class Operation:
    summary: str
    description: str = ""
    tags: tuple[str, ...] = ()
    request_body: ModelSource | None = None
    request_types: tuple[str, ...] = ("application/json",)
    parameters: tuple[Schema, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # request header -> description
    responses: dict[int | str, Response] = field(default_factory=dict)
    auth: bool = False  # needs a moderator's bearer token


def operation(**kwargs: Any) -> Callable[[F], F]:
    """Describe a handler for the OpenAPI document (see `Operation` for the arguments)."""

    def mark(handler: F) -> F:
        setattr(handler, ATTR, Operation(**kwargs))
        return handler

    return mark


def describe(handler: Callable[..., Any], **kwargs: Any) -> None:
    """The same as `@operation(...)`, for a handler defined elsewhere."""
    setattr(handler, ATTR, Operation(**kwargs))


def path_param(name: str, description: str = "", schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def query_param(name: str, schema: Schema, description: str = "", required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


# --------------------------------------------------------------------------- building
class _Builder:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.components: dict[str, Schema] = {}

    def schema(self, source: ModelSource) -> Schema:
        if callable(source) and not isinstance(source, type):
            source = source(self.app)
        if isinstance(source, type) and issubclass(source, BaseModel):
            return self.model(source)
        assert isinstance(source, dict)
        return dict(source)

    def model(self, model: type[BaseModel]) -> Schema:
        """A $ref to the model, its schema (and nested ones) hoisted into components."""
        js = model.model_json_schema(ref_template=REF)
        for name, sub in js.pop("$defs", {}).items():
            self.components.setdefault(name, sub)
        name = str(js.get("title") or model.__name__)
        self.components.setdefault(name, js)
        return {"$ref": REF.format(model=name)}

    def response(self, status: int | str, resp: Response) -> Schema:
        out: Schema = {"description": resp.description}
        if resp.schema is not None:
            out["content"] = {resp.content_type: {"schema": self.schema(resp.schema)}}
        headers: Schema = {}
        if resp.retry_after:
            headers["Retry-After"] = {
                "description": "Seconds to wait before retrying",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        if resp.etag:
            headers["ETag"] = {
                "description": "Validator for If-None-Match",
                "required": True,
                "schema": {"type": "string"},
            }
            headers["Cache-Control"] = {"description": "How long caches may keep it", "schema": {"type": "string"}}
        if status == 303:
            headers["Location"] = {"description": "The page to go back to", "schema": {"type": "string"}}
        if headers:
            out["headers"] = headers
        return out

    def operation(self, method: str, path: str, handler: Callable[..., Any]) -> Schema:
        doc: Operation | None = getattr(handler, ATTR, None)
        if doc is None:
            first = (handler.__doc__ or "").strip().splitlines()
            doc = Operation(summary=first[0].rstrip(".") if first else f"{method.upper()} {path}")
        op: Schema = {"summary": doc.summary, "operationId": _operation_id(method, path)}
        if doc.description:
            op["description"] = doc.description
        if doc.tags:
            op["tags"] = list(doc.tags)
        params = list(doc.parameters)
        named = {p["name"] for p in params if p.get("in") == "path"}
        params += [path_param(n) for n in _PARAM.findall(path) if n not in named]
        params += [
            {"name": h, "in": "header", "required": False, "description": d, "schema": {"type": "string"}}
            for h, d in doc.headers.items()
        ]
        if params:
            op["parameters"] = params
        if doc.request_body is not None:
            schema = self.schema(doc.request_body)
            op["requestBody"] = {"required": True, "content": {t: {"schema": schema} for t in doc.request_types}}
        if doc.responses:
            op["responses"] = {str(s): self.response(s, r) for s, r in sorted(doc.responses.items(), key=str)}
            if not any(str(s).startswith("5") or s == "default" for s in doc.responses):
                op["responses"]["503"] = self.response(503, Response("Store unavailable", ERROR, retry_after=True))
        else:
            op["responses"] = {"default": {"description": "See the description"}}
        if doc.auth:
            op["security"] = [{"bearer": []}]
        return op


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", _PARAM.sub(r"by_\1", path)).strip("_")
    return f"{method.lower()}_{words or 'root'}"


def _routes(app: web.Application) -> list[tuple[str, str, Callable[..., Any]]]:
    """(method, OpenAPI path, handler) for every route; HEAD only where no GET serves it."""
    found: list[tuple[str, str, Callable[..., Any]]] = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        path = _PARAM.sub(r"{\1}", resource.canonical)
        if isinstance(resource, web.StaticResource):
            path = path.rstrip("/") + "/{filename}"
        methods = ["get", "post", "put", "patch", "delete"] if route.method == "*" else [route.method.lower()]
        found += [(m, path, route.handler) for m in methods]
    gets = {p for m, p, _ in found if m == "get"}
    return [(m, p, h) for m, p, h in found if not (m == "head" and p in gets)]


def build(app: web.Application, title: str = "duyet") -> Schema:
    """The OpenAPI 3.1 document of this app."""
    builder = _Builder(app)
    paths: dict[str, Schema] = {}
    for method, path, handler in _routes(app):
        paths.setdefault(path, {})[method] = builder.operation(method, path, handler)
    builder.model(ErrorBody)
    try:
        version = metadata.version("duyet")
    except metadata.PackageNotFoundError:
        version = "0"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Comment moderation for news portals: captchas, validation, spam scoring, a review queue. "
                "Errors are `{error: {code, message}}`; field errors add `errors: [{field, code, message}]`."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(builder.components.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A moderator's API token"},
            },
        },
    }
