"""The OpenAPI 3.1 document, built from the app's own routes and pydantic models.

Every route the router knows appears: handlers describe themselves with `@operation(...)`
(who may call it, request and query models, parameters, responses); only aiohttp's own static
file handler is listed without one. Request, query and response schemas are the pydantic models
validation uses (service.http.bodies; JSON Schema 2020-12, which OpenAPI 3.1 speaks natively),
hoisted into `components/schemas`, so the document and the checks cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from service.http import sessions
from service.http.bodies import FORM_TYPES
from service.review import portals

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


# --------------------------------------------------------------------------- who may call
class Access(StrEnum):
    PUBLIC = "public"  # anyone
    PORTAL = "portal"  # anyone; a portal's back end adds its key to pass on the reader's address
    MODERATOR = "moderator"  # a bearer token, or the moderator UI's session cookie (+ X-CSRF-Token on changes)
    ADMIN = "admin"  # the same, with the admin role
    PAGE = "page"  # a moderator UI page: the session cookie when there is one, else the log-in form
    FORM = "form"  # a moderator UI form post: the session cookie and its CSRF token


SECURITY_SCHEMES: dict[str, Schema] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A moderator's API token; the listed role (admin) is the one the operation needs",
    },
    "session": {"type": "apiKey", "in": "cookie", "name": sessions.COOKIE, "description": "The moderator UI's session"},
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": sessions.CSRF_HEADER,
        "description": f"The session's CSRF token (a form sends it as `{sessions.CSRF_FIELD}`)",
    },
    "portalKey": {
        "type": "apiKey",
        "in": "header",
        "name": portals.KEY_HEADER,
        "description": f"A portal's API key; the reader's address then comes from {portals.CLIENT_IP_HEADER}",
    },
}


def security(access: Access, method: str) -> list[dict[str, list[str]]]:
    """OpenAPI security requirements (alternatives; `{}` means none needed)."""
    if access is Access.PUBLIC:
        return []
    if access is Access.PORTAL:
        return [{}, {"portalKey": []}]
    if access is Access.PAGE:
        return [{}, {"session": []}]
    if access is Access.FORM:
        return [{}, {"session": [], "csrf": []}]
    roles = ["admin"] if access is Access.ADMIN else []
    session = {"session": roles} if method == "get" else {"session": roles, "csrf": roles}
    return [{"bearer": roles}, session]


def _not_null(prop: Schema) -> Schema:
    """A property's schema without its null alternative (and a null default)."""
    options = [option for option in prop.get("anyOf", []) if option != {"type": "null"}]
    if "anyOf" not in prop or len(options) == len(prop["anyOf"]):
        return prop
    out = {key: value for key, value in prop.items() if key != "anyOf" and not (key == "default" and value is None)}
    if len(options) == 1:
        return {**options[0], **out}
    return {**out, "anyOf": options}


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
    summary: str = ""  # default: the first line of the handler's docstring
    description: str = ""
    tags: tuple[str, ...] = ()
    access: Access = Access.PUBLIC
    request_body: ModelSource | None = None
    request_types: tuple[str, ...] = ("application/json",)
    body_required: bool = True
    query: type[BaseModel] | None = None  # the query string's model (service.http.bodies.query)
    path: type[BaseModel] | None = None  # the path parameters' model (service.http.bodies.validate)
    parameters: tuple[Schema, ...] = ()  # by hand: a path one's schema, a query one read leniently
    responses: dict[int | str, Response] = field(default_factory=dict)


def ok(schema: ModelSource, status: int = 200, description: str = "OK") -> dict[int | str, Response]:
    """The usual success answer, as `responses=`."""
    return {status: Response(description, schema)}


def operation(**kwargs: Any) -> Callable[[F], F]:
    """Describe a handler for the OpenAPI document (see `Operation` for the arguments)."""

    def mark(handler: F) -> F:
        setattr(handler, ATTR, Operation(**kwargs))
        return handler

    return mark


