"""The model registry: versioned artifacts with their cards, the current and shadow versions.

Artifacts are stored in Redis (base64 strings of ~1 MB, under one `{models}` hash tag), not in a
shared directory: every replica that reaches the store finds every version, with no shared
filesystem to mount, back up or keep in sync, and a promotion is one MULTI. Each replica writes a
version to a local cache directory (`<data_dir>/model-cache/<version>/`) only to load it with
`SpamModel.load`, which checks the artifact's SHA-256 against its card and refuses untrusted types,
exactly as for the shipped file.

A card matching its artifact proves nothing to someone who can write both: each version is also
signed with a key derived from the service secret (service.spam.signing), by `put`, and checked on
promotion, on shadowing and on every load, so a version written into the store by anyone without
the secret is refused and the replica keeps the model it has.

No current version in the registry means "the shipped file" (`DUYET_MODEL_PATH`). Promotions,
rollbacks and shadow changes are published on `keys.model_channel()`; running services reload
(service.spam.reload). Every change is audited in `keys.model_audit()`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from service import errors
from service.spam.card import card_path
from service.spam.signing import sign, signing_key, verify
from service.store import channels
from service.store.keys import Keys

if TYPE_CHECKING:  # loading a model imports scikit-learn: the `duyet model` command does not need it
    from service.spam.model import SpamModel

ARTIFACT_NAME = "spam-model.skops"


class ModelVersionNotFound(errors.NotFound):
    code = "model_version_not_found"


class NothingToRollBack(errors.Conflict):
    code = "nothing_to_roll_back"


def _now_ms() -> int:
    return int(time.time() * 1000)


async def put(redis: Redis, keys: Keys, artifact: Path, *, secret: bytes) -> dict[str, Any]:
    """Store an artifact, its card and their signature under the card's version (idempotent);
    return the card. `secret` is the service secret (settings.secret_bytes)."""
    blob, card_text = await asyncio.to_thread(lambda: (artifact.read_bytes(), card_path(artifact).read_text("utf-8")))
    card: dict[str, Any] = json.loads(card_text)
    if hashlib.sha256(blob).hexdigest() != card.get("artifact_sha256"):
        raise errors.BadRequest(f"{artifact} does not match its card; refusing to register it", code="bad_artifact")
    version = str(card["version"])
    card_json = json.dumps(card, ensure_ascii=False, sort_keys=True)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.model_artifact(version), base64.b64encode(blob).decode("ascii"))
        pipe.hset(keys.model_cards(), version, card_json)
        pipe.hset(keys.model_signatures(), version, sign(signing_key(secret), blob, card_json))
        await pipe.execute()
    return card


async def _signed(redis: Redis, keys: Keys, version: str, secret: bytes) -> tuple[bytes, str]:
    """The artifact and card of `version`, read together and checked against their signature
    (ModelVersionNotFound, or UnsignedModel when they are not what a holder of the secret stored)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(keys.model_artifact(version))
        pipe.hget(keys.model_cards(), version)
        pipe.hget(keys.model_signatures(), version)
        blob_b64, card_json, signature = await pipe.execute()
    if blob_b64 is None or card_json is None:
        raise ModelVersionNotFound(f"no model version {version!r} in the registry", version=version)
    blob = base64.b64decode(blob_b64)
    verify(signing_key(secret), blob, str(card_json), str(signature) if signature else None, version)
    return blob, str(card_json)


async def card(redis: Redis, keys: Keys, version: str) -> dict[str, Any]:
    raw = await redis.hget(keys.model_cards(), version)
    if raw is None:
        raise ModelVersionNotFound(f"no model version {version!r} in the registry", version=version)
    found: dict[str, Any] = json.loads(raw)
    return found


async def cards(redis: Redis, keys: Keys) -> list[dict[str, Any]]:
    """Every registered version's card, oldest first."""
    raw: dict[Any, Any] = await redis.hgetall(keys.model_cards())
    found = [json.loads(v) for v in raw.values()]
    return sorted(found, key=lambda c: (str(c.get("created", "")), str(c.get("version", ""))))


async def current(redis: Redis, keys: Keys) -> str | None:
    value = await redis.get(keys.model_current())
    return str(value) if value else None


async def shadow(redis: Redis, keys: Keys) -> str | None:
    value = await redis.get(keys.model_shadow())
    return str(value) if value else None


async def history(redis: Redis, keys: Keys) -> list[str]:
    return [str(v) for v in await redis.lrange(keys.model_history(), 0, -1)]


async def audit(redis: Redis, keys: Keys, event: str, by: str, **fields: Any) -> None:
    entry = {"event": event, "by": by, "at": _now_ms(), **fields}
    await redis.xadd(keys.model_audit(), {k: str(v) for k, v in entry.items()}, maxlen=10000, approximate=True)


