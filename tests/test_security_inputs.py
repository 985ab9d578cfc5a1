"""The attacker's findings on input (issue 20, findings 8, 9, 12, 14, 15): bodies that cannot be read
are a clear 400 (never a 500 or a logged traceback) and are read only after the rate limit; phone
bans match however the number is typed; IPv6 clients are counted by /64; captchas are bound to
their article and only their holder can void them; hidden characters are flagged and never shown raw.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from redis.asyncio import Redis

from service.http import appkeys
from service.review import moderators
from service.store.keys import Keys
from tests.clients import MakeClient
from tests.queue_helpers import auth, token_for
from tests.submission_helpers import ARTICLE, CODE, comment, comment_count, new_captcha, stored
from tests.test_auth_routes import _concrete

K = Keys()
FAST = {"model_path": "/nonexistent/no-model.skops"}
DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
NO_BOUNDARY = b'--x\r\nContent-Disposition: form-data; name="article_id"\r\n\r\nabc\r\n--x--\r\n'
UNREADABLE: list[tuple[str, bytes]] = [
    ("application/json", DEEP_ARRAY),
    ("application/json", DEEP_OBJECT),
    ("application/x-www-form-urlencoded", b"article_id=\xff\xfe"),
    ("application/x-www-form-urlencoded", b"\xff=1"),
    ("multipart/form-data", NO_BOUNDARY),
    ("multipart/form-data; boundary=", NO_BOUNDARY),
]


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors logged since the test app started (its missing spam model logs one at start-up)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("content_type", "data"), UNREADABLE, ids=lambda v: str(v)[:24])
async def test_unreadable_captcha_bodies_are_a_clear_400(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, content_type: str, data: bytes
) -> None:
    """Deep JSON, bytes that are not UTF-8, a multipart post with no boundary: 400 with a code,
    no traceback in the log (finding 8: each was a 500 with an ERROR traceback)."""
    client = await make_client(**FAST)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        resp = await client.post("/v1/captchas", data=data, headers={"Content-Type": content_type})
    assert resp.status == 400, await resp.text()
    body = await resp.json()
    assert body["error"]["code"] in ("invalid_json", "invalid_form")
    assert _errors_logged(caplog) == []


async def test_unreadable_bodies_are_counted_by_the_rate_limit_first(make_client: MakeClient) -> None:
    """Body parsing runs after the rate limit: a flood of bad bodies is throttled, not parsed."""
    client = await make_client(captcha_issue_limit=2, **FAST)
    statuses = []
    for _ in range(4):
        resp = await client.post("/v1/captchas", data=DEEP_ARRAY, headers={"Content-Type": "application/json"})
        statuses.append(resp.status)
    assert statuses == [400, 400, 429, 429]


def _body_routes(app: web.Application) -> list[tuple[str, str]]:
    out = []
    for route in app.router.routes():
        if route.method not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if template and template.startswith("/v1/"):
            out.append((route.method, _concrete(template)))
    return out


async def test_deep_json_on_every_api_route_is_a_400(
    make_client: MakeClient, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Every JSON route, called by an admin (who passes every check before the body), answers
    10,000-deep JSON without a 5xx (a 4xx, or a 2xx where the body is not read) and logs no error
    (finding 8: the moderator/admin routes gave 500)."""
    client = await make_client(**FAST)
    assert client.app is not None
    token = await token_for(redis, K, "root", role=moderators.Role.ADMIN)
    routes = _body_routes(client.app)
    assert len(routes) >= 10
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        for method, path in routes:
            headers = {**auth(token), "Content-Type": "application/json"}
            resp = await client.request(method, path, data=DEEP_OBJECT, headers=headers)
            assert resp.status < 500, (method, path, resp.status, await resp.text())
    assert _errors_logged(caplog) == []


# --------------------------------------------------------------------------- finding 9: phone bans
async def _admin(redis: Redis) -> dict[str, str]:
    return auth(await token_for(redis, K, "root", role=moderators.Role.ADMIN))


async def test_a_phone_ban_typed_as_readers_type_it_blocks_that_phone(make_client: MakeClient, redis: Redis) -> None:
    """A ban on "0911 222 333" stops a comment whose phone is "+84 911 222 333" (finding 9: it was
    hashed as typed and never matched), and the same ban typed in E.164 is the same ban."""
    client = await make_client(captcha_test_code=CODE)
    admin = await _admin(redis)
    resp = await client.post(
        "/v1/bans", json={"kind": "phone", "value": "0911 222 333", "ttl_seconds": 600}, headers=admin
    )
    assert resp.status == 201, await resp.text()
    value = (await resp.json())["value"]
    again = await client.post(
        "/v1/bans", json={"kind": "phone", "value": "+84911222333", "ttl_seconds": 600}, headers=admin
    )
    assert (await again.json())["value"] == value
    blocked = await client.post("/v1/comments", json=comment(await new_captcha(client), phone="+84 911 222 333"))
    assert blocked.status == 403
    other = await client.post("/v1/comments", json=comment(await new_captcha(client), phone="0912 345 678"))
    assert other.status == 202


