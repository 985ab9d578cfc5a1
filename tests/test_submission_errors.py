"""POST /v1/comments when something is wrong: limits, bad bodies, a stopped store, a missing model,
and the redirect a browser without JavaScript gets."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from redis.asyncio import Redis

from service.http.app import create_app
from service.http.web import MAX_BODY
from service.settings import Settings
from service.store import durability, embedded
from tests import topology
from tests.clients import MakeClient
from tests.submission_helpers import CODE, Client, comment, comment_count, new_captcha

PORTAL = "https://portal.example.vn"
PAGE = f"{PORTAL}/tin-tuc/bai-viet-123.html?ref=home#top"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client(captcha_test_code=CODE, cors_origins=PORTAL)


# --------------------------------------------------------------------------- limits
@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_per_client_rate_limit(make_client: MakeClient, lang: str) -> None:
    """Beyond the per-client limit: 429 with Retry-After and a message in the reader's language."""
    client = await make_client(captcha_test_code=CODE, submit_limit_client=2, submit_window_client=60)
    for i in range(2):
        data = comment(await new_captcha(client), content=f"Bình luận thứ {i} ở đây.")
        assert (await client.post("/v1/comments", json=data)).status == 202
    captcha_id = await new_captcha(client)
    resp = await client.post("/v1/comments", json=comment(captcha_id), headers={"Accept-Language": lang})
    body = await resp.json()
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert body["error"]["code"] == "rate_limited"
    assert ("Too many" in body["error"]["message"]) == (lang == "en")
    assert await comment_count(client) == 2


async def test_refused_bodies_count_against_the_client_limit(make_client: MakeClient) -> None:
    """Malformed JSON, a wrong content type, invalid fields, an Idempotency-Key reused for another
    comment: each is refused and counted, so a flood of bad requests meets 429 like good ones
    (issue 20, finding 8: bodies were parsed before any limit, and a refused body was never
    counted). Over the limit, good requests wait too."""
    client = await make_client(captcha_test_code=CODE, submit_limit_client=5, submit_window_client=60)
    json_type, key = {"Content-Type": "application/json"}, {"Idempotency-Key": "k-1"}
    assert (await client.post("/v1/comments", json=comment(await new_captcha(client)), headers=key)).status == 202
    other = comment(await new_captcha(client), content="Một bình luận khác hẳn.")
    reused = await client.post("/v1/comments", json=other, headers=key)
    assert reused.status == 422
    assert (await reused.json())["errors"][0]["code"] == "idempotency_key_reused"
    assert (await client.post("/v1/comments", data=b"{not json", headers=json_type)).status == 400
    assert (await client.post("/v1/comments", data=b"x", headers={"Content-Type": "text/plain"})).status == 415
    assert (await client.post("/v1/comments", json=comment(await new_captcha(client), name=""))).status == 422
    resp = await client.post("/v1/comments", data=b"{not json", headers=json_type)
    assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    assert (await resp.json())["error"]["code"] == "rate_limited"
    assert (await client.post("/v1/comments", json=comment(await new_captcha(client)))).status == 429
    assert await comment_count(client) == 1


async def test_per_article_rate_limit(make_client: MakeClient) -> None:
    """Beyond the per-article limit: 429 article_rate_limited, other articles still open."""
    client = await make_client(captcha_test_code=CODE, submit_limit_article=1)
    assert (await client.post("/v1/comments", json=comment(await new_captcha(client)))).status == 202
    resp = await client.post("/v1/comments", json=comment(await new_captcha(client), content="Thêm một ý nữa."))
    assert resp.status == 429 and resp.headers["Retry-After"]
    assert (await resp.json())["error"]["code"] == "article_rate_limited"
    other = comment(await new_captcha(client, "other-article"), article_id="other-article")
    assert (await client.post("/v1/comments", json=other)).status == 202


