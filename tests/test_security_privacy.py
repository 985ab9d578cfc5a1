"""No phone number, client address or secret in the logs or in a public answer, over a whole mixed
session: readers posting with phones (from IPv4 and IPv6 addresses, some banned), bad input,
moderators claiming and deciding, an admin banning and lifting bans, log-ins and log-outs."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from service.review import moderators
from service.store.keys import Keys
from tests.clients import MakeClient
from tests.conftest import TEST_SECRET
from tests.queue_helpers import auth, token_for
from tests.submission_helpers import ARTICLE, CODE, comment

K = Keys()
READERS = [
    ("198.51.100.77", "0912 888 111", "912888111"),
    ("2001:db8:77:1::5", "+84 903 111 222", "903111222"),
    ("203.0.113.45", "0988-777-666", "988777666"),
]
PASSWORD = "mật-khẩu-dài-1"
# aiohttp.access is the test server's access log, which `duyet serve` turns off (access_log=None).
SERVER_ONLY = ("aiohttp.access",)


def _as_text(record: logging.LogRecord) -> str:
    """Everything a log handler could write for a record: message, extras, traceback."""
    fields = {k: v for k, v in vars(record).items() if k not in ("msg", "args", "exc_info")}
    return f"{record.getMessage()} {fields!r} {record.exc_text or ''}"


async def _public(resp: ClientResponse, seen: list[str]) -> Any:
    """Keep a public answer's headers and body for the privacy check."""
    body = await resp.read()
    seen.append(repr(dict(resp.headers)) + body.decode(errors="replace"))
    return body


async def _post_comment(client: TestClient[Any, Any], ip: str, phone: str, seen: list[str], **extra: Any) -> int:
    fwd = {"X-Forwarded-For": ip}
    resp = await client.post("/v1/captchas", json={"article_id": ARTICLE}, headers=fwd)
    captcha = (await resp.json())["id"]
    await _public(resp, seen)
    resp = await client.post("/v1/comments", json=comment(captcha, phone=phone, **extra), headers=fwd)
    await _public(resp, seen)
    return resp.status


@pytest.mark.slow
async def test_a_mixed_session_logs_and_shows_no_phone_address_or_secret(
    make_client: MakeClient, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(captcha_test_code=CODE, trusted_proxies="127.0.0.1", log_level="DEBUG")
    admin_token = await token_for(redis, K, "root", moderators.Role.ADMIN)
    mod_token = await token_for(redis, K, "lan")
    await moderators.set_password(redis, K, "lan", PASSWORD)
    public: list[str] = []
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        statuses = [await _post_comment(client, ip, phone, public) for ip, phone, _ in READERS]
        assert statuses == [202, 202, 202]
        # Bad input from a reader: wrong captcha, broken phone, unreadable bodies.
        assert await _post_comment(client, READERS[0][0], "0912 34", public) == 422
        await _public(
            await client.post("/v1/comments", data=b"\xff", headers={"X-Forwarded-For": READERS[0][0]}), public
        )
        # An admin bans a phone (typed as readers type it) and an address; their next posts are refused.
        admin = auth(admin_token)
        ban = await client.post(
            "/v1/bans", json={"kind": "phone", "value": READERS[0][1], "ttl_seconds": 600}, headers=admin
        )
        assert ban.status == 201
        ban = await client.post(
            "/v1/bans", json={"kind": "client", "value": "2001:db8:77:1::/64", "ttl_seconds": 600}, headers=admin
        )
        assert ban.status == 201
        assert await _post_comment(client, "192.0.2.200", READERS[0][1], public) == 403
        assert await _post_comment(client, "2001:db8:77:1::99", "0977 000 111", public) == 403
        listed = await (await client.get("/v1/bans", headers=admin)).json()
        for item in listed["items"]:
            await client.delete(f"/v1/bans/{item['kind']}/{item['value']}", headers=admin)
        # Moderators: claim, read, decide; a wrong token; a log-in with the password, then log-out.
        mod = auth(mod_token)
        claimed = await (await client.post("/v1/queue/claim", json={"limit": 3}, headers=mod)).json()
        for item in claimed["items"]:
            await client.get(f"/v1/comments/{item['id']}", headers=mod)
            decision = {"action": "approve", "version": item["version"]}
            assert (await client.post(f"/v1/comments/{item['id']}/decision", json=decision, headers=mod)).status == 200
        assert (await client.get("/v1/stats", headers=auth(mod_token + "x"))).status == 401
        page = await (await client.get("/moderate")).text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        login = await client.post(
            "/moderate/login",
            data={"name": "lan", "secret": PASSWORD, "csrf_token": csrf.group(1)},
            allow_redirects=False,
        )
        assert login.status == 303
        session = login.cookies["duyet_session"].value
        # The public view of the article: approved comments, no phone or address.
        await _public(await client.get(f"/v1/articles/{ARTICLE}/comments"), public)
        await _public(await client.get(f"/demo?article_id={ARTICLE}"), public)
        await _public(await client.get("/metrics"), public)
    secrets_ = [TEST_SECRET, admin_token, mod_token, PASSWORD, session]
    addresses = [ip for ip, _, _ in READERS] + ["192.0.2.200", "2001:db8:77:1::99", "2001:db8:77:1::"]
    phones = [digits for _, _, digits in READERS] + ["977000111"]
    logged = [_as_text(r) for r in caplog.records if r.name not in SERVER_ONLY]
    assert len(logged) > 20, "DEBUG logging of the session was captured"
    for text in logged:
        flat = re.sub(r"[\s.()+-]", "", text)
        for secret in secrets_:
            assert secret not in text, f"a secret in the log: {text[:200]}"
        for address in addresses:
            assert address not in text, f"an address in the log: {text[:200]}"
        for digits in phones:
            assert digits not in flat, f"a phone number in the log: {text[:200]}"
    assert len(public) >= 10
    for answer in public:
        flat = re.sub(r"[\s.()+-]", "", answer)
        for address in addresses:
            assert address not in answer
        for digits in phones:
            assert digits not in flat
        for secret in secrets_:
            assert secret not in answer
