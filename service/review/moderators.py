"""Moderator accounts, roles and authentication.

Tokens are 256 random bits, shown once when created or rotated; only their sha256 is stored
(a stolen database does not log anyone in), looked up by that digest and compared again in
constant time. Tokens are never logged. Every view checks access through `require`, the one
place that knows how a request proves who it is (Bearer tokens now; the web UI's session
cookie plugs in here later).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review import tokens
from service.settings import Settings
from service.store.keys import Keys

TOKEN_PREFIX = "dyt_"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
DEV_ADMIN = "admin"


class Role(StrEnum):
    MODERATOR = "moderator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Moderator:
    name: str
    role: Role
    created_at_ms: int

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role.value, "created_at_ms": self.created_at_ms}


class ModeratorExists(errors.Conflict):
    code = "moderator_exists"


class ModeratorNotFound(errors.NotFound):
    code = "moderator_not_found"


def new_token() -> str:
    return tokens.new(TOKEN_PREFIX)


def token_digest(token: str) -> str:
    return tokens.digest(token)


def hash_password(password: str) -> str:
    """scrypt (n=2^14, r=8, p=1), for the web UI's log-in form."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1, dklen=32)
    return hmac.compare_digest(digest.hex(), digest_hex)


def _account(name: str, raw: str) -> tuple[Moderator, dict[str, Any]]:
    data = json.loads(raw)
    return Moderator(name, Role(data["role"]), int(data["created_at_ms"])), data


def _validate_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise errors.BadRequest(
            "a moderator name is 2-32 of a-z 0-9 _ . - starting with a letter or digit", code="invalid_name"
        )


async def add(redis: Redis, keys: Keys, name: str, role: Role) -> tuple[Moderator, str]:
    """Create an account; returns it and its token (the only time the token is visible)."""
    _validate_name(name)
    token = new_token()
    mod = Moderator(name, role, int(time.time() * 1000))
    account = {"role": role.value, "created_at_ms": mod.created_at_ms, "token_sha256": token_digest(token)}
    created = await redis.hsetnx(keys.moderators(), name, json.dumps(account))
    if not created:
        raise ModeratorExists("a moderator with this name exists", name=name)
    await redis.hset(keys.moderator_tokens(), token_digest(token), name)
    return mod, token


async def get(redis: Redis, keys: Keys, name: str) -> Moderator:
    raw: Any = await redis.hget(keys.moderators(), name)
    if raw is None:
        raise ModeratorNotFound("no such moderator", name=name)
    return _account(name, raw)[0]


async def list_all(redis: Redis, keys: Keys) -> list[Moderator]:
    rows: Any = await redis.hgetall(keys.moderators())
    return sorted((_account(n, raw)[0] for n, raw in rows.items()), key=lambda m: m.name)


async def remove(redis: Redis, keys: Keys, name: str) -> None:
    raw: Any = await redis.hget(keys.moderators(), name)
    if raw is None:
        raise ModeratorNotFound("no such moderator", name=name)
    _, data = _account(name, raw)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.moderator_tokens(), data["token_sha256"])
        pipe.hdel(keys.moderators(), name)
        await pipe.execute()


async def rotate(redis: Redis, keys: Keys, name: str) -> str:
    """Replace a moderator's token (the old one stops working at once); returns the new one."""
    raw: Any = await redis.hget(keys.moderators(), name)
    if raw is None:
        raise ModeratorNotFound("no such moderator", name=name)
    _, data = _account(name, raw)
    token = new_token()
    old = data["token_sha256"]
    data["token_sha256"] = token_digest(token)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.moderator_tokens(), old)
        pipe.hset(keys.moderator_tokens(), data["token_sha256"], name)
        pipe.hset(keys.moderators(), name, json.dumps(data))
        await pipe.execute()
    return token


async def set_password(redis: Redis, keys: Keys, name: str, password: str) -> None:
    raw: Any = await redis.hget(keys.moderators(), name)
    if raw is None:
        raise ModeratorNotFound("no such moderator", name=name)
    _, data = _account(name, raw)
    data["password"] = hash_password(password)
    await redis.hset(keys.moderators(), name, json.dumps(data))


async def authenticate_token(redis: Redis, keys: Keys, token: str) -> Moderator | None:
    """The moderator a token belongs to, or None."""
    return await tokens.find(
        redis,
        keys.moderator_tokens(),
        keys.moderators(),
        token,
        prefix=TOKEN_PREFIX,
        field="token_sha256",
        parse=_account,
    )


# Checked when the name is unknown or has no password, so every failure costs one scrypt (no user oracle).
_DUMMY_PASSWORD = "scrypt$" + "00" * 16 + "$" + "00" * 32


async def authenticate_password(redis: Redis, keys: Keys, name: str, password: str) -> Moderator | None:
    """The moderator if `password` is theirs (set by `duyet moderators passwd`), else None; as slow either way."""
    raw: Any = await redis.hget(keys.moderators(), name) if NAME_RE.match(name) else None
    mod, data = _account(name, raw) if raw is not None else (None, {})
    stored = str(data.get("password") or _DUMMY_PASSWORD)
    ok = await asyncio.to_thread(check_password, password, stored)  # scrypt: ~50 ms, off the event loop
    return mod if ok and mod is not None and data.get("password") else None


# --------------------------------------------------------------------------- dev admin
async def ensure_admin(redis: Redis, keys: Keys) -> str | None:
    """Create the local admin when no admin exists; its token, or None when one exists."""
    for mod in await list_all(redis, keys):
        if mod.is_admin:
            return None
    try:
        _, token = await add(redis, keys, DEV_ADMIN, Role.ADMIN)
    except ModeratorExists:
        # An account named admin exists without the admin role: give it a fresh token and the role.
        raw = await redis.hget(keys.moderators(), DEV_ADMIN)
        data = json.loads(raw or "{}")
        data["role"] = Role.ADMIN.value
        await redis.hset(keys.moderators(), DEV_ADMIN, json.dumps(data))
        token = await rotate(redis, keys, DEV_ADMIN)
    return token


def dev_admin_hook(settings: Settings) -> str | None:
    """`duyet serve` in development: make sure an admin exists; the log-in to print under the banner."""
    if settings.production or settings.redis_url is None:
        return None
    from service.store import connection as store

    async def main() -> str | None:
        redis = store.connect(str(settings.redis_url), settings)
        try:
            return await ensure_admin(redis, Keys(settings.key_prefix, settings.partitions))
        finally:
            await redis.aclose()

    token = asyncio.run(main())
    if token:
        return (
            "  moderator log-in (development; the token is shown only this once)\n"
            f"    name {DEV_ADMIN}, role admin, token {token}\n"
            "    send it as 'Authorization: Bearer <token>', or paste it into the moderator UI\n"
        )
    return f"  moderator log-in   an admin exists; `duyet moderators rotate {DEV_ADMIN}` prints a new token\n"