async def test_body_too_large(client: Client) -> None:
    """A body over the limit is a 413 JSON error saying the limit."""
    data = comment("x", content="a" * (MAX_BODY + 10))
    resp = await client.post("/v1/comments", json=data, headers={"Accept-Language": "en"})
    body = await resp.json()
    assert resp.status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert str(MAX_BODY) in body["error"]["message"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data; boundary=x", "application/xml", "application/json; charset=latin-1"],
)
async def test_unsupported_content_type(client: Client, content_type: str) -> None:
    """Anything but JSON or a urlencoded form (UTF-8) is a 415 naming what is accepted."""
    resp = await client.post("/v1/comments", data=b"name=x", headers={"Content-Type": content_type})
    body = await resp.json()
    assert resp.status == 415
    assert body["error"]["code"] == "unsupported_media_type"
    assert "application/json" in body["error"]["message"]


async def test_missing_content_type(client: Client) -> None:
    """No Content-Type at all is a 415 too."""
    resp = await client.post("/v1/comments", data=b"{}", headers={"Content-Type": ""})
    assert resp.status == 415


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b'{"name": "An",', "application/json", "malformed_json"),
        (b"", "application/json", "malformed_json"),
        (b"[1, 2]", "application/json", "json_not_object"),
        (b'{"name": "\xff\xfe"}', "application/json", "invalid_utf8"),
        (b'{"name": "\\ud800"}', "application/json", "invalid_utf8"),
        (b"[" * 100_00 + b"]" * 100_00, "application/json", "malformed_json"),
        (b"name=%C3%28&title=x", "application/x-www-form-urlencoded", "invalid_utf8"),
        (b"name=\xc3\x28", "application/x-www-form-urlencoded", "invalid_utf8"),
    ],
)
async def test_malformed_bodies(client: Client, body: bytes, content_type: str, code: str) -> None:
    """Malformed JSON and invalid UTF-8 are 400s with a code and a message saying what is wrong."""
    resp = await client.post("/v1/comments", data=body, headers={"Content-Type": content_type, "Accept-Language": "en"})
    answer = await resp.json()
    assert resp.status == 400, answer
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]


async def test_malformed_json_message_says_where(client: Client) -> None:
    """The malformed-JSON message gives the line and column, in Vietnamese by default."""
    resp = await client.post("/v1/comments", data=b'{\n "a": }', headers={"Content-Type": "application/json"})
    message = (await resp.json())["error"]["message"]
    assert message.startswith("JSON không hợp lệ") and "line 2" in message


# --------------------------------------------------------------------------- unavailable
async def test_model_not_ready_is_503_and_keeps_the_captcha(
    make_client: MakeClient, tmp_path: Path, redis: Redis
) -> None:
    """Without a loaded model nothing is stored unscored: 503 + Retry-After, captcha not spent."""
    client = await make_client(captcha_test_code=CODE, model_path=tmp_path / "missing.skops")
    captcha_id = await new_captcha(client)
    resp = await client.post("/v1/comments", json=comment(captcha_id))
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert (await resp.json())["error"]["code"] == "model_not_ready"
    assert await comment_count(client) == 0


