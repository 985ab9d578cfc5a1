"""`duyet moderators`: accounts, tokens and passwords of moderators."""

from __future__ import annotations

import argparse
import time
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review.moderators import (
    Role,
    add,
    list_all,
    remove,
    rotate,
    set_password,
)
from service.store.keys import Keys


# --------------------------------------------------------------------------- CLI
def add_moderators_parser(sub: Any) -> None:
    from service.commands.common import add_common

    parser = sub.add_parser("moderators", help="manage moderator accounts and tokens")
    actions = parser.add_subparsers(dest="action", required=True)
    add_p = actions.add_parser("add", help="create a moderator and print its token once")
    add_p.add_argument("name")
    add_p.add_argument("--role", choices=[r.value for r in Role], default=Role.MODERATOR.value)
    ls = actions.add_parser("list", help="list moderators (never tokens)")
    rm = actions.add_parser("remove", help="delete a moderator; its token stops working")
    rm.add_argument("name")
    rot = actions.add_parser("rotate", help="give a moderator a new token (printed once); the old one stops working")
    rot.add_argument("name")
    pw = actions.add_parser(
        "passwd", help="set a moderator's password for the web UI (read from the terminal or stdin)"
    )
    pw.add_argument("name")
    for p in (add_p, ls, rm, rot, pw):
        add_common(p)
    for p in (parser, add_p, ls, rm, rot, pw):
        p.set_defaults(func=cmd_moderators)


def cmd_moderators(args: argparse.Namespace) -> int:
    from service.commands.common import run_with_redis, settings_from_args

    settings = settings_from_args(args)
    keys = Keys(settings.key_prefix, settings.partitions)

    async def main(redis: Redis) -> int:
        try:
            if args.action == "add":
                mod, token = await add(redis, keys, args.name, Role(args.role))
                print(f"created {mod.name} ({mod.role.value}); token (shown once, keep it safe):\n{token}")
            elif args.action == "list":
                for mod in await list_all(redis, keys):
                    created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(mod.created_at_ms / 1000))
                    print(f"{mod.name}\t{mod.role.value}\t{created} UTC")
            elif args.action == "remove":
                await remove(redis, keys, args.name)
                print(f"removed {args.name}")
            elif args.action == "rotate":
                token = await rotate(redis, keys, args.name)
                print(f"new token for {args.name} (shown once; the old one no longer works):\n{token}")
            elif args.action == "passwd":
                password = _read_password()
                if len(password) < 8:
                    print("duyet: a password needs at least 8 characters", flush=True)
                    return 1
                await set_password(redis, keys, args.name, password)
                print(f"password set for {args.name}")
        except errors.DuyetError as exc:
            print(f"duyet: {exc.message}", flush=True)
            return 1
        return 0

    return run_with_redis(settings, main)


def _read_password() -> str:
    """From the terminal (asked twice, not echoed), or the first line of stdin when piped."""
    import getpass
    import sys

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        return ""
    return first
