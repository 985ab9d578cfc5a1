"""The model registry: versioned artifacts with their cards, the current and shadow versions.

Artifacts are stored in Redis (base64 strings of ~1 MB, under one `{models}` hash tag), not in a
shared directory: every replica that reaches the store finds every version, with no shared
filesystem to mount, back up or keep in sync, and a promotion is one MULTI. Each replica writes a
version to a local cache directory (`<data_dir>/model-cache/<version>/`) only to load it with
`SpamModel.load`, which checks the artifact's SHA-256 against its card and refuses untrusted types,
exactly as for the shipped file.

No current version in the registry means "the shipped file" (`DUYET_MODEL_PATH`). Promotions,
rollbacks and shadow changes are published on `keys.model_channel()`; running services reload
(service.spam.reload). Every change is audited in `keys.model_audit()`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from service import errors
from service.spam.card import card_path
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


async def put(redis: Redis, keys: Keys, artifact: Path) -> dict[str, Any]:
    """Store an artifact and its card under the card's version (idempotent); return the card."""
    blob, card_text = await asyncio.to_thread(lambda: (artifact.read_bytes(), card_path(artifact).read_text("utf-8")))
    card: dict[str, Any] = json.loads(card_text)
    if hashlib.sha256(blob).hexdigest() != card.get("artifact_sha256"):
        raise errors.BadRequest(f"{artifact} does not match its card; refusing to register it", code="bad_artifact")
    version = str(card["version"])
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.model_artifact(version), base64.b64encode(blob).decode("ascii"))
        pipe.hset(keys.model_cards(), version, json.dumps(card, ensure_ascii=False, sort_keys=True))
        await pipe.execute()
    return card


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
    await redis.publish(keys.model_channel(), json.dumps({"event": event, "version": version}))


async def promote(redis: Redis, keys: Keys, version: str, by: str, reason: str = "", forced: bool = False) -> None:
    """Make `version` current everywhere: remember the previous one for rollback, audit, announce."""
    await card(redis, keys, version)  # refuse an unknown version
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


async def set_shadow(redis: Redis, keys: Keys, version: str | None, by: str) -> None:
    """Start (a version) or stop (None) scoring every submission with a candidate beside the current model."""
    if version is None:
        await redis.delete(keys.model_shadow())
    else:
        await card(redis, keys, version)
        await redis.set(keys.model_shadow(), version)
    await audit(redis, keys, "shadow", by, version=version or "(off)")
    await _announce(redis, keys, "shadow", version)


async def fetch(redis: Redis, keys: Keys, version: str, cache_dir: Path) -> Path:
    """The artifact of `version` on local disk (written once per replica), card beside it."""
    target = cache_dir / version / ARTIFACT_NAME
    if target.exists() and card_path(target).exists():
        return target
    blob_b64 = await redis.get(keys.model_artifact(version))
    card_json = await redis.hget(keys.model_cards(), version)
    if blob_b64 is None or card_json is None:
        raise ModelVersionNotFound(f"no model version {version!r} in the registry", version=version)
    await asyncio.to_thread(_write, target, base64.b64decode(blob_b64), str(card_json))
    return target


def _write(target: Path, blob: bytes, card_json: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write under temporary names, then rename: another process never sees half a file.
    tmp_blob, tmp_card = target.with_suffix(".tmp"), target.with_suffix(".card.tmp")
    tmp_blob.write_bytes(blob)
    tmp_card.write_text(card_json, encoding="utf-8")
    tmp_card.replace(card_path(target))
    tmp_blob.replace(target)


async def load(redis: Redis, keys: Keys, version: str, cache_dir: Path) -> SpamModel:
    """A verified model of `version`, loaded in a thread (the event loop keeps serving)."""
    path = await fetch(redis, keys, version, cache_dir)
    from service.spam.model import SpamModel

    return await asyncio.to_thread(SpamModel.load, path)


def cache_dir_for(data_dir: Path) -> Path:
    return data_dir / "model-cache"
