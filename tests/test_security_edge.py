"""The attacker's findings at the HTTP edge (issue 20, findings 13, 16, 17): aiohttp's own parse
errors log no address or raw bytes; security headers on every answer, errors included; the no-JS
redirect never follows the Host header; /metrics can require a token."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from service.http import appkeys
from service.http.web import DOCS_CSP, SERVER
from tests.clients import MakeClient
from tests.queue_helpers import auth, token_for
from tests.submission_helpers import ARTICLE, CODE, comment, new_captcha

FAST = {"model_path": "/nonexistent/no-model.skops"}
METRICS_TOKEN = "metrics-token-0123456789abcdef"


async def _raw_request(client: TestClient[Any, Any], head: bytes) -> bytes:
    """Send bytes no HTTP client library would send, and read the whole answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(head)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


@pytest.mark.parametrize(
    "header",
    [b"X-Long: " + b"S3cr3tV4lue" * 800, b"X-Nul: abc\x00S3cr3tV4lue"],
    ids=["over-8190-bytes", "nul"],
)
async def test_unparseable_requests_log_no_address_or_raw_bytes(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, header: bytes
) -> None:
    """A header aiohttp cannot parse is a 400 that quotes none of it back; the log has no ERROR, no
    client address and none of the header's bytes (finding 13: ERROR with the address and the raw
    header, echoed in the answer)."""
    client = await make_client(**FAST)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        answer = await _raw_request(client, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"400"
    assert b"S3cr3tV4lue" not in answer and b"aiohttp" not in answer and b"nosniff" in answer
    # aiohttp.access is the test server's access log; `duyet serve` runs without one.
    logged = [(r.levelno, r.getMessage(), r.exc_text or "") for r in caplog.records if r.name == "aiohttp.server"]
    assert logged, "the refusal is still logged, as INFO"
    for level, message, trace in logged:
        assert level < logging.ERROR
        assert "127.0.0.1" not in message and "S3cr3tV4lue" not in message + trace


async def _headers_of(client: TestClient[Any, Any], method: str, path: str, **kw: Any) -> tuple[int, Any]:
    resp = await client.request(method, path, allow_redirects=False, **kw)
    await resp.read()
    return resp.status, resp.headers


async def test_security_headers_on_every_answer_errors_included(make_client: MakeClient) -> None:
    """nosniff and Referrer-Policy on 200s, router 404/405, /demo 4xx, JSON 400s, redirects;
    the Server header names no versions (finding 16)."""
    client = await make_client(**FAST)
    answers = [
        await _headers_of(client, "GET", "/healthz"),
        await _headers_of(client, "GET", "/no-such-page"),
        await _headers_of(client, "DELETE", "/healthz"),
        await _headers_of(client, "GET", "/demo?article_id=bad%20id"),
        await _headers_of(client, "GET", "/demo?article_id=" + "x" * 300),
        await _headers_of(client, "POST", "/v1/captchas", data=b"{", headers={"Content-Type": "application/json"}),
        await _headers_of(client, "POST", "/moderate/logout"),
        await _headers_of(client, "GET", "/static/no-such-file.js"),
    ]
    # The moderators' event stream sends its headers before any middleware sees it (brief C, item 5).
    app = client.app
    assert app is not None
    token = await token_for(app[appkeys.REDIS], app[appkeys.KEYS], "mod-headers")
    stream = await client.get("/v1/events", headers=auth(token))
    assert stream.headers["Content-Type"] == "text/event-stream"
    answers.append((stream.status, stream.headers))
    stream.close()
    statuses = [status for status, _ in answers]
    assert 200 in statuses and 404 in statuses and 405 in statuses and 400 in statuses and 303 in statuses
    for status, headers in answers:
        assert headers.get("X-Content-Type-Options") == "nosniff", status
        assert headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", status
        assert headers.get("Server") == SERVER, status
        assert "Strict-Transport-Security" not in headers  # off by default


async def test_docs_cannot_be_framed(make_client: MakeClient) -> None:
    """/docs has a CSP with frame-ancestors 'none' and X-Frame-Options (finding 16: framable)."""
    client = await make_client(**FAST)
    status, headers = await _headers_of(client, "GET", "/docs")
    assert status == 200
    assert headers["Content-Security-Policy"] == DOCS_CSP and "frame-ancestors 'none'" in DOCS_CSP
    assert headers["X-Frame-Options"] == "DENY"


async def test_hsts_when_configured_and_served_over_tls(make_client: MakeClient) -> None:
    """DUYET_HSTS_SECONDS sends Strict-Transport-Security when the request came over TLS (a
    trusted proxy's X-Forwarded-Proto), never over plain http."""
    client = await make_client(hsts_seconds=31536000, trusted_proxies="127.0.0.1", **FAST)
    _, tls = await _headers_of(client, "GET", "/no-such-page", headers={"X-Forwarded-Proto": "https"})
    assert tls["Strict-Transport-Security"] == "max-age=31536000"
    _, plain = await _headers_of(client, "GET", "/healthz")
    assert "Strict-Transport-Security" not in plain


# --------------------------------------------------------------------------- finding 17
NO_JS = {"Accept": "text/html,application/xhtml+xml"}


async def test_the_no_js_redirect_ignores_the_host_header(make_client: MakeClient) -> None:
    """Host: evil.example with a matching Referer is sent back by path only, never to evil.example
    (finding 17); a configured portal origin still gets its absolute URL."""
    client = await make_client(captcha_test_code=CODE, cors_origins="https://portal.example")
    form = comment(await new_captcha(client))
    evil = await client.post(
        "/v1/comments",
        data=form,
        headers={**NO_JS, "Host": "evil.example", "Referer": "http://evil.example//evil.example/page?x=1"},
        allow_redirects=False,
    )
    assert evil.status == 303
    location = evil.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert urlsplit(location).netloc == "" and urlsplit(location).path == "/evil.example/page"
    form = comment(await new_captcha(client))
    portal = await client.post(
        "/v1/comments",
        data=form,
        headers={**NO_JS, "Referer": f"https://portal.example/tin/{ARTICLE}"},
        allow_redirects=False,
    )
    assert portal.status == 303 and portal.headers["Location"].startswith("https://portal.example/tin/")


async def test_metrics_require_the_token_when_one_is_set(make_client: MakeClient) -> None:
    """With DUYET_METRICS_TOKEN, /metrics answers 401 without it or with a wrong one, 200 with it;
    without the setting it stays open (finding 17)."""
    client = await make_client(metrics_token=METRICS_TOKEN, **FAST)
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 30})
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    ok = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert ok.status == 200 and "duyet_" in await ok.text()
    assert METRICS_TOKEN not in await ok.text()
    open_client = await make_client(**FAST)
    assert (await open_client.get("/metrics")).status == 200
