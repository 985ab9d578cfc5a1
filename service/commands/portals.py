"""`duyet portals`: portals that post from their back end, and their API keys."""

from __future__ import annotations

import argparse
import time
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review.portals import (
    add,
    list_all,
    remove,
    rotate,
)
from service.store.keys import Keys


def add_portals_parser(sub: Any) -> None:
    from service.commands.common import add_common

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
    from service.commands.common import run_with_redis, settings_from_args

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
