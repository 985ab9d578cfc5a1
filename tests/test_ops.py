"""Health, readiness, metrics and JSON errors, through the real app."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from service.http.app import create_app
from service.settings import Settings
from service.store import embedded

Client = TestClient[Any, Any]


async def test_healthz(client: Client) -> None:
    """Liveness answers without touching Redis."""
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"
    assert resp.headers["X-Request-Id"]


async def test_readyz_ok_with_redis_and_model(client: Client) -> None:
    """Ready when Redis answers and the shipped model is loaded."""
    resp = await client.get("/readyz")
    body = await resp.json()
    assert body["checks"]["redis"] == "ok"
    assert resp.status == 200, body
    assert body["checks"]["model"]


async def test_readyz_flips_with_the_redis_server(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings]
) -> None:
    """Stopping the server makes /readyz 503 within 1 s; restarting it brings 200 back, no app restart."""
    data_dir = Path(tempfile.mkdtemp(prefix="dy-"))
    server = embedded.start(data_dir)
    try:
        client = await aiohttp_client(create_app(make_settings(redis_url=embedded.url_for(data_dir))))
        assert (await (await client.get("/readyz")).json())["checks"]["redis"] == "ok"
        server.stop()
        started = time.monotonic()
        resp = await client.get("/readyz")
        assert time.monotonic() - started < 1.0
        body = await resp.json()
        assert resp.status == 503 and body["checks"]["redis"] == "unreachable"
        assert resp.headers["Retry-After"]
        server = embedded.start(data_dir)
        for _ in range(20):
            body = await (await client.get("/readyz")).json()
            if body["checks"]["redis"] == "ok":
                break
            await asyncio.sleep(0.1)
        assert body["checks"]["redis"] == "ok"
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_readyz_answers_fast_when_redis_hangs(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings]
) -> None:
    """A server that accepts connections but never replies still gets a 503 within 1 s."""

    async def never_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    hung = await asyncio.start_server(never_reply, "127.0.0.1", 0)
    port = hung.sockets[0].getsockname()[1]
    try:
        client = await aiohttp_client(create_app(make_settings(redis_url=f"redis://127.0.0.1:{port}/0")))
        started = time.monotonic()
        resp = await client.get("/readyz")
        assert time.monotonic() - started < 1.0
        assert resp.status == 503
    finally:
        hung.close()


async def test_bad_model_keeps_service_not_ready(make_client: Callable[..., Awaitable[Client]], tmp_path: Path) -> None:
    """A missing model artifact leaves the service up but not ready, with the reason."""
    client = await make_client(model_path=tmp_path / "missing.skops")
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503
    assert any("model" in reason for reason in body["reasons"])
    assert (await client.get("/healthz")).status == 200


async def test_json_404_and_405(client: Client) -> None:
    """Router errors are JSON with a stable code, never HTML."""
    resp = await client.get("/no/such/page")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.delete("/healthz")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


async def test_json_500_hides_the_traceback(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings]
) -> None:
    """An unhandled exception becomes a JSON 500 without internals."""
    app = create_app(make_settings())

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    resp = await client.get("/boom")
    assert resp.status == 500
    text = await resp.text()
    assert "secret internals" not in text and "Traceback" not in text
    assert (await resp.json())["error"]["code"] == "internal_error"


async def test_metrics_count_requests_by_route(client: Client) -> None:
    """/metrics exposes request counts and latency by route template and status."""
    await client.get("/healthz")
    await client.get("/nope")
    text = await (await client.get("/metrics")).text()
    assert 'duyet_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "duyet_http_request_seconds_bucket" in text


async def test_request_id_is_echoed(client: Client) -> None:
    """A caller's request id comes back, so logs on both sides can be joined."""
    resp = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_ops_routes_need_no_auth(client: Client, path: str) -> None:
    """Probes are public (orchestrators call them without credentials)."""
    resp = await client.get(path)
    assert resp.status in (200, 503)
