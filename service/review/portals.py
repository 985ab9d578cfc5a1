"""Portals that post from their own back end (server-to-server mode): API keys and the reader's address.

A portal whose server relays its readers' comments presents its key (`X-Duyet-Portal-Key: <key>`
or `Authorization: Bearer <key>`) and passes the reader's address on in `X-Duyet-Client-IP`. That
header is believed only with a valid key: the reader's address then drives rate limits, bans and
the repeat signal just as a browser's own address would, instead of every reader of the portal
sharing its server's address. Without a key the header is ignored, so nobody can spoof it.

Keys are bearer secrets shown once and stored only as a digest (`service.review.accounts`, as for
moderator tokens): a copy of the store lets nobody post as a portal.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review.accounts import AccountBook
from service.store.keys import Keys

KEY_PREFIX = "dpk_"
KEY_HEADER = "X-Duyet-Portal-Key"
CLIENT_IP_HEADER = "X-Duyet-Client-IP"


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


def _portal(name: str, data: dict[str, Any]) -> Portal:
    return Portal(name, int(data["created_at_ms"]))


_BOOK = AccountBook(
    noun="portal",
    accounts_key=Keys.portals,
    index_key=Keys.portal_keys,
    prefix=KEY_PREFIX,
    digest_field="key_sha256",
    parse=_portal,
    exists=PortalExists,
    not_found=PortalNotFound,
)


async def add(redis: Redis, keys: Keys, name: str) -> tuple[Portal, str]:
    """Register a portal; returns it and its key (the only time the key is visible)."""
    return await _BOOK.add(redis, keys, name, {})


async def list_all(redis: Redis, keys: Keys) -> list[Portal]:
    return await _BOOK.list_all(redis, keys)


async def remove(redis: Redis, keys: Keys, name: str) -> None:
    """Delete a portal; its key stops working at once."""
    await _BOOK.remove(redis, keys, name)


async def rotate(redis: Redis, keys: Keys, name: str) -> str:
    """Give a portal a new key (the old one stops working at once); returns the new one."""
    return await _BOOK.rotate(redis, keys, name)


async def authenticate(redis: Redis, keys: Keys, key: str) -> Portal | None:
    """The portal a key belongs to, or None."""
    return await _BOOK.authenticate(redis, keys, key)


def reader_address(value: str | None) -> str:
    """The reader's address a portal passed on, canonical (so bans and rate limits match it)."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        raise ClientAddressRequired(
            f"a portal must pass the reader's IP address in {CLIENT_IP_HEADER}", header=CLIENT_IP_HEADER
        ) from None