async def audit_log(redis: Redis, keys: Keys, count: int = 50) -> list[dict[str, str]]:
    """The newest audit entries, newest first."""
    rows: list[Any] = list(await redis.xrevrange(keys.model_audit(), count=count) or [])
    return [{"id": str(xid), **{str(k): str(v) for k, v in (f or {}).items()}} for xid, f in rows]


async def _announce(redis: Redis, keys: Keys, event: str, version: str | None) -> None:
    await channels.publish(redis, keys.model_channel(), json.dumps({"event": event, "version": version}))


async def promote(
    redis: Redis, keys: Keys, version: str, by: str, reason: str = "", forced: bool = False, *, secret: bytes
) -> None:
    """Make `version` current everywhere: remember the previous one for rollback, audit, announce.
    An unknown version is refused, and so is one whose signature does not hold (UnsignedModel)."""
    await _signed(redis, keys, version, secret)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(keys.model_current())
                previous = await pipe.get(keys.model_current())
                pipe.multi()  # type: ignore[no-untyped-call]
                if previous and previous != version:
                    pipe.lpush(keys.model_history(), previous)
                    pipe.ltrim(keys.model_history(), 0, 99)
                pipe.set(keys.model_current(), version)
                await pipe.execute()
                break
            except WatchError:
                continue
    await audit(
        redis,
        keys,
        "forced_promotion" if forced else "promoted",
        by,
        version=version,
        previous=previous or "",
        reason=reason,
    )
    await _announce(redis, keys, "promoted", version)


async def rollback(redis: Redis, keys: Keys, by: str, reason: str = "") -> str | None:
    """Return to the version that was current before; None means back to the shipped file."""
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(keys.model_current(), keys.model_history())
                now = await pipe.get(keys.model_current())
                if not now:
                    raise NothingToRollBack("no promoted model to roll back; the shipped file is in use")
                previous = await pipe.lindex(keys.model_history(), 0)
                pipe.multi()  # type: ignore[no-untyped-call]
                if previous:
                    pipe.lpop(keys.model_history())
                    pipe.set(keys.model_current(), previous)
                else:
                    pipe.delete(keys.model_current())
                await pipe.execute()
                break
            except WatchError:
                continue
    target = str(previous) if previous else None
    await audit(redis, keys, "rolled_back", by, version=target or "(shipped file)", previous=now, reason=reason)
    await _announce(redis, keys, "rolled_back", target)
    return target


async def set_shadow(redis: Redis, keys: Keys, version: str | None, by: str, *, secret: bytes) -> None:
    """Start (a version) or stop (None) scoring every submission with a candidate beside the current model."""
    if version is None:
        await redis.delete(keys.model_shadow())
    else:
        await _signed(redis, keys, version, secret)
        await redis.set(keys.model_shadow(), version)
    await audit(redis, keys, "shadow", by, version=version or "(off)")
    await _announce(redis, keys, "shadow", version)


async def fetch(redis: Redis, keys: Keys, version: str, cache_dir: Path, *, secret: bytes) -> Path:
    """The artifact of `version` on local disk (written once per replica), card beside it; both
    checked against the version's signature, the local copy as well (UnsignedModel)."""
    target = cache_dir / version / ARTIFACT_NAME
    signature = await redis.hget(keys.model_signatures(), version)
    if signature is not None and await asyncio.to_thread(_cached_matches, target, secret, str(signature)):
        return target
    blob, card_json = await _signed(redis, keys, version, secret)
    await asyncio.to_thread(_write, target, blob, card_json)
    return target


def _cached_matches(target: Path, secret: bytes, signature: str) -> bool:
    """Whether this replica's copy is the signed version (a changed copy is written again)."""
    try:
        blob, card_json = target.read_bytes(), card_path(target).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(sign(signing_key(secret), blob, card_json), signature)


def _write(target: Path, blob: bytes, card_json: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write under temporary names, then rename: another process never sees half a file. The names
    # are this writer's own: replicas sharing a data directory fetch the same version at once.
    own = f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp_blob, tmp_card = target.with_suffix(own), target.with_suffix(".card" + own)
    tmp_blob.write_bytes(blob)
    tmp_card.write_text(card_json, encoding="utf-8")
    tmp_card.replace(card_path(target))
    tmp_blob.replace(target)


async def load(redis: Redis, keys: Keys, version: str, cache_dir: Path, *, secret: bytes) -> SpamModel:
    """A verified model of `version`, loaded in a thread (the event loop keeps serving)."""
    path = await fetch(redis, keys, version, cache_dir, secret=secret)
    from service.spam.model import SpamModel

    return await asyncio.to_thread(SpamModel.load, path)


def cache_dir_for(data_dir: Path) -> Path:
    return data_dir / "model-cache"
