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

import argparse
import ipaddress
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from service import appkeys, errors, tokens
from service.keys import Keys
from service.web import Handler

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


def presented_key(request: web.Request) -> str | None:
    """The portal key a request carries: X-Duyet-Portal-Key, or a Bearer token shaped like one.

    Moderator tokens (another prefix) pass through untouched for `service.moderators`."""
    key = request.headers.get(KEY_HEADER, "").strip()
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(KEY_PREFIX):
        return token
    return None


def reader_address(value: str | None) -> str:
    """The reader's address a portal passed on, canonical (so bans and rate limits match it)."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        raise ClientAddressRequired(
            f"a portal must pass the reader's IP address in {CLIENT_IP_HEADER}", header=CLIENT_IP_HEADER
        ) from None


@web.middleware
async def portal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With a valid portal key, the reader's address is the one the portal passed on.

    Runs inside the edge's context middleware (which set the peer's address) and inside the error
    middleware (so a bad key is a JSON 401). A wrong key is refused rather than ignored: a
    misconfigured portal should learn it at once, not have all its readers share one rate limit."""
    key = presented_key(request)
    if key is None:
        return await handler(request)
    portal = await authenticate(request.app[appkeys.REDIS], request.app[appkeys.KEYS], key)
    if portal is None:
        raise InvalidPortalKey("the portal key is not valid")
    request[appkeys.CLIENT] = reader_address(request.headers.get(CLIENT_IP_HEADER))
    request[appkeys.PORTAL] = portal.name
    return await handler(request)


# --------------------------------------------------------------------------- CLI
def add_portals_parser(sub: Any) -> None:
    from service.cli import add_common

    parser = sub.add_parser("portals", help="manage portals that post from their back end (API keys)")
    add_common(parser)
    actions = parser.add_subparsers(dest="action", required=True)
    add_p = actions.add_parser("add", help="register a portal and print its API key once")
    add_p.add_argument("name")
    actions.add_parser("list", help="list portals (never keys)")
    rm = actions.add_parser("remove", help="delete a portal; its key stops working")
    rm.add_argument("name")
    rot = actions.add_parser("rotate", help="give a portal a new key (printed once); the old one stops working")
    rot.add_argument("name")
    for p in (parser, add_p, rm, rot):
        p.set_defaults(func=cmd_portals)


def cmd_portals(args: argparse.Namespace) -> int:
    from service.cli import run_with_redis, settings_from_args

    settings = settings_from_args(args)
    keys = Keys(settings.key_prefix, settings.partitions)

    async def main(redis: Redis) -> int:
        try:
            if args.action == "add":
                portal, key = await add(redis, keys, args.name)
                print(f"created portal {portal.name}; API key (shown once, keep it on the portal's server):\n{key}")
            elif args.action == "list":
                for portal in await list_all(redis, keys):
                    created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(portal.created_at_ms / 1000))
                    print(f"{portal.name}\t{created} UTC")
            elif args.action == "remove":
                await remove(redis, keys, args.name)
                print(f"removed portal {args.name}")
            elif args.action == "rotate":
                key = await rotate(redis, keys, args.name)
                print(f"new key for portal {args.name} (shown once; the old one no longer works):\n{key}")
        except errors.DuyetError as exc:
            print(f"duyet: {exc.message}", flush=True)
            return 1
        return 0

    return run_with_redis(settings, main)