def path_param(name: str, description: str = "", schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def header_param(name: str, schema: Schema, description: str = "") -> Schema:
    """An optional request header."""
    return {"name": name, "in": "header", "required": False, "description": description, "schema": schema}


def query_param(name: str, schema: Schema, description: str = "") -> Schema:
    """An optional query parameter the handler reads leniently (an unknown value falls back)."""
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


# Answers every operation of a kind may give, added unless the operation describes them itself.
ACCESS_RESPONSES: dict[Access, dict[int | str, Response]] = {
    Access.PORTAL: {401: Response("The portal key is not valid", ERROR)},
    Access.MODERATOR: {401: Response("No valid token or session (or a missing CSRF token)", ERROR)},
    Access.ADMIN: {
        401: Response("No valid token or session (or a missing CSRF token)", ERROR),
        403: Response("The moderator is not an admin", ERROR),
    },
}


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

    def form(self, schema: Schema) -> Schema:
        """A body's schema as a form sends it: a form field is a string or absent, never null, so
        the nulls a JSON body may send are left out (as a component of its own, `<Name>Form`)."""
        ref = schema.get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name not in self.components:
            return schema
        js = dict(self.components[name])
        properties = js.get("properties", {})
        js["properties"] = {key: _not_null(prop) for key, prop in properties.items()}
        if js["properties"] == properties:  # nothing nullable: the same schema serves both
            return schema
        form_name = f"{name}Form"
        self.components.setdefault(form_name, js)
        return {"$ref": REF.format(model=form_name)}

    def params(self, model: type[BaseModel], where: str) -> list[Schema]:
        """One parameter (in the path or the query) per field of `model`; enums hoisted into components."""
        js = model.model_json_schema(ref_template=REF)
        for name, sub in js.pop("$defs", {}).items():
            self.components.setdefault(name, sub)
        required = set(js.get("required", []))
        out = []
        for name, prop in js.get("properties", {}).items():
            schema = {k: v for k, v in prop.items() if k not in ("title", "description", "anyOf")}
            # `X | None = None`: a query or path has no null, only "not given".
            schema.update(next((s for s in prop.get("anyOf", []) if s.get("type") != "null"), {}))
            if schema.get("default", 0) is None:
                del schema["default"]
            description = str(prop.get("description", ""))
            out.append(
                {"name": name, "in": where, "required": name in required, "description": description, "schema": schema}
            )
        return out

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
        described: Operation | None = getattr(handler, ATTR, None)  # None: aiohttp's static file handler
        doc = described or Operation()
        first = (handler.__doc__ or "").strip().splitlines()
        summary = doc.summary or (first[0].rstrip(".") if first else f"{method.upper()} {path}")
        op: Schema = {"summary": summary, "operationId": _operation_id(method, path)}
        if doc.description:
            op["description"] = doc.description
        if doc.tags:
            op["tags"] = list(doc.tags)
        params = list(doc.parameters) + (self.params(doc.path, "path") if doc.path else [])
        named = {p["name"] for p in params if p.get("in") == "path"}
        params += [path_param(n) for n in _PARAM.findall(path) if n not in named]
        if doc.query is not None:
            params += self.params(doc.query, "query")
        if params:
            op["parameters"] = params
        if doc.request_body is not None:
            schema = self.schema(doc.request_body)
            op["requestBody"] = {
                "required": doc.body_required,
                "content": {t: {"schema": self.form(schema) if t in FORM_TYPES else schema} for t in doc.request_types},
            }
        responses = dict(doc.responses)
        if not responses:
            responses["default"] = Response("See the description")
        for status, resp in (self.implied(doc, path) if described else {}).items():
            responses.setdefault(status, resp)
        op["responses"] = {str(s): self.response(s, r) for s, r in sorted(responses.items(), key=str)}
        op["security"] = security(doc.access, method)
        return op

    def implied(self, doc: Operation, path: str) -> dict[int | str, Response]:
        """The answers that follow from what the operation takes and who may call it."""
        out: dict[int | str, Response] = dict(ACCESS_RESPONSES.get(doc.access, {}))
        if doc.request_body is not None or doc.query is not None or doc.path is not None:
            out[400] = Response("An invalid body, query or path parameter; `error.field` names it", ERROR)
        if doc.request_body is not None:
            out[413] = Response("Body too large", ERROR)
        if _PARAM.search(path):
            out[404] = Response("No such resource", ERROR)
        if not any(str(s).startswith("5") or s == "default" for s in doc.responses):
            out[503] = Response("Store unavailable", ERROR, retry_after=True)
        return out


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", _PARAM.sub(r"by_\1", path)).strip("_")
    return f"{method.lower()}_{words or 'root'}"


def path_of(resource: web.AbstractResource) -> str:
    """The OpenAPI path of a route's resource: `{name}` without aiohttp's `:regex`."""
    path = _PARAM.sub(r"{\1}", resource.canonical)
    if isinstance(resource, web.StaticResource):
        path = path.rstrip("/") + "/{filename}"
    return path


def operations(app: web.Application) -> list[tuple[str, str, Callable[..., Any]]]:
    """(method, OpenAPI path, handler) for every route; HEAD only where no GET serves it."""
    found: list[tuple[str, str, Callable[..., Any]]] = []
    for route in app.router.routes():
        if route.resource is None:
            continue
        methods = ["get", "post", "put", "patch", "delete"] if route.method == "*" else [route.method.lower()]
        found += [(m, path_of(route.resource), route.handler) for m in methods]
    gets = {p for m, p, _ in found if m == "get"}
    return [(m, p, h) for m, p, h in found if not (m == "head" and p in gets)]


def build(app: web.Application, title: str = "duyet") -> Schema:
    """The OpenAPI 3.1 document of this app."""
    builder = _Builder(app)
    paths: dict[str, Schema] = {}
    for method, path, handler in operations(app):
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
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