async def test_store_stopped_answers_503_within_a_second(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings]
) -> None:
    """With the Redis server stopped: 503 + Retry-After within 1 s, and nothing half-written afterwards."""
    if os.environ.get("REDIS_URL"):
        pytest.skip("stops its own embedded server; not meaningful against an external REDIS_URL")
    data_dir = Path(tempfile.mkdtemp(prefix="dy-"))
    server = embedded.start(data_dir)
    try:
        settings = make_settings(redis_url=embedded.url_for(data_dir), captcha_test_code=CODE)
        client = await aiohttp_client(create_app(settings))
        ok = await client.post("/v1/comments", json=comment(await new_captcha(client)))
        assert ok.status == 202, await ok.text()
        captcha_id = await new_captcha(client)
        server.stop()
        for data in (comment(captcha_id, content="Sau khi máy chủ dừng."), comment(captcha_id, name="B")):
            started = time.monotonic()
            resp = await client.post("/v1/comments", json=data, headers={"Idempotency-Key": "k1"})
            elapsed = time.monotonic() - started
            assert elapsed < 1.0, elapsed
            if data["name"] == "B":
                assert resp.status == 422  # field errors need no store
                continue
            assert resp.status == 503, await resp.text()
            assert int(resp.headers["Retry-After"]) >= 1
            assert (await resp.json())["error"]["code"] == "store_unavailable"
        server = embedded.start(data_dir)
        assert await comment_count(client) == 1
        async with Redis.from_url(embedded.url_for(data_dir), decode_responses=True) as r:
            assert [k async for k in r.scan_iter("*idem*")] == []
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.skipif(topology.CLUSTER_MODE, reason="maxmemory is one node's setting: proven on a single server")
async def test_store_full_answers_503_writes_nothing_and_keeps_the_captcha(
    make_client: MakeClient, redis: Redis
) -> None:
    """At maxmemory the one submission script is refused whole: 503 store_unavailable + Retry-After,
    no comment, no repeat marker, no idempotency record, and the same captcha works once memory is back
    (issue 20 item 2: it used to answer 500 with the captcha spent). Rate limits off: their counters
    would be refused first, and the point is the submission's own write."""
    client = await make_client(captcha_test_code=CODE, submit_limit_client=0, submit_limit_article=0)
    captcha_id = await new_captcha(client)
    before = (await redis.config_get("maxmemory"))["maxmemory"]
    await redis.config_set("maxmemory", 1)
    try:
        resp = await client.post("/v1/comments", json=comment(captcha_id), headers={"Idempotency-Key": "full-1"})
        assert resp.status == 503, await resp.text()
        assert int(resp.headers["Retry-After"]) >= 1
        assert (await resp.json())["error"]["code"] == "store_unavailable"
    finally:
        await redis.config_set("maxmemory", before)
    assert await comment_count(client) == 0
    assert [k async for k in redis.scan_iter("*:repeat:*")] == [] and [k async for k in redis.scan_iter("*idem*")] == []
    again = await client.post("/v1/comments", json=comment(captcha_id), headers={"Idempotency-Key": "full-1"})
    assert again.status == 202, await again.text()
    assert await comment_count(client) == 1


async def test_one_captcha_two_concurrent_submissions_store_one(client: Client) -> None:
    """Two submissions racing with one captcha both pass the check; the script lets one consume it,
    the other gets the reader's captcha error (422), never a second comment."""
    captcha_id = await new_captcha(client)
    first, second = await asyncio.gather(
        client.post("/v1/comments", json=comment(captcha_id)),
        client.post("/v1/comments", json=comment(captcha_id, content="Một nội dung khác hẳn ở đây.")),
    )
    assert sorted([first.status, second.status]) == [202, 422]
    assert await comment_count(client) == 1


async def test_repeat_marker_is_written_with_the_comment(client: Client, redis: Redis) -> None:
    """The repeat marker is part of the submission script (it used to be a SET after the enqueue whose
    failure answered 500 for a stored comment): after a 202 it names the comment."""
    resp = await client.post("/v1/comments", json=comment(await new_captcha(client)))
    cid = (await resp.json())["id"]
    [marker] = [k async for k in redis.scan_iter("*:repeat:*")]
    assert await redis.get(marker) == cid and 0 < await redis.ttl(marker)


# --------------------------------------------------------------------------- browsers without JavaScript
def _outcome(location: str) -> tuple[str, dict[str, list[str]], str]:
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query), parts.fragment


async def test_form_post_without_js_redirects_back_pending(client: Client) -> None:
    """A browser form post (Accept: text/html, allowed Referer) gets 303 back with ?duyet=pending."""
    headers = {"Accept": BROWSER_ACCEPT, "Referer": PAGE}
    resp = await client.post(
        "/v1/comments", data=comment(await new_captcha(client)), headers=headers, allow_redirects=False
    )
    assert resp.status == 303
    page, query, fragment = _outcome(resp.headers["Location"])
    assert page == f"{PORTAL}/tin-tuc/bai-viet-123.html"
    assert query == {"ref": ["home"], "duyet": ["pending"]}
    assert fragment == "duyet-comments"
    assert await comment_count(client) == 1


