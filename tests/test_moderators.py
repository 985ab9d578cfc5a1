"""Moderator accounts: tokens shown once, stored hashed, rotated and removed; the CLI; the dev admin."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from redis.asyncio import Redis

from service import errors
from service.commands import main as cli
from service.review import moderators
from service.review.moderators import Role
from service.store.keys import Keys
from tests.clients import MakeClient
from tests.queue_helpers import auth

K = Keys()


async def test_token_is_256_bits_and_stored_only_hashed(redis: Redis) -> None:
    """A new token carries 256 random bits; the store holds only its sha256."""
    mod, token = await moderators.add(redis, K, "alice", Role.MODERATOR)
    assert len(token.removeprefix(moderators.TOKEN_PREFIX)) == 43  # 32 bytes, urlsafe base64
    dump = str(await redis.hgetall(K.moderators())) + str(await redis.hgetall(K.moderator_tokens()))
    assert token not in dump and hashlib.sha256(token.encode()).hexdigest() in dump
    assert await moderators.authenticate_token(redis, K, token) == mod
    assert await moderators.authenticate_token(redis, K, token + "x") is None


async def test_rotate_and_remove_revoke_tokens(redis: Redis) -> None:
    """Rotating replaces the token at once; removing an account makes its token worthless."""
    _, old = await moderators.add(redis, K, "bob", Role.ADMIN)
    new = await moderators.rotate(redis, K, "bob")
    assert await moderators.authenticate_token(redis, K, old) is None
    assert (await moderators.authenticate_token(redis, K, new)) is not None
    with pytest.raises(moderators.ModeratorExists):
        await moderators.add(redis, K, "bob", Role.MODERATOR)
    await moderators.remove(redis, K, "bob")
    assert await moderators.authenticate_token(redis, K, new) is None
    with pytest.raises(errors.NotFound):
        await moderators.rotate(redis, K, "bob")
    with pytest.raises(errors.BadRequest):
        await moderators.add(redis, K, "Bad Name!", Role.MODERATOR)


def test_passwords_hash_with_scrypt() -> None:
    """Passwords are stored as salted scrypt and checked in constant time."""
    stored = moderators.hash_password("mật khẩu dài")
    assert stored.startswith("scrypt$") and "mật" not in stored
    assert moderators.check_password("mật khẩu dài", stored)
    assert not moderators.check_password("sai", stored)


async def test_admin_manages_moderators_over_http(make_client: MakeClient, redis: Redis) -> None:
    """An admin creates, lists, rotates and removes moderators; the token appears only in the create answer."""
    client = await make_client()
    _, admin = await moderators.add(redis, K, "boss", Role.ADMIN)
    created = await client.post("/v1/moderators", json={"name": "carol"}, headers=auth(admin))
    assert created.status == 201
    token = (await created.json())["token"]
    assert (await client.get("/v1/stats", headers=auth(token))).status == 200
    listed = await (await client.get("/v1/moderators", headers=auth(admin))).json()
    assert [m["name"] for m in listed["items"]] == ["boss", "carol"] and "token" not in str(listed)
    rotated = await (await client.post("/v1/moderators/carol/rotate", headers=auth(admin))).json()
    assert (await client.get("/v1/stats", headers=auth(token))).status == 401
    assert (await client.delete("/v1/moderators/carol", headers=auth(admin))).status == 200
    assert (await client.get("/v1/stats", headers=auth(rotated["token"]))).status == 401


def test_cli_add_list_rotate_remove(redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`duyet moderators add|list|rotate|remove` print a token once and never in the listing."""
    base = ["--redis-url", redis_url, "--data-dir", str(tmp_path)]
    assert cli.main(["moderators", "add", "dana", "--role", "admin", *base]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith(moderators.TOKEN_PREFIX)
    assert cli.main(["moderators", "list", *base]) == 0
    listing = capsys.readouterr().out
    assert "dana\tadmin" in listing and token not in listing
    assert cli.main(["moderators", "rotate", "dana", *base]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] != token
    assert cli.main(["moderators", "remove", "dana", *base]) == 0
    assert cli.main(["moderators", "remove", "dana", *base]) == 1


async def test_dev_admin_created_once(redis: Redis) -> None:
    """ensure_admin creates the local admin only when no admin exists."""
    token = await moderators.ensure_admin(redis, K)
    assert token and (await moderators.authenticate_token(redis, K, token)) is not None
    assert await moderators.ensure_admin(redis, K) is None


@pytest.mark.parametrize("name", ["lan\n", "a", "Lan", "-lan", "x" * 33, "lan an"])
async def test_a_moderator_name_out_of_its_pattern_is_refused(redis: Redis, name: str) -> None:
    """2-32 of a-z 0-9 _ . - starting with a letter or digit, all of it: a trailing newline
    passed `re.match` with `$`; the OpenAPI document declares the same pattern."""
    with pytest.raises(errors.BadRequest) as refused:
        await moderators.add(redis, Keys(), name, Role.MODERATOR)
    assert refused.value.code == "invalid_name"
    assert await redis.hlen(Keys().moderators()) == 0