@pytest.mark.parametrize(
    "ban",
    [
        {"kind": "phone", "value": "\u0000"},
        {"kind": "phone", "value": "not a number"},
        {"kind": "phone", "value": "12"},
        {"kind": "client", "value": "\u0000"},
        {"kind": "client", "value": "192.0.2.1\u0000"},
    ],
)
async def test_a_ban_on_nothing_is_refused(make_client: MakeClient, redis: Redis, ban: dict[str, Any]) -> None:
    """A value that is no address, network or phone number is a 400 and stores nothing."""
    client = await make_client(**FAST)
    admin = await _admin(redis)
    resp = await client.post("/v1/bans", json={**ban, "ttl_seconds": 600}, headers=admin)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_ban"
    assert (await (await client.get("/v1/bans", headers=admin)).json())["items"] == []
    assert [k async for k in redis.scan_iter(match="duyet:ban:*")] == []


# --------------------------------------------------------------------------- finding 12: IPv6 /64
async def test_ipv6_clients_are_rate_limited_by_their_64(make_client: MakeClient) -> None:
    """40 addresses of one /64 share one client's captcha allowance (finding 12: each had its own);
    another /64 has its own."""
    client = await make_client(captcha_issue_limit=3, trusted_proxies="127.0.0.1", **FAST)
    statuses = []
    for i in range(1, 6):
        resp = await client.post(
            "/v1/captchas", json={"article_id": ARTICLE}, headers={"X-Forwarded-For": f"2001:db8:1:2::{i:x}"}
        )
        statuses.append(resp.status)
    assert statuses == [201, 201, 201, 429, 429]
    other = await client.post(
        "/v1/captchas", json={"article_id": ARTICLE}, headers={"X-Forwarded-For": "2001:db8:1:3::1"}
    )
    assert other.status == 201


# --------------------------------------------------------------------------- finding 15: the raw snapshot
async def test_the_raw_snapshot_shows_hidden_characters_and_no_markup(make_client: MakeClient, redis: Redis) -> None:
    """The moderator JSON's `raw` spells out bidi, NUL and tag characters and escapes markup
    (finding 15: it returned them as typed); the normalised fields hold none of them."""
    client = await make_client(captcha_test_code=CODE)
    typed = "Hay <script>alert(1)</script> \u202egnp.exe\u0000 c\U000e0061asino \ufff9x\ufffb thật"
    resp = await client.post("/v1/comments", json=comment(await new_captcha(client), content=typed))
    assert resp.status == 202, await resp.text()
    comment_id = (await resp.json())["id"]
    record = await stored(client, comment_id)
    assert record["content"].isprintable()
    token = await token_for(redis, K, "lan")
    seen = await (await client.get(f"/v1/comments/{comment_id}", headers=auth(token))).json()
    raw = seen["raw"]["content"]
    for hidden in ("<", ">", "\u202e", "\u0000", "\U000e0061", "\ufff9", "\ufffb"):
        assert hidden not in raw, hidden
    assert "[U+202E]" in raw and "[U+0000]" in raw and "[U+E0061]" in raw and "&lt;script&gt;" in raw
    assert seen["raw"]["name"] == "Nguyễn Văn An"
    app = client.app
    assert app is not None and app[appkeys.SETTINGS]


# --------------------------------------------------------------------------- finding 14: captcha binding
async def test_a_captcha_issued_without_an_article_verifies_for_none(make_client: MakeClient) -> None:
    """A captcha issued with no article is refused for any article (finding 14: it verified for
    all), so a comment needs a captcha issued for its own article."""
    client = await make_client(captcha_test_code=CODE, **FAST)
    resp = await client.post("/v1/captchas")
    unbound = (await resp.json())["id"]
    captchas = client.app[appkeys.CAPTCHAS]  # type: ignore[index]
    assert await captchas.verify(unbound, CODE, ARTICLE) == "invalid-input-response"


async def test_only_the_holder_of_a_captcha_can_void_it(make_client: MakeClient) -> None:
    """`replaces` voids a captcha only for the client it was issued to (finding 14: anyone who knew
    the id could void it); the other client still gets its new captcha."""
    client = await make_client(captcha_test_code=CODE, trusted_proxies="127.0.0.1", **FAST)
    reader, other = {"X-Forwarded-For": "198.51.100.7"}, {"X-Forwarded-For": "203.0.113.9"}
    first = await (await client.post("/v1/captchas", json={"article_id": ARTICLE}, headers=reader)).json()
    stranger = await client.post("/v1/captchas", json={"article_id": ARTICLE, "replaces": first["id"]}, headers=other)
    assert stranger.status == 201
    assert (await client.get(first["image_url"])).status == 200
    captchas = client.app[appkeys.CAPTCHAS]  # type: ignore[index]
    refreshed = await client.post("/v1/captchas", json={"article_id": ARTICLE, "replaces": first["id"]}, headers=reader)
    assert refreshed.status == 201
    assert (await client.get(first["image_url"])).status == 404
    assert await captchas.verify(first["id"], CODE, ARTICLE) == "timeout-or-duplicate"
    assert await captchas.verify((await refreshed.json())["id"], CODE, ARTICLE) == "ok"


