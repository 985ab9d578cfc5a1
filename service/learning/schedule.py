"""Scheduled retraining: a retraining whenever `DUYET_RETRAIN_EVERY_LABELS` new labels arrived.

Runs in the service's background (never on the request path), one replica at a time, the training
itself in a worker process so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service import tasks as background
from service.learning.corpus import DEFAULT_CORPUS
from service.learning.retraining import retrain
from service.review import labels
from service.settings import Settings
from service.store.keys import Keys
from service.store.scripts import Scripts

log = logging.getLogger(__name__)


async def schedule_loop(
    redis: Redis, keys: Keys, settings: Settings, bg: background.Background, seed: Path | None = DEFAULT_CORPUS
) -> None:
    """Retrain when `retrain_every_labels` new labels arrived; one replica at a time (a lock with a
    TTL), training in a worker process. Never on the request path; errors are logged, never fatal."""
    every = settings.retrain_every_labels
    lock_ttl = 3600
    scripts = Scripts(redis)
    pool = background.WorkerPool(1, "spawn")
    try:
        while await bg.pause(settings.retrain_check_seconds):
            try:
                n = await labels.count(redis, keys)
                seen = int(await redis.get(keys.labels_seen()) or 0)
                if n - seen < every:
                    continue
                token = f"{time.time()}"
                if not await redis.set(keys.retrain_lock(), token, nx=True, ex=lock_ttl):
                    continue
                try:
                    # A stop drops a training in flight (its labels stay new for the next check).
                    finished, out = await bg.unless_stopped(
                        retrain(redis, keys, settings, seed=seed, by="schedule", executor=pool)
                    )
                    if not finished or out is None:
                        break
                    log.info(
                        "scheduled retraining: challenger %s %s",
                        out.challenge.card["version"],
                        "promoted" if out.promoted else "not promoted: " + "; ".join(out.challenge.gate.reasons),
                    )
                finally:
                    # Shielded: a stop cancels repeatedly, and a lock left behind would hold off
                    # every replica's retraining for an hour.
                    await asyncio.shield(scripts.lock_release(redis, keys.retrain_lock(), token))
            except (RedisError, ValueError, OSError) as exc:
                log.warning("scheduled retraining skipped: %s", exc)
    finally:
        # Not `with`: its shutdown waits, with the event loop blocked, for a training in flight
        # (half a minute on the full corpus). That training is dropped instead; the labels it
        # would have used are still new at the next check.
        background.terminate_pool(pool)
