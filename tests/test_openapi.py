"""The OpenAPI document: every route in it, a docs page from it, and schemathesis against the live app.

Schemathesis drives the real app (served on a TCP port from a thread, real Redis, the shipped
model, captcha test mode) with generated requests for every operation: no 5xx, and every answer
matches the document (status, content type, headers, body).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.articles import ARTICLE_ID_PATTERN
from service.http import openapi
from service.http.app import create_app
from service.review.cursors import encode_cursor
from service.settings import load, resolve
from tests.conftest import TEST_SECRET
from tests.submission_helpers import CODE, Client

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# POST routes that take no body at all (everything else that changes state takes one).
BODYLESS = {("post", "/v1/model/reload"), ("post", "/v1/moderators/{name}/rotate"), ("post", "/v1/comments/{id}/undo")}


def _route_pairs(app: web.Application) -> set[tuple[str, str]]:
    return {(m, p) for m, p, _ in openapi.operations(app)}


def _router_operations(app: web.Application) -> list[tuple[str, str, web.AbstractRoute]]:
    """(method, OpenAPI path, route) of every route of the router, but HEAD and static files."""
    return [
        (route.method.lower(), openapi.path_of(route.resource), route)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None and not isinstance(route.resource, web.StaticResource)
    ]


async def test_every_route_is_documented(client: Client) -> None:
    """Every route of the app, ours and other modules', appears with a summary and responses."""
    spec = await (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    app = client.app
    assert app is not None
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert _route_pairs(app) <= documented
    assert ("post", "/v1/comments") in documented and ("get", "/openapi.json") in documented
    for ops in spec["paths"].values():
        for op in ops.values():
            assert op["summary"] and op["responses"]


async def test_every_operation_says_who_may_call_it_and_what_it_takes(client: Client) -> None:
    """Each route of the router is described by its handler: security, every path parameter with
    a schema, a request body schema wherever it takes a body, and the error answers it may give."""
    spec = await (await client.get("/openapi.json")).json()
    app = client.app
    assert app is not None
    schemes = spec["components"]["securitySchemes"]
    operations = _router_operations(app)
    assert len(operations) >= 37
    for method, path, route in operations:
        assert getattr(route.handler, openapi.ATTR, None) is not None, f"{method} {path} is not described"
        op = spec["paths"][path][method]
        assert "security" in op, (method, path)
        for need in op["security"]:
            assert set(need) <= set(schemes), (method, path)
        in_path = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
        assert set(in_path) == set(re.findall(r"{(\w+)}", path)), (method, path)
        assert all(p["required"] and p["schema"] for p in in_path.values()), (method, path)
        if method in ("post", "put", "patch") and (method, path) not in BODYLESS:
            content = op["requestBody"]["content"]
            assert content and all(c["schema"] for c in content.values()), (method, path)
        if any("bearer" in need for need in op["security"]):
            assert "401" in op["responses"], (method, path)
        if any("admin" in roles for need in op["security"] for roles in need.values()):
            assert "403" in op["responses"], (method, path)
        for status, answer in op["responses"].items():
            if status.startswith("4") and "application/json" in answer.get("content", {}):
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


async def test_parameters_carry_their_formats(client: Client) -> None:
    """Article ids carry service.articles' pattern, cursors their format, limits their bounds."""
    spec = await (await client.get("/openapi.json")).json()

    def param(path: str, name: str, method: str = "get") -> dict[str, Any]:
        found = [p for p in spec["paths"][path][method]["parameters"] if p["name"] == name]
        assert len(found) == 1, (path, name)
        schema: dict[str, Any] = found[0]["schema"]
        return schema

    listing = "/v1/articles/{article_id}/comments"
    assert param(listing, "article_id")["pattern"] == ARTICLE_ID_PATTERN
    assert param(listing, "limit")["maximum"] == 100
    cursor = param(listing, "cursor")
    assert re.fullmatch(cursor["pattern"].strip("^$"), encode_cursor(1.7e12, "c1")) is not None
    assert param("/v1/queue", "cursor") == cursor
    assert param("/v1/queue", "limit")["minimum"] == 1
    assert param("/v1/bans/{kind}/{value}", "kind", "delete")["$ref"].endswith("/BanKind")


async def test_moderator_operations_refuse_anonymous_callers(client: Client) -> None:
    """Every operation documented as needing a moderator answers 401 without credentials."""
    spec = await (await client.get("/openapi.json")).json()
    guarded = [
        (method, path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if op["security"] and {} not in op["security"]
    ]
    assert len(guarded) >= 20
    for method, path in guarded:
        url = re.sub(r"{\w+}", "x", path)
        resp = await client.request(method.upper(), url, json={})
        assert resp.status == 401, (method, path, resp.status)


async def test_submission_schema_is_the_validation_model(make_client: Any) -> None:
    """The request schema carries the configured rules (the same model validates)."""
    client = await make_client(name_max_length=60, content_max_length=900)
    spec = await (await client.get("/openapi.json")).json()
    body = spec["paths"]["/v1/comments"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-www-form-urlencoded"}
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    model = spec["components"]["schemas"][ref]
    assert model["properties"]["name"]["maxLength"] == 60
    assert model["properties"]["content"]["maxLength"] == 900
    assert "phone" not in model["required"]
    listing = spec["paths"]["/v1/articles/{article_id}/comments"]["get"]["responses"]["200"]
    page = spec["components"]["schemas"][listing["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    item = spec["components"]["schemas"][page["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert "phone" not in item["properties"] and "client" not in item["properties"]


async def test_docs_page_lists_every_operation(client: Client) -> None:
    """/docs is a self-contained HTML page (no external scripts) listing every path of the document."""
    spec = await (await client.get("/openapi.json")).json()
    resp = await client.get("/docs")
    html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html" and resp.charset == "utf-8"
    assert "<script" not in html and "https://" not in html
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in html
    assert "Họ tên" in html  # the field notes come through in UTF-8


# --------------------------------------------------------------------------- schemathesis
@pytest.fixture(scope="module")
def live_url(redis_url: str) -> Iterator[str]:
    """The real app on a real TCP port, served from its own thread and event loop."""
    data_dir = Path(tempfile.mkdtemp(prefix="dy-"))
    app_settings = resolve(
        load(
            {},
            redis_url=redis_url,
            data_dir=data_dir,
            secret_key=TEST_SECRET,
            log_level="WARNING",
            captcha_test_code=CODE,
            submit_limit_client=0,
            submit_limit_article=0,
        )
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(create_app(app_settings))

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = runner.server
        assert server is not None
        return int(runner.addresses[0][1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def api_schema(live_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{live_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_api_matches_its_document(case: Any, live_url: str) -> None:
    """Generated requests for every operation: never a 5xx, every answer as documented."""
    with requests.Session() as session:
        case.call_and_validate(base_url=live_url, session=session, checks=CHECKS, timeout=10)
