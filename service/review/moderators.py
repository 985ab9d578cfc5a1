"""Moderator accounts, roles and authentication.

A moderator logs in with a token (a bearer secret, shown once and stored only as a digest, as
`service.review.accounts` keeps every account) or, in the web UI, with a password (scrypt). Tokens
are never logged. How a request proves who it is lives at the edge, in `service.http.auth.require`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review.accounts import NAME_RE, AccountBook
from service.settings import Settings
from service.store.keys import Keys

TOKEN_PREFIX = "dyt_"
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


def _moderator(name: str, data: dict[str, Any]) -> Moderator:
    return Moderator(name, Role(data["role"]), int(data["created_at_ms"]))


_BOOK = AccountBook(
    noun="moderator",
    accounts_key=Keys.moderators,
    index_key=Keys.moderator_tokens,
    prefix=TOKEN_PREFIX,
    digest_field="token_sha256",
    parse=_moderator,
    exists=ModeratorExists,
    not_found=ModeratorNotFound,
)


async def add(redis: Redis, keys: Keys, name: str, role: Role) -> tuple[Moderator, str]:
    """Create an account; returns it and its token (the only time the token is visible)."""
    return await _BOOK.add(redis, keys, name, {"role": role.value})


async def get(redis: Redis, keys: Keys, name: str) -> Moderator:
    return await _BOOK.get(redis, keys, name)


async def list_all(redis: Redis, keys: Keys) -> list[Moderator]:
    return await _BOOK.list_all(redis, keys)


async def remove(redis: Redis, keys: Keys, name: str) -> None:
    await _BOOK.remove(redis, keys, name)


async def rotate(redis: Redis, keys: Keys, name: str) -> str:
    """Replace a moderator's token (the old one stops working at once); returns the new one."""
    return await _BOOK.rotate(redis, keys, name)


async def set_password(redis: Redis, keys: Keys, name: str, password: str) -> None:
    data = await _BOOK.data(redis, keys, name)
    data["password"] = hash_password(password)
    await _BOOK.save_data(redis, keys, name, data)


async def authenticate_token(redis: Redis, keys: Keys, token: str) -> Moderator | None:
    """The moderator a token belongs to, or None."""
    return await _BOOK.authenticate(redis, keys, token)


# Checked when the name is unknown or has no password, so every failure costs one scrypt (no user oracle).
_DUMMY_PASSWORD = "scrypt$" + "00" * 16 + "$" + "00" * 32


async def authenticate_password(redis: Redis, keys: Keys, name: str, password: str) -> Moderator | None:
    """The moderator if `password` is theirs (set by `duyet moderators passwd`), else None; as slow either way."""
    found = await _BOOK.find_data(redis, keys, name) if NAME_RE.fullmatch(name) else None
    data = found or {}
    mod = _moderator(name, data) if found is not None else None
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
        data = await _BOOK.find_data(redis, keys, DEV_ADMIN) or {}
        data["role"] = Role.ADMIN.value
        await _BOOK.save_data(redis, keys, DEV_ADMIN, data)
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