async def test_form_post_without_js_redirects_back_with_errors(client: Client) -> None:
    """Field errors come back as ?duyet=error&fields=...&codes=..., replacing an earlier outcome."""
    headers = {"Accept": BROWSER_ACCEPT, "Referer": PAGE.replace("ref=home", "ref=home&duyet=pending")}
    data = comment(await new_captcha(client), name="12", title="")
    resp = await client.post("/v1/comments", data=data, headers=headers, allow_redirects=False)
    assert resp.status == 303
    _, query, _ = _outcome(resp.headers["Location"])
    assert query["duyet"] == ["error"]
    assert query["fields"] == ["name,title"]
    assert query["codes"] == ["invalid_characters,required"]


async def test_form_post_rate_limited_redirects_with_code(make_client: MakeClient) -> None:
    """Other failures (here 429) come back as ?duyet=error&code=..."""
    client = await make_client(captcha_test_code=CODE, cors_origins=PORTAL, submit_limit_client=1)
    headers = {"Accept": BROWSER_ACCEPT, "Referer": PAGE}
    await client.post("/v1/comments", data=comment(await new_captcha(client)), headers=headers, allow_redirects=False)
    resp = await client.post(
        "/v1/comments",
        data=comment(await new_captcha(client), content="Ý kiến thứ hai."),
        headers=headers,
        allow_redirects=False,
    )
    assert resp.status == 303
    assert _outcome(resp.headers["Location"])[1]["code"] == ["rate_limited"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": BROWSER_ACCEPT, "Referer": "https://evil.example/page"},
        {"Accept": BROWSER_ACCEPT},
        {"Accept": "application/json", "Referer": PAGE},
    ],
    ids=["foreign-referer", "no-referer", "wants-json"],
)
async def test_form_post_answers_json_otherwise(client: Client, headers: dict[str, str]) -> None:
    """No redirect to a foreign or missing Referer, nor for a client that prefers JSON."""
    resp = await client.post(
        "/v1/comments", data=comment(await new_captcha(client), name="1"), headers=headers, allow_redirects=False
    )
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "name"


async def test_json_post_is_never_redirected(client: Client) -> None:
    """A JSON post always gets JSON, whatever it accepts."""
    headers = {"Accept": BROWSER_ACCEPT, "Referer": PAGE}
    resp = await client.post("/v1/comments", json=comment(await new_captcha(client)), headers=headers)
    assert resp.status == 202


@pytest.mark.skipif(topology.CLUSTER_MODE, reason="the test cluster's primaries have replicas: WAIT 1 succeeds there")
async def test_a_comment_no_replica_confirmed_is_503_and_not_counted_accepted(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DUYET_REDIS_WAIT_REPLICAS=1 and no replica (the test server has none), the comment is
    stored but not acknowledged: 503 with Retry-After, counted `unconfirmed`, never `accepted`; a
    retry with the same Idempotency-Key waits for its copy again (no 202 it cannot vouch for)."""
    monkeypatch.setattr(durability, "CONFIRM_WAIT_S", 0.5)
    client = await make_client(captcha_test_code=CODE, redis_wait_replicas=1)
    data, key = comment(await new_captcha(client)), {"Idempotency-Key": "wait-1"}
    for _ in range(2):
        resp = await client.post("/v1/comments", json=data, headers=key)
        assert resp.status == 503, await resp.text()
        assert int(resp.headers["Retry-After"]) >= 1
    metrics = await (await client.get("/metrics")).text()
    assert 'duyet_submissions_total{outcome="unconfirmed"} 2.0' in metrics
    assert 'outcome="accepted"' not in metrics
    assert await comment_count(client) == 1
