"""Moderator UI sessions without a browser: log-in, cookie flags, CSRF on every change, log-out, undo."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from service.http.app import captcha_ctx, create_app
from service.http.views.moderate import CSP
from service.review import intake, moderators, reading, states, transitions
from service.review import undo as review
from service.settings import Settings
from service.spam.loading import ModelCache
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests.clients import MakeClient
from tests.queue_helpers import make_comment


def ui_app(settings: Settings, models: ModelCache) -> web.Application:
    """The real app without the captcha render pool: the UI never shows a captcha, and starting and
    stopping a process pool for every short-lived test app costs seconds (and has hung teardown)."""
    app = create_app(settings, models)
    app.cleanup_ctx.remove(captcha_ctx)
    return app


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: Callable[..., Settings],
    model_cache: ModelCache,
    redis: Redis,
) -> MakeClient:
    """Like conftest's make_client, for `ui_app`."""

    async def factory(**overrides: Any) -> TestClient[Any, Any]:
        return await aiohttp_client(ui_app(make_settings(**overrides), model_cache))

    return factory


K = Keys()
# The spam model plays no part here (comments come scored); loading it costs seconds per app.
FAST = {"model_path": "/nonexistent/no-model.skops"}
PASSWORD = "mật-khẩu-dài-1"


async def _moderator(redis: Redis, name: str = "lan") -> str:
    _, token = await moderators.add(redis, K, name, moderators.Role.MODERATOR)
    await moderators.set_password(redis, K, name, PASSWORD)
    return token


async def _login_form(client: TestClient[Any, Any]) -> str:
    resp = await client.get("/moderate")
    assert resp.status == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
    assert found
    return found.group(1)


async def _login(client: TestClient[Any, Any], name: str = "lan", secret: str = PASSWORD, **headers: str) -> Any:
    token = await _login_form(client)
    return await client.post(
        "/moderate/login",
        data={"name": name, "secret": secret, "csrf_token": token},
        allow_redirects=False,
        headers=headers,
    )


async def _page_csrf(client: TestClient[Any, Any]) -> str:
    resp = await client.get("/moderate")
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', await resp.text())
    assert found, "not logged in"
    return found.group(1)


async def test_login_page_is_vietnamese_with_a_strict_csp(make_client: MakeClient) -> None:
    """Logged out, /moderate is the log-in form in Vietnamese, under the strict CSP, not cached."""
    client = await make_client(**FAST)
    resp = await client.get("/moderate")
    html = await resp.text()
    assert resp.status == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Content-Type"].startswith("text/html") and "utf-8" in resp.headers["Content-Type"]
    assert 'lang="vi"' in html and "Đăng nhập" in html
    assert "<script>" not in html and "style=" not in html
    english = await (await client.get("/moderate?lang=en")).text()
    assert 'lang="en"' in english and "Log in" in english


