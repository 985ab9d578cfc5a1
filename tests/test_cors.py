"""CORS: configured origins may call the public routes from a browser; nobody else, nothing else."""

from __future__ import annotations

import pytest

from tests.clients import MakeClient
from tests.submission_helpers import Client

PORTAL = "https://portal.example.vn"


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client(cors_origins=f"{PORTAL},https://other.example.vn", captcha_test_code="TEST1")


def preflight(origin: str, method: str = "POST", headers: str = "content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/comments", "POST"),
        ("/v1/captchas", "POST"),
        ("/v1/articles/a-1/comments", "GET"),
        ("/v1/form-token", "GET"),
    ],
)
async def test_preflight_allowed(client: Client, path: str, method: str) -> None:
    """A preflight from a configured origin to a public route is answered 204 with the CORS headers."""
    resp = await client.options(path, headers=preflight(PORTAL, method, "Content-Type, Idempotency-Key"))
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == PORTAL
    assert method in resp.headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in resp.headers["Access-Control-Allow-Headers"]
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in resp.headers["Vary"]


@pytest.mark.parametrize(
    ("origin", "path", "method", "headers"),
    [
        ("https://evil.example", "/v1/comments", "POST", "content-type"),
        (PORTAL, "/v1/queue", "GET", ""),
        (PORTAL, "/v1/comments", "DELETE", ""),
        (PORTAL, "/v1/comments", "POST", "authorization"),
        ("null", "/v1/comments", "POST", ""),
    ],
    ids=["foreign-origin", "private-route", "wrong-method", "wrong-header", "null-origin"],
)
async def test_preflight_refused(client: Client, origin: str, path: str, method: str, headers: str) -> None:
    """Other origins, private routes, other methods or headers: 403 JSON saying why, no CORS headers."""
    resp = await client.options(path, headers=preflight(origin, method, headers))
    assert resp.status == 403
    body = await resp.json()
    assert body["error"]["code"] == "cors_forbidden" and body["error"]["message"]
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_error_answers_carry_cors_headers(client: Client) -> None:
    """A 422 to an allowed origin carries the headers, so the portal's script can read the errors."""
    resp = await client.post("/v1/comments", json={"name": "A"}, headers={"Origin": PORTAL})
    assert resp.status == 422
    assert resp.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"]


async def test_other_origins_get_no_cors_headers(client: Client) -> None:
    """A request from a foreign origin is answered without CORS headers (the browser blocks the read)."""
    resp = await client.get("/v1/articles/a-1/comments", headers={"Origin": "https://evil.example"})
    assert resp.status == 200
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Origin" in resp.headers["Vary"]


async def test_private_routes_never_get_cors_headers(client: Client) -> None:
    """Operations and moderator routes never answer cross-origin, even to a configured origin."""
    for path in ("/readyz", "/healthz", "/openapi.json"):
        resp = await client.get(path, headers={"Origin": PORTAL})
        assert "Access-Control-Allow-Origin" not in resp.headers, path


async def test_listing_to_allowed_origin(client: Client) -> None:
    """A listing fetched from the portal carries its CORS headers and exposes ETag."""
    resp = await client.get("/v1/articles/a-1/comments", headers={"Origin": PORTAL})
    assert resp.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "ETag" in resp.headers["Access-Control-Expose-Headers"]