# --------------------------------------------------------------------------- the bad-input catalogue
WORD = "a" * 10_000  # one 10,000-character word, no space to wrap at
# (what is sent, and its JSON body or (content type, raw bytes), the answer: status, code, fields)
CATALOGUE: list[tuple[str, Any, int, str, set[str]]] = [
    ("oversized JSON", {"content": "x" * 70_000}, 413, "payload_too_large", set()),
    ("10,000-deep JSON", ("application/json", DEEP_OBJECT), 400, "malformed_json", set()),
    ("JSON that is not an object", ("application/json", b'["name", "An"]'), 400, "json_not_object", set()),
    ("invalid UTF-8 in JSON", ("application/json", b'{"name": "An \xff\xfe"}'), 400, "invalid_utf8", set()),
    ("unpaired surrogate escape", ("application/json", b'{"name": "An \\udc80"}'), 400, "invalid_utf8", set()),
    (
        "invalid UTF-8 in a form",
        ("application/x-www-form-urlencoded", b"article_id=a&name=An%ff"),
        400,
        "invalid_utf8",
        set(),
    ),
    (
        "a name of bidi and zero-width only",
        {"name": "\u202e\u200b\u2066\u200d\ufeff"},
        422,
        "validation_failed",
        {"name"},
    ),
    ("a name of NUL only", {"name": "\x00\x00\x00"}, 422, "validation_failed", {"name"}),
    ("a 10,000-character word in the content", {"content": WORD}, 422, "validation_failed", {"content"}),
    ("a 10,000-character word as the name", {"name": WORD}, 422, "validation_failed", {"name"}),
    ("markup as the name", {"name": "<script>alert(1)</script>"}, 422, "validation_failed", {"name"}),
    ("a link as the name", {"name": "<a href='//spam.vn'>shop.vn</a>"}, 422, "validation_failed", {"name"}),
    (
        "wrong types",
        {"name": 123, "phone": {"n": 1}, "content": ["x"], "title": True},
        422,
        "validation_failed",
        {"name", "phone", "title", "content"},
    ),
    ("a phone that is no phone", {"phone": "0123"}, 422, "validation_failed", {"phone"}),
]


@pytest.mark.parametrize(("label", "sent", "status", "code", "fields"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
async def test_the_bad_input_catalogue_is_refused_clearly_and_changes_nothing(
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    label: str,
    sent: Any,
    status: int,
    code: str,
    fields: set[str],
) -> None:
    """Each bad submission: its status and stable code, the broken fields named, nothing stored,
    the reader's captcha not spent (the same captcha then posts a good comment), no error logged."""
    client = await make_client(captcha_test_code=CODE)
    captcha = await new_captcha(client)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        if isinstance(sent, dict):
            resp = await client.post("/v1/comments", json={**comment(captcha), **sent})
        else:
            content_type, data = sent
            resp = await client.post("/v1/comments", data=data, headers={"Content-Type": content_type})
    answer = await resp.json()
    assert resp.status == status, (label, answer)
    assert answer["error"]["code"] == code and answer["error"]["message"]
    assert {e["field"] for e in answer.get("errors", [])} == fields
    assert _errors_logged(caplog) == []
    assert await comment_count(client) == 0
    good = await client.post("/v1/comments", json=comment(captcha))
    assert good.status == 202, await good.text()


async def test_hidden_characters_in_a_name_are_removed_and_flagged(make_client: MakeClient) -> None:
    """Bidi overrides, zero-width characters and NUL inside a real name: accepted, stored without
    them, and the comment is flagged for the moderator (`had_invisible`)."""
    client = await make_client(captcha_test_code=CODE)
    name = "Ngu\u200byễn\u202e Văn\x00 An\u2066"
    resp = await client.post("/v1/comments", json=comment(await new_captcha(client), name=name))
    assert resp.status == 202, await resp.text()
    record = await stored(client, (await resp.json())["id"])
    assert record["name"] == "Nguyễn Văn An"
    assert record["signals"]["had_invisible"] is True


async def test_a_duplicated_form_field_takes_its_last_value(make_client: MakeClient) -> None:
    """A form post naming a field twice: the last value counts (as most form parsers do), once,
    and is validated like any other: no error, no field stored twice or joined."""
    client = await make_client(captcha_test_code=CODE)
    fields = comment(await new_captcha(client))
    pairs = [("name", "Kẻ Mạo Danh"), *fields.items(), ("title", "Tiêu đề thứ hai")]
    resp = await client.post(
        "/v1/comments",
        data=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    assert resp.status == 202, await resp.text()
    record = await stored(client, (await resp.json())["id"])
    assert record["name"] == fields["name"] and record["title"] == "Tiêu đề thứ hai"