async def test_password_login_sets_a_strict_httponly_cookie(make_client: MakeClient, redis: Redis) -> None:
    """A right password gives a session cookie: HttpOnly, SameSite=Strict, not Secure over plain http."""
    client = await make_client(**FAST)
    await _moderator(redis)
    resp = await _login(client)
    assert resp.status == 303 and resp.headers["Location"] == "/moderate"
    cookie = next(v for k, v in resp.headers.items() if k == "Set-Cookie" and v.startswith("duyet_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    page = await client.get("/moderate")
    assert 'data-testid="who">lan<' in await page.text()


async def test_cookie_is_secure_behind_a_trusted_tls_proxy_only(make_client: MakeClient, redis: Redis) -> None:
    """X-Forwarded-Proto: https marks the cookie Secure only when it comes from a trusted proxy."""
    await _moderator(redis)
    trusted = await make_client(trusted_proxies="127.0.0.1", **FAST)
    resp = await _login(trusted, **{"X-Forwarded-Proto": "https"})
    assert resp.status == 303
    assert "Secure" in resp.headers["Set-Cookie"]
    untrusted = await make_client(**FAST)
    resp = await _login(untrusted, **{"X-Forwarded-Proto": "https"})
    assert resp.status == 303
    assert "Secure" not in resp.headers["Set-Cookie"]


async def test_token_login_works_and_failures_look_the_same(make_client: MakeClient, redis: Redis) -> None:
    """A moderator token logs in; an unknown name and a wrong password get the same 401 answer."""
    client = await make_client(**FAST)
    token = await _moderator(redis)
    wrong = await _login(client, secret="sai-mat-khau")
    unknown = await _login(client, name="khong-co-ai")
    assert wrong.status == unknown.status == 401
    msg = "Tên đăng nhập hoặc mật khẩu không đúng."
    assert msg in await wrong.text() and msg in await unknown.text()
    assert "duyet_session" not in wrong.headers.get("Set-Cookie", "")
    ok = await _login(client, name="", secret=token)
    assert ok.status == 303 and "duyet_session=" in ok.headers["Set-Cookie"]


async def test_login_without_the_form_token_is_refused(make_client: MakeClient, redis: Redis) -> None:
    """A log-in post that did not come from our form (no nonce cookie/token) gets 403 and no session."""
    client = await make_client(**FAST)
    await _moderator(redis)
    resp = await client.post("/moderate/login", data={"name": "lan", "secret": PASSWORD}, allow_redirects=False)
    assert resp.status == 403
    assert "duyet_session" not in resp.headers.get("Set-Cookie", "")


async def test_login_is_rate_limited(make_client: MakeClient, redis: Redis) -> None:
    """Beyond the limit, log-in answers 429 with Retry-After, even with the right password."""
    client = await make_client(login_limit=3, **FAST)
    await _moderator(redis)
    for _ in range(3):
        assert (await _login(client, secret="sai-mat-khau")).status == 401
    resp = await _login(client)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1


async def test_login_counts_an_attempt_before_reading_its_body(make_client: MakeClient, redis: Redis) -> None:
    """Broken forms (invalid UTF-8, no log-in token) are attempts too: the address is counted
    before the body is read, so a flood of them meets 429 (issue 20, finding 8: body parsing ran
    before the rate limit)."""
    client = await make_client(login_limit=3, **FAST)
    await _moderator(redis)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    statuses = [(await client.post("/moderate/login", data=b"name=%ff%fe", headers=form)).status for _ in range(3)]
    assert 429 not in statuses and all(400 <= status < 500 for status in statuses)
    resp = await client.post("/moderate/login", data=b"name=%ff%fe", headers=form)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await _login(client)).status == 429  # the right password too, from this address


async def test_api_accepts_the_session_but_changes_need_the_csrf_header(make_client: MakeClient, redis: Redis) -> None:
    """With the session cookie: GETs work; a POST without X-CSRF-Token (or a wrong one) is 403; with it, 200."""
    client = await make_client(**FAST)
    await _moderator(redis)
    await intake.enqueue(redis, K, Scripts(redis), make_comment())
    assert (await _login(client)).status == 303
    csrf = await _page_csrf(client)
    assert (await client.get("/v1/stats")).status == 200
    missing = await client.post("/v1/queue/claim", json={"limit": 1})
    assert missing.status == 403
    assert (await missing.json())["error"]["code"] == "csrf_failed"
    wrong = await client.post("/v1/queue/claim", json={"limit": 1}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status == 403
    ok = await client.post("/v1/queue/claim", json={"limit": 1}, headers={"X-CSRF-Token": csrf})
    assert ok.status == 200 and len((await ok.json())["items"]) == 1


async def test_logout_needs_csrf_and_ends_the_session(make_client: MakeClient, redis: Redis) -> None:
    """Log-out without the form's token is 403; with it the session is gone from the store and the API says 401."""
    client = await make_client(**FAST)
    await _moderator(redis)
    await _login(client)
    csrf = await _page_csrf(client)
    assert (await client.post("/moderate/logout", data={}, allow_redirects=False)).status == 403
    assert len([k async for k in redis.scan_iter(match="duyet:session:*")]) == 1
    resp = await client.post("/moderate/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert [k async for k in redis.scan_iter(match="duyet:session:*")] == []
    assert (await client.get("/v1/stats")).status == 401
    assert "Đăng nhập" in await (await client.get("/moderate")).text()


async def test_logout_without_a_session_sends_no_cookie_deletion(make_client: MakeClient, redis: Redis) -> None:
    """A cross-site form post to /moderate/logout arrives without the SameSite=Strict cookie: it
    changes nothing and deletes no cookie (issue 20, finding 10: the deletion was still sent)."""
    client = await make_client(**FAST)
    await _moderator(redis)
    await _login(client)
    value = client.session.cookie_jar.filter_cookies(client.make_url("/"))["duyet_session"].value
    client.session.cookie_jar.clear()
    forged = await client.post(
        "/moderate/logout", data={"csrf_token": "x"}, headers={"Origin": "https://evil.example"}, allow_redirects=False
    )
    assert forged.status == 303
    assert "duyet_session" not in forged.headers.get("Set-Cookie", "")
    assert len([k async for k in redis.scan_iter(match="duyet:session:*")]) == 1
    still = await client.get("/v1/stats", cookies={"duyet_session": value})
    assert still.status == 200


async def test_logout_ends_the_session_for_the_old_cookie_too(make_client: MakeClient, redis: Redis) -> None:
    """After a log-out, a copy of the old cookie logs nobody in (the server-side session is gone)."""
    client = await make_client(**FAST)
    await _moderator(redis)
    await _login(client)
    value = client.session.cookie_jar.filter_cookies(client.make_url("/"))["duyet_session"].value
    csrf = await _page_csrf(client)
    resp = await client.post("/moderate/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303 and "duyet_session=" in resp.headers["Set-Cookie"]
    client.session.cookie_jar.clear()
    assert (await client.get("/v1/stats", cookies={"duyet_session": value})).status == 401


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_one_address_cannot_lock_every_moderator_out(make_client: MakeClient, redis: Redis) -> None:
    """Bad token log-ins are counted per address: one address at its limit does not stop a
    moderator elsewhere (issue 20, finding 11: all token log-ins shared one bucket)."""
    client = await make_client(login_limit=3, trusted_proxies="127.0.0.1", **FAST)
    token = await _moderator(redis)
    for _ in range(3):
        assert (await _login(client, name="", secret="dyt_wrong", **_from("198.51.100.1"))).status == 401
    assert (await _login(client, name="", secret="dyt_wrong", **_from("198.51.100.1"))).status == 429
    ok = await _login(client, name="", secret=token, **_from("203.0.113.5"))
    assert ok.status == 303


async def test_wrong_passwords_for_a_name_do_not_block_its_token(make_client: MakeClient, redis: Redis) -> None:
    """Password guesses for "lan" are counted per name (from any address), yet lan's token still
    logs in (issue 20, finding 11: ten wrong passwords locked the name out of its token too)."""
    client = await make_client(login_limit=3, trusted_proxies="127.0.0.1", **FAST)
    token = await _moderator(redis)
    for i in range(3):
        assert (await _login(client, secret="sai-mat-khau", **_from(f"198.51.100.{i + 1}"))).status == 401
    assert (await _login(client, secret=PASSWORD, **_from("198.51.100.9"))).status == 429
    ok = await _login(client, name="lan", secret=token, **_from("203.0.113.5"))
    assert ok.status == 303


async def test_session_key_holds_no_cookie_value_and_expires(make_client: MakeClient, redis: Redis) -> None:
    """The store keeps the sha256 of the cookie value, with the idle TTL set."""
    client = await make_client(session_seconds=600, **FAST)
    await _moderator(redis)
    resp = await _login(client)
    value = resp.cookies["duyet_session"].value
    keys = [k async for k in redis.scan_iter(match="duyet:session:*")]
    assert len(keys) == 1 and value not in keys[0]
    assert 0 < await redis.ttl(keys[0]) <= 600


async def test_undo_is_for_the_decider_within_the_window(make_client: MakeClient, redis: Redis) -> None:
    """Undo reopens your own fresh decision; another moderator gets 403, and after the window it is 409."""
    client = await make_client(**FAST)
    scripts = Scripts(redis)
    token = await _moderator(redis)
    other = await _moderator(redis, "minh")
    cid, _ = await intake.enqueue(redis, K, scripts, make_comment())
    await transitions.decide(redis, K, scripts, cid, "lan", 1, states.Action.APPROVE)
    refused = await client.post(f"/v1/comments/{cid}/undo", headers={"Authorization": f"Bearer {other}"})
    assert refused.status == 403
    resp = await client.post(f"/v1/comments/{cid}/undo", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200 and (await resp.json())["state"] == "pending"
    assert (await reading.get(redis, K, cid))["state"] == "pending"
    outcome = await transitions.decide(redis, K, scripts, cid, "lan", 3, states.Action.APPROVE)
    late = outcome.at_ms + review.UNDO_WINDOW_MS + 1
    try:
        await review.undo(redis, K, scripts, cid, "lan", now_ms=late)
    except review.UndoExpired:
        pass
    else:
        raise AssertionError("undo after the window was accepted")
    assert (await reading.get(redis, K, cid))["state"] == "approved"


def test_passwd_command_sets_a_password_the_login_accepts(
    redis_url: str, tmp_path: Any, monkeypatch: Any, capsys: Any
) -> None:
    """`duyet moderators passwd NAME` (password piped on stdin) stores a scrypt hash that log-in accepts."""
    import asyncio
    import io

    from service.commands.main import main

    async def prepare() -> None:
        client: Redis = Redis.from_url(redis_url, decode_responses=True)
        await client.flushdb()
        await moderators.add(client, K, "lan", moderators.Role.MODERATOR)
        await client.aclose()

    async def check(password: str) -> moderators.Moderator | None:
        client: Redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            return await moderators.authenticate_password(client, K, "lan", password)
        finally:
            await client.aclose()

    asyncio.run(prepare())
    monkeypatch.setenv("DUYET_SECRET_KEY", "s" * 40)
    monkeypatch.setattr("sys.stdin", io.StringIO("mot-mat-khau-moi\n"))
    code = main(["moderators", "passwd", "lan", "--redis-url", redis_url, "--data-dir", str(tmp_path)])
    assert code == 0 and "password set for lan" in capsys.readouterr().out
    found = asyncio.run(check("mot-mat-khau-moi"))
    assert found is not None and found.name == "lan"
    assert asyncio.run(check("sai")) is None
    monkeypatch.setattr("sys.stdin", io.StringIO("ngan\n"))
    assert main(["moderators", "passwd", "lan", "--redis-url", redis_url, "--data-dir", str(tmp_path)]) == 1
