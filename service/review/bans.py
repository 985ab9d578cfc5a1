"""Bans: an admin stops a client address (exact, its IPv4 /24 or IPv6 /64) or a phone number from
submitting, for a while. A banned submission gets the same generic 403 whatever matched, so a
spammer learns nothing about what was banned.

Phones are stored only as an HMAC under the service secret (a leaked ban list reveals no
numbers); each ban is a key with a TTL, so it lifts itself, plus an index entry for listing.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.store.keys import Keys
from service.text import phone_e164

MAX_TTL_S = 365 * 86400


class BanKind(StrEnum):
    CLIENT = "client"
    PHONE = "phone"


class Banned(errors.Forbidden):
    """Generic on purpose: the message never says what matched."""

    code = "forbidden"

    def __init__(self) -> None:
        super().__init__("this submission is not allowed")


class BanNotFound(errors.NotFound):
    code = "ban_not_found"


@dataclass(frozen=True)
class Ban:
    kind: BanKind
    value: str  # an address, a network (a.b.c.0/24, x::/64) or a phone HMAC
    reason: str
    by: str
    created_at_ms: int
    expires_at_ms: int

    def public(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "value": self.value,
            "reason": self.reason,
            "by": self.by,
            "created_at_ms": self.created_at_ms,
            "expires_at_ms": self.expires_at_ms,
        }


def phone_hash(secret: bytes, phone: str) -> str:
    return hmac.new(secret, phone.strip().encode(), hashlib.sha256).hexdigest()[:32]


def normalise_client(value: str) -> str:
    """An exact address, or a /24 (IPv4) or /64 (IPv6) network; anything else is a BadRequest."""
    if not value.isprintable():
        raise errors.BadRequest("expected an IP address or a /24 or /64 network", code="invalid_ban")
    try:
        if "/" not in value:
            return str(ipaddress.ip_address(value.strip()))
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise errors.BadRequest("expected an IP address or a /24 or /64 network", code="invalid_ban") from None
    allowed = 24 if net.version == 4 else 64
    if net.prefixlen != allowed:
        raise errors.BadRequest(f"networks are banned as /{allowed} for IPv{net.version}", code="invalid_ban")
    return str(net)


@functools.lru_cache(maxsize=4096)  # every submission asks; parsing an address is the slow part
def client_candidates(client: str) -> tuple[str, ...]:
    """What a ban on this client could be keyed by: the address and its /24 or /64."""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return (client,)
    prefix = 24 if ip.version == 4 else 64
    return (str(ip), str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False)))


async def add(redis: Redis, keys: Keys, kind: BanKind, value: str, ttl_s: int, by: str, reason: str = "") -> Ban:
    """Ban `value` (already normalised or hashed) for `ttl_s` seconds; a second ban replaces the first."""
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise errors.BadRequest(f"ttl_seconds must be 1-{MAX_TTL_S}", code="invalid_ban")
    now = int(time.time() * 1000)
    ban = Ban(kind, value, reason[:500], by, now, now + ttl_s * 1000)
    body = json.dumps({"reason": ban.reason, "by": by, "created_at_ms": now, "expires_at_ms": ban.expires_at_ms})
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.ban(kind, value), body, ex=ttl_s)
        pipe.zadd(keys.bans_index(), {f"{kind.value}:{value}": ban.expires_at_ms})
        await pipe.execute()
    return ban


async def remove(redis: Redis, keys: Keys, kind: BanKind, value: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.ban(kind, value))
        pipe.zrem(keys.bans_index(), f"{kind.value}:{value}")
        deleted, _ = await pipe.execute()
    if not deleted:
        raise BanNotFound("no such ban", kind=kind.value, value=value)


async def list_active(redis: Redis, keys: Keys, limit: int = 1000) -> list[Ban]:
    now = int(time.time() * 1000)
    await redis.zremrangebyscore(keys.bans_index(), "-inf", now)  # lifted by their TTL already
    members: Any = await redis.zrange(keys.bans_index(), 0, limit - 1)
    out: list[Ban] = []
    for member in members:
        kind, _, value = member.partition(":")
        raw = await redis.get(keys.ban(kind, value))
        if raw is None:
            continue
        data = json.loads(raw)
        out.append(Ban(BanKind(kind), value, data["reason"], data["by"], data["created_at_ms"], data["expires_at_ms"]))
    return out


def ban_keys(keys: Keys, secret: bytes, client: str, phone: str | None) -> list[str]:
    """The keys any of which, when present, bans a submission from `client` with `phone` (E.164)."""
    names = [keys.ban(BanKind.CLIENT, c) for c in client_candidates(client)]
    if phone:
        names.append(keys.ban(BanKind.PHONE, phone_hash(secret, phone)))
    return names


async def check(redis: Redis, keys: Keys, secret: bytes, client: str, phone: str | None) -> None:
    """Raise `Banned` when the client address, its network or the phone is banned (one round trip)."""
    if await redis.exists(*ban_keys(keys, secret, client, phone)):
        raise Banned()


# --------------------------------------------------------------------------- CLI


def resolve_value(kind: BanKind, value: str, secret: bytes, region: str = "VN") -> str:
    """What a ban typed by an admin is keyed by. A phone is hashed in E.164, as submissions'
    phones are checked (typed "0911 222 333" it must still match "+84911222333"); anything that
    is neither a valid number nor a listed hash is refused, not stored as a ban that never matches."""
    if kind is BanKind.CLIENT:
        return normalise_client(value)
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value  # already a phone hash (from a listing)
    e164 = phone_e164(value, region)
    if e164 is None:
        raise errors.BadRequest("expected a valid phone number (or a phone hash as listed)", code="invalid_ban")
    return phone_hash(secret, e164)
