"""Portals that post from their own back end (server-to-server mode): API keys and the reader's address.

A portal whose server relays its readers' comments presents its key (`X-Duyet-Portal-Key: <key>`
or `Authorization: Bearer <key>`) and passes the reader's address on in `X-Duyet-Client-IP`. That
header is believed only with a valid key: the reader's address then drives rate limits, bans and
the repeat signal just as a browser's own address would, instead of every reader of the portal
sharing its server's address. Without a key the header is ignored, so nobody can spoof it.

Keys are 256 random bits shown once; only their sha256 is stored (as for moderator tokens): a copy
of the store lets nobody post as a portal.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review import tokens
from service.store.keys import Keys

KEY_PREFIX = "dpk_"
KEY_HEADER = "X-Duyet-Portal-Key"
CLIENT_IP_HEADER = "X-Duyet-Client-IP"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")


@dataclass(frozen=True)
class Portal:
    name: str
    created_at_ms: int

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "created_at_ms": self.created_at_ms}


class PortalExists(errors.Conflict):
    code = "portal_exists"


class PortalNotFound(errors.NotFound):
    code = "portal_not_found"


class InvalidPortalKey(errors.Unauthorized):
    code = "invalid_portal_key"


class ClientAddressRequired(errors.BadRequest):
    code = "client_ip_required"


def new_key() -> str:
    return tokens.new(KEY_PREFIX)


def key_digest(key: str) -> str:
    return tokens.digest(key)


def _account(name: str, raw: str) -> tuple[Portal, dict[str, Any]]:
    data = json.loads(raw)
    return Portal(name, int(data["created_at_ms"])), data


def _validate_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise errors.BadRequest(
            "a portal name is 2-32 of a-z 0-9 _ . - starting with a letter or digit", code="invalid_name"
        )


async def add(redis: Redis, keys: Keys, name: str) -> tuple[Portal, str]:
    """Register a portal; returns it and its key (the only time the key is visible)."""
    _validate_name(name)
    key = new_key()
    portal = Portal(name, int(time.time() * 1000))
    account = {"created_at_ms": portal.created_at_ms, "key_sha256": key_digest(key)}
    # HSETNX first: of two concurrent adds of one name, exactly one wins and indexes its key.
    if not await redis.hsetnx(keys.portals(), name, json.dumps(account)):
        raise PortalExists("a portal with this name exists", name=name)
    await redis.hset(keys.portal_keys(), key_digest(key), name)
    return portal, key


async def list_all(redis: Redis, keys: Keys) -> list[Portal]:
    rows: Any = await redis.hgetall(keys.portals())
    return sorted((_account(n, raw)[0] for n, raw in rows.items()), key=lambda p: p.name)


async def _data(redis: Redis, keys: Keys, name: str) -> dict[str, Any]:
    raw: Any = await redis.hget(keys.portals(), name)
    if raw is None:
        raise PortalNotFound("no such portal", name=name)
    return _account(name, raw)[1]


async def remove(redis: Redis, keys: Keys, name: str) -> None:
    """Delete a portal; its key stops working at once."""
    data = await _data(redis, keys, name)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.portal_keys(), data["key_sha256"])
        pipe.hdel(keys.portals(), name)
        await pipe.execute()


async def rotate(redis: Redis, keys: Keys, name: str) -> str:
    """Give a portal a new key (the old one stops working at once); returns the new one."""
    data = await _data(redis, keys, name)
    key = new_key()
    old = data["key_sha256"]
    data["key_sha256"] = key_digest(key)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.portal_keys(), old)
        pipe.hset(keys.portal_keys(), data["key_sha256"], name)
        pipe.hset(keys.portals(), name, json.dumps(data))
        await pipe.execute()
    return key


async def authenticate(redis: Redis, keys: Keys, key: str) -> Portal | None:
    """The portal a key belongs to, or None."""
    return await tokens.find(
        redis, keys.portal_keys(), keys.portals(), key, prefix=KEY_PREFIX, field="key_sha256", parse=_account
    )


def reader_address(value: str | None) -> str:
    """The reader's address a portal passed on, canonical (so bans and rate limits match it)."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        raise ClientAddressRequired(
            f"a portal must pass the reader's IP address in {CLIENT_IP_HEADER}", header=CLIENT_IP_HEADER
        ) from None


# --------------------------------------------------------------------------- CLI
