"""`duyet model`: the model registry (list, promote, rollback, shadow, audit)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.spam.registry import (
    audit,
    audit_log,
    card,
    cards,
    current,
    promote,
    put,
    rollback,
    set_shadow,
    shadow,
)
from service.store.keys import Keys

# Audit fields shown in their own columns; any other field follows as key=value.
_AUDIT_COLUMNS = ("id", "at", "event", "version", "by")


# --------------------------------------------------------------------------- CLI
def _summary(c: dict[str, Any]) -> str:
    test = (c.get("retraining") or {}).get("challenger") or (c.get("metrics") or {}).get("test") or {}
    f1 = test.get("macro_f1")
    return f"{c.get('version')}  created {c.get('created', '?')}" + (f"  macro-F1 {f1:.4f}" if f1 is not None else "")


def _audit_line(row: dict[str, str]) -> str:
    """One audit entry for a person: local time, event, version, who, then the rest."""
    at = row.get("at", "")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(at) / 1000)) if at.isdigit() else at or "?"
    extra = "  ".join(f"{k}={v}" for k, v in row.items() if k not in _AUDIT_COLUMNS and v)
    return f"{when}  {row.get('event', '?'):<18} {row.get('version') or '-':<24} by {row.get('by') or '?'}" + (
        f"  {extra}" if extra else ""
    )


def add_model_parser(sub: Any) -> None:
    from service.commands.common import add_common

    parser = sub.add_parser("model", help="the model registry: list, show, promote, roll back, shadow")
    add_common(parser)
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="registered versions, the current and shadow ones marked")
    show = actions.add_parser("show", help="one version's card (default: the current one)")
    show.add_argument("version", nargs="?", default=None)
    promote_p = actions.add_parser("promote", help="make a registered version current (audited)")
    promote_p.add_argument("version")
    promote_p.add_argument("--reason", default="manual promotion")
    rollback_p = actions.add_parser("rollback", help="return to the previously current version (audited)")
    rollback_p.add_argument("--reason", default="manual rollback")
    shadow_p = actions.add_parser("shadow", help="score every submission with a candidate too (or --off)")
    shadow_p.add_argument("version", nargs="?", default=None)
    shadow_p.add_argument("--off", action="store_true")
    register_p = actions.add_parser("register", help="store an artifact (and its card) in the registry")
    register_p.add_argument("artifact", type=Path)
    audit_p = actions.add_parser("audit", help="the newest registry events (local time)")
    audit_p.add_argument("--json", action="store_true", help="one JSON object per line (epoch ms), for machines")
    for p in (parser, *actions.choices.values()):
        p.set_defaults(func=cmd_model)


def cmd_model(args: argparse.Namespace) -> int:
    import getpass

    from service.commands.common import run_with_redis, settings_from_args

    settings = settings_from_args(args)
    keys = Keys(settings.key_prefix, settings.partitions)
    who = f"cli:{getpass.getuser()}"

    async def main(redis: Redis) -> int:
        try:
            return await _run(redis, args, keys, who, settings.secret_bytes)
        except errors.DuyetError as exc:
            print(f"duyet model: {exc}")
            return 1

    return run_with_redis(settings, main)


async def _run(redis: Redis, args: argparse.Namespace, keys: Keys, who: str, secret: bytes) -> int:
    action = args.action
    if action == "list":
        cur, sh = await current(redis, keys), await shadow(redis, keys)
        found = await cards(redis, keys)
        if not found:
            print("no registered versions; the shipped file is in use")
        for c in found:
            mark = "*" if c.get("version") == cur else ("s" if c.get("version") == sh else " ")
            print(f"{mark} {_summary(c)}")
        if cur is None and found:
            print("(no current version: the shipped file is in use)")
        return 0
    if action == "show":
        version = args.version or await current(redis, keys)
        if version is None:
            print("no current version: the shipped file is in use")
            return 1
        print(json.dumps(await card(redis, keys, version), indent=2, ensure_ascii=False))
        return 0
    if action == "promote":
        await promote(redis, keys, args.version, who, args.reason, secret=secret)
        print(f"promoted {args.version}")
        return 0
    if action == "rollback":
        target = await rollback(redis, keys, who, args.reason)
        print(f"rolled back to {target or 'the shipped file'}")
        return 0
    if action == "shadow":
        if args.off or args.version is None:
            await set_shadow(redis, keys, None, who, secret=secret)
            print("shadow mode off")
        else:
            await set_shadow(redis, keys, args.version, who, secret=secret)
            print(f"shadow mode: {args.version} scores beside the current model")
        return 0
    if action == "register":
        c = await put(redis, keys, args.artifact, secret=secret)
        await audit(redis, keys, "registered", who, version=c["version"])
        print(f"registered {c['version']}")
        return 0
    if action == "audit":
        rows = await audit_log(redis, keys)
        for row in rows:
            print(json.dumps(row, ensure_ascii=False) if args.json else _audit_line(row))
        if not rows and not args.json:
            print("no registry events yet")
        return 0
    raise AssertionError(action)
