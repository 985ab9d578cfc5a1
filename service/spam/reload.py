"""Switching models in a running service: promotions, rollbacks and shadow mode, without a restart.

`ModelFollower` (started by the app after the model is loaded) loads the registry's current
version at start-up (else the shipped file stays), then listens on `keys.model_channel()`.
On a message it re-reads the registry (the source of truth: a message only says "look again"),
loads the new artifact in a thread and `swap`s it into the scorer; the scoring process
(service.spam.process) is told to load the same file at the same moment, so the two loads overlap
and the process scores with the new version as soon as this one does (it used to load it only on
the first batch that needed it, seconds later). A batch already taken
finishes with the model it started with, so no request fails during the switch. Pub/sub drops
messages while a replica is disconnected, so a replica re-reads the registry whenever it
(re)subscribes, and every `RESYNC_S` seconds. The channel is a shard channel under the registry's
`{models}` tag (service.store.channels): on a cluster only that shard carries promotions.
A shadow version is handed to the app's `ShadowingScorer` (service.spam.shadow).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service import tasks as background
from service.spam import registry
from service.spam.card import card_path
from service.spam.loading import load_verified
from service.spam.model import SpamModel
from service.spam.scorer import SpamScorer
from service.spam.shadow import ShadowingScorer
from service.store.channels import ShardSubscription
from service.store.keys import Keys

log = logging.getLogger(__name__)
RESYNC_S = 30.0


def _shipped_version(path: Path) -> str | None:
    try:
        return str(json.loads(card_path(path).read_text(encoding="utf-8")).get("version"))
    except (OSError, ValueError):
        return None


class ModelFollower:
    """Keeps one replica's scorer on the registry's current (and shadow) version."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        scorer: SpamScorer,
        model_path: Path,
        cache: Path,
        model_error: list[str],
        *,
        secret: bytes,
    ) -> None:
        self._redis, self._keys, self._scorer = redis, keys, scorer
        self._secret = secret  # registry versions must be signed with it (service.spam.signing)
        self._model_path, self._cache = model_path, cache
        # Why the model is not ready (shared with readiness); cleared once a version loads.
        self.model_error = model_error
        self._lock = asyncio.Lock()

    async def sync(self) -> dict[str, Any]:
        """Make this replica score with the registry's current version (or the shipped file) and
        shadow with its shadow version; what changed. A version that fails to load is logged and
        skipped: the replica keeps the model it has."""
        async with self._lock:
            redis, keys, scorer, cache = self._redis, self._keys, self._scorer, self._cache
            changed: dict[str, Any] = {}
            wanted = await registry.current(redis, keys)
            try:
                if wanted is not None and wanted != scorer.version:
                    path = await registry.fetch(redis, keys, wanted, cache, secret=self._secret)
                    scorer.preload(path, wanted)  # the scoring process loads it meanwhile, not after
                    scorer.swap(await asyncio.to_thread(SpamModel.load, path))
                    changed["current"] = wanted
                elif wanted is None:
                    shipped = await asyncio.to_thread(_shipped_version, self._model_path)
                    if shipped is not None and scorer.version is not None and shipped != scorer.version:
                        scorer.swap(await asyncio.to_thread(load_verified, self._model_path))
                        changed["current"] = shipped
                if changed:
                    self.model_error.clear()
                    log.info("now scoring with model %s", scorer.version)
            except Exception as exc:  # a bad version must not take the replica down
                log.error("could not switch to model %s: %s", wanted or "(shipped)", exc)
                changed["error"] = str(exc)
            if isinstance(scorer, ShadowingScorer):
                shadow = await registry.shadow(redis, keys)
                if shadow != scorer.shadow_version:
                    try:
                        await scorer.set_shadow(
                            await registry.load(redis, keys, shadow, cache, secret=self._secret) if shadow else None
                        )
                        changed["shadow"] = shadow
                    except Exception as exc:
                        log.error("could not load shadow model %s: %s", shadow, exc)
                        changed["error"] = str(exc)
            return changed

    async def follow(self, bg: background.Background) -> None:
        """Follow the model channel; re-read the registry on every message and every RESYNC_S seconds."""
        while bg.running:
            try:
                async with ShardSubscription(self._redis, [self._keys.model_channel()]) as subscription:
                    await self.sync()  # whatever was announced while we were not listening
                    loop = asyncio.get_running_loop()
                    last = loop.time()
                    while bg.running:
                        message = await subscription.get(1.0)
                        if message is not None or loop.time() - last >= RESYNC_S:
                            await self.sync()
                            last = loop.time()
            except (RedisError, OSError) as exc:
                log.warning("model channel lost (%s); retrying", type(exc).__name__)
                await bg.pause(1.0)
