"""Accounts that prove who they are with a bearer secret: moderators (tokens) and portals (API keys).

A secret is 256 random bits behind a prefix saying what it is for, shown once when the account is
created or its secret rotated. Only its SHA-256 is stored (a copy of the store logs nobody in); the
secret is random enough that a plain hash needs no salt or slow function. Each kind of account
keeps two hashes: name -> account JSON (with the digest in it), and digest -> name, so a secret
finds its account in one lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis

from service import errors
from service.store.keys import Keys

A = TypeVar("A")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
MAX_SECRET_LENGTH = 100


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)  # 32 bytes = 256 bits


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class AccountBook(Generic[A]):
    """One kind of account: where it is stored, how its secrets look, and how it reads back."""

    noun: str  # "moderator", "portal": what error messages call one
    accounts_key: Callable[[Keys], str]  # hash: name -> account JSON
    index_key: Callable[[Keys], str]  # hash: secret digest -> name
    prefix: str  # every secret starts with it, so a secret says what it opens
    digest_field: str  # the account JSON's field holding the secret's digest
    parse: Callable[[str, dict[str, Any]], A]  # (name, account JSON) -> the account
    exists: type[errors.Conflict]
    not_found: type[errors.NotFound]

    def validate_name(self, name: str) -> None:
        if not NAME_RE.fullmatch(name):  # match() would let a trailing newline through
            raise errors.BadRequest(
                f"a {self.noun} name is 2-32 of a-z 0-9 _ . - starting with a letter or digit", code="invalid_name"
            )

    async def add(self, redis: Redis, keys: Keys, name: str, fields: dict[str, Any]) -> tuple[A, str]:
        """Create an account with `fields`; returns it and its secret (the only time that is visible)."""
        self.validate_name(name)
        secret = new_secret(self.prefix)
        data = {**fields, "created_at_ms": int(time.time() * 1000), self.digest_field: secret_digest(secret)}
        # HSETNX first: of two concurrent adds of one name, exactly one wins and indexes its secret.
        if not await redis.hsetnx(self.accounts_key(keys), name, json.dumps(data)):
            raise self.exists(f"a {self.noun} with this name exists", name=name)
        await redis.hset(self.index_key(keys), data[self.digest_field], name)
        return self.parse(name, data), secret

    async def find_data(self, redis: Redis, keys: Keys, name: str) -> dict[str, Any] | None:
        """The stored account JSON of `name`, or None."""
        raw: Any = await redis.hget(self.accounts_key(keys), name)
        return None if raw is None else dict(json.loads(raw))

    async def data(self, redis: Redis, keys: Keys, name: str) -> dict[str, Any]:
        """The stored account JSON of `name`; `not_found` when there is none."""
        found = await self.find_data(redis, keys, name)
        if found is None:
            raise self.not_found(f"no such {self.noun}", name=name)
        return found

    async def save_data(self, redis: Redis, keys: Keys, name: str, data: dict[str, Any]) -> None:
        """Write back an account's JSON (a change that leaves its secret alone)."""
        await redis.hset(self.accounts_key(keys), name, json.dumps(data))

    async def get(self, redis: Redis, keys: Keys, name: str) -> A:
        return self.parse(name, await self.data(redis, keys, name))

    async def list_all(self, redis: Redis, keys: Keys) -> list[A]:
        """Every account, by name."""
        rows: Any = await redis.hgetall(self.accounts_key(keys))
        return [self.parse(n, json.loads(rows[n])) for n in sorted(rows)]

    async def remove(self, redis: Redis, keys: Keys, name: str) -> None:
        """Delete an account; its secret stops working at once."""
        data = await self.data(redis, keys, name)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.index_key(keys), data[self.digest_field])
            pipe.hdel(self.accounts_key(keys), name)
            await pipe.execute()

    async def rotate(self, redis: Redis, keys: Keys, name: str) -> str:
        """Replace an account's secret (the old one stops working at once); returns the new one."""
        data = await self.data(redis, keys, name)
        secret = new_secret(self.prefix)
        old = data[self.digest_field]
        data[self.digest_field] = secret_digest(secret)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.index_key(keys), old)
            pipe.hset(self.index_key(keys), data[self.digest_field], name)
            pipe.hset(self.accounts_key(keys), name, json.dumps(data))
            await pipe.execute()
        return secret

    async def authenticate(self, redis: Redis, keys: Keys, secret: str) -> A | None:
        """The account `secret` belongs to, or None."""
        if not secret.startswith(self.prefix) or len(secret) > MAX_SECRET_LENGTH:
            return None
        wanted = secret_digest(secret)
        name: Any = await redis.hget(self.index_key(keys), wanted)
        if name is None:
            return None
        data = await self.find_data(redis, keys, name)
        # Found by digest; compare again in constant time so a stale index entry never counts.
        if data is None or not hmac.compare_digest(str(data[self.digest_field]), wanted):
            return None
        return self.parse(name, data)
