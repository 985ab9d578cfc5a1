"""Server-to-server mode: portal API keys (stored hashed), the trusted reader address, the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from service.commands import main as cli
from service.http import appkeys
from service.review import accounts, portals
from service.store.keys import Keys
from tests.clients import MakeClient

Client = TestClient[Any, Any]
ARTICLE = "ha-noi/2019/07/hop-tac"
# Nothing here is scored: without a model (the slowest part of start-up) captchas work all the same.
FAST = {"model_path": "/nonexistent/spam-model.skops", "captcha_pool_target": 0, "captcha_render_workers": 1}


async def test_a_key_is_shown_once_and_only_its_hash_is_stored(redis: Redis) -> None:
    """add returns the key; the store holds its sha256, never the key itself."""
    keys = Keys()
    portal, key = await portals.add(redis, keys, "hanoi-portal")
    assert key.startswith(portals.KEY_PREFIX) and len(key) > 40
    dump = str(await redis.hgetall(keys.portals())) + str(await redis.hgetall(keys.portal_keys()))
    assert key not in dump and accounts.secret_digest(key) in dump
    assert await portals.authenticate(redis, keys, key) == portal
    assert [p.name for p in await portals.list_all(redis, keys)] == ["hanoi-portal"]


async def test_names_are_unique_and_checked(redis: Redis) -> None:
    """A second portal of the same name is a conflict; a malformed name is refused."""
    keys = Keys()
    await portals.add(redis, keys, "hanoi")
    with pytest.raises(portals.PortalExists):
        await portals.add(redis, keys, "hanoi")
    with pytest.raises(portals.errors.BadRequest):
        await portals.add(redis, keys, "Not A Name!")


async def test_rotate_and_remove_stop_the_old_key(redis: Redis) -> None:
    """After rotate the old key fails and the new one works; after remove neither works."""
    keys = Keys()
    _, old = await portals.add(redis, keys, "hanoi")
    new = await portals.rotate(redis, keys, "hanoi")
    assert await portals.authenticate(redis, keys, old) is None
    assert await portals.authenticate(redis, keys, new) is not None
    await portals.remove(redis, keys, "hanoi")
    assert await portals.authenticate(redis, keys, new) is None
    with pytest.raises(portals.PortalNotFound):
        await portals.remove(redis, keys, "hanoi")


def keys_of(client: Client) -> Keys:
    assert client.app is not None
    return client.app[appkeys.KEYS]


async def _captcha(client: Client, headers: dict[str, str]) -> int:
    resp = await client.post("/v1/captchas", json={"article_id": ARTICLE}, headers=headers)
    return resp.status


async def test_a_valid_key_makes_the_passed_on_address_the_client(make_client: MakeClient, redis: Redis) -> None:
    """With a portal key, each reader address has its own rate limit (one captcha each here)."""
    client = await make_client(**FAST, captcha_issue_limit=1, captcha_test_code="TEST1")
    _, key = await portals.add(redis, client.app[appkeys.KEYS], "hanoi")  # type: ignore[index]
    reader_a = {portals.KEY_HEADER: key, portals.CLIENT_IP_HEADER: "203.0.113.7"}
    reader_b = {"Authorization": f"Bearer {key}", portals.CLIENT_IP_HEADER: "2001:db8::1"}
    assert await _captcha(client, reader_a) == 201
    assert await _captcha(client, reader_b) == 201  # another reader: not limited by the first
    assert await _captcha(client, reader_a) == 429  # the same reader again: limited


async def test_without_a_key_the_address_header_is_ignored(make_client: MakeClient) -> None:
    """Anyone can send X-Duyet-Client-IP; without a key it changes nothing (no spoofing)."""
    client = await make_client(**FAST, captcha_issue_limit=1, captcha_test_code="TEST1")
    assert await _captcha(client, {portals.CLIENT_IP_HEADER: "203.0.113.7"}) == 201
    assert await _captcha(client, {portals.CLIENT_IP_HEADER: "203.0.113.8"}) == 429


async def test_a_wrong_key_is_refused_not_ignored(make_client: MakeClient) -> None:
    """An unknown portal key is a JSON 401, so a misconfigured portal notices at once."""
    client = await make_client(**FAST)
    resp = await client.post(
        "/v1/captchas",
        json={},
        headers={portals.KEY_HEADER: "dpk_not-a-real-key", portals.CLIENT_IP_HEADER: "203.0.113.7"},
    )
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_portal_key"


@pytest.mark.parametrize("address", [None, "", "not-an-ip", "203.0.113.7, 10.0.0.1"])
async def test_a_key_without_a_reader_address_is_refused(
    make_client: MakeClient, redis: Redis, address: str | None
) -> None:
    """A portal must pass one valid reader address, or its readers would share one rate limit."""
    client = await make_client(**FAST)
    _, key = await portals.add(redis, client.app[appkeys.KEYS], "hanoi")  # type: ignore[index]
    headers = {portals.KEY_HEADER: key}
    if address is not None:
        headers[portals.CLIENT_IP_HEADER] = address
    resp = await client.post("/v1/captchas", json={}, headers=headers)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "client_ip_required"


async def test_moderator_tokens_pass_through_untouched(make_client: MakeClient) -> None:
    """A Bearer token that is not a portal key is left for the moderator routes to judge."""
    client = await make_client(**FAST, captcha_test_code="TEST1")
    resp = await client.post("/v1/captchas", json={}, headers={"Authorization": "Bearer dyt_someone"})
    assert resp.status == 201


def test_cli_prints_the_key_once_and_lists_without_it(
    redis_url: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`duyet portals add` prints a working key; `list` shows the name but never a key."""
    common = ["--redis-url", redis_url, "--data-dir", str(tmp_path)]
    name = "cli-portal-" + tmp_path.name[-8:].lower().replace("_", "-")
    assert cli.main(["portals", *common, "add", name]) == 0
    added = capsys.readouterr().out
    key = added.strip().splitlines()[-1]
    assert key.startswith(portals.KEY_PREFIX)
    assert cli.main(["portals", *common, "list"]) == 0
    listed = capsys.readouterr().out
    assert name in listed and key not in listed
    assert cli.main(["portals", *common, "add", name]) == 1  # exists
    assert "exists" in capsys.readouterr().out
    assert cli.main(["portals", *common, "remove", name]) == 0
