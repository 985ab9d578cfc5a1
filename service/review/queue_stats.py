"""How the review queue is doing: the moderators' stats page, the Prometheus gauges, and the
background task that keeps both honest (expired leases back to pending, gauges fresh).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from service.metrics import Metrics
from service.review.states import Event, State
from service.review.transitions import expire_leases
from service.store.keys import Keys
from service.store.scripts import Scripts
from service.tasks import Background

log = logging.getLogger(__name__)

_DEPTH_ORDER = (State.PENDING, State.CLAIMED, State.APPROVED, State.REJECTED)


@dataclass
class _Depth:
    """Comments per state and the oldest open submission (epoch ms), summed over partitions."""

    per_state: dict[State, int]
    oldest_ms: float | None = None


def _queue_depth(pipe: Pipeline, keys: Keys, p: int) -> None:
    """Queue, on `pipe`, the five reads `_add_depth` expects for partition `p`."""
    pipe.zcard(keys.pending(p))
    pipe.zcard(keys.claims(p))
    pipe.zcard(keys.decided(p, State.APPROVED))
    pipe.zcard(keys.decided(p, State.REJECTED))
    pipe.zrange(keys.open(p), 0, 0, withscores=True)


def _add_depth(depth: _Depth, replies: list[Any]) -> None:
    for state, n in zip(_DEPTH_ORDER, replies[:4], strict=True):
        depth.per_state[state] += int(n)
    if replies[4]:
        first = float(replies[4][0][1])
        depth.oldest_ms = first if depth.oldest_ms is None else min(depth.oldest_ms, first)


async def stats(redis: Redis, keys: Keys, now_ms: int | None = None, sample: int = 10000) -> dict[str, Any]:
    """Depth per state, oldest waiting age, claims held, decisions per moderator, score distribution."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    depth = _Depth(dict.fromkeys(State, 0))
    claims_by: dict[str, int] = {}
    per_mod: dict[str, dict[str, int]] = {}
    buckets = [0] * 10
    sampled = 0
    hour_ago, day_ago = now - 3600_000, now - 86400_000
    for p in range(keys.partitions):
        async with redis.pipeline(transaction=False) as pipe:
            _queue_depth(pipe, keys, p)
            pipe.zrange(keys.claims(p), 0, 999)
            pipe.zrange(keys.pending(p), 0, sample - 1)
            counts = await pipe.execute()
        _add_depth(depth, counts)
        holders, pending = counts[5], counts[6]
        async with redis.pipeline(transaction=False) as pipe:
            for cid in holders:
                pipe.hget(keys.comment(p, cid), "claimed_by")
            for cid in pending:
                pipe.hget(keys.comment(p, cid), "spam_probability")
            values = await pipe.execute() if (holders or pending) else []
        for holder in values[: len(holders)]:
            if holder:
                claims_by[holder] = claims_by.get(holder, 0) + 1
        for prob in values[len(holders) :]:
            if prob:
                buckets[min(9, int(float(prob) * 10))] += 1
                sampled += 1
        entries: Any = await redis.xrange(keys.decisions(p), min=str(day_ago), max="+", count=100_000)
        _count_decisions(entries, hour_ago, per_mod)
    oldest_ms = None if depth.oldest_ms is None else int(depth.oldest_ms)
    return {
        "depth": {s.value: n for s, n in depth.per_state.items()},
        "oldest_pending_seconds": None if oldest_ms is None else max(0.0, (now - oldest_ms) / 1000),
        "claims_held": {"total": depth.per_state[State.CLAIMED], "by_moderator": claims_by},
        "decisions_by_moderator": per_mod,
        "score_distribution": {
            "buckets": [{"from": i / 10, "to": (i + 1) / 10, "count": c} for i, c in enumerate(buckets)],
            "pending_sampled": sampled,
        },
    }


def _count_decisions(entries: list[tuple[str, dict[str, str]]], hour_ago: int, per_mod: dict[str, Any]) -> None:
    """Decisions per moderator in the last hour and day, from the audit stream in time order. An
    undone decision (a `reopened` entry after it) does not count: the comment is back in the queue."""
    standing: dict[str, tuple[str, bool]] = {}  # comment id -> (moderator, within the last hour)
    for _, entry in entries:
        if entry.get("event") == Event.DECIDED:
            standing[entry.get("id", "")] = (entry.get("by", ""), int(entry.get("at", 0)) >= hour_ago)
        elif entry.get("event") == Event.REOPENED:
            standing.pop(entry.get("id", ""), None)
    for moderator, recent in standing.values():
        slot = per_mod.setdefault(moderator, {"last_hour": 0, "last_24h": 0})
        slot["last_24h"] += 1
        slot["last_hour"] += int(recent)


async def update_gauges(redis: Redis, keys: Keys, metrics: Metrics) -> None:
    """Set the queue depth and oldest-waiting gauges from the store."""
    depth = _Depth(dict.fromkeys(State, 0))
    for p in range(keys.partitions):
        async with redis.pipeline(transaction=False) as pipe:
            _queue_depth(pipe, keys, p)
            _add_depth(depth, await pipe.execute())
    for state, n in depth.per_state.items():
        metrics.queue_depth.labels(state.value).set(n)
    oldest = depth.oldest_ms
    metrics.queue_oldest.set(0 if oldest is None else max(0.0, time.time() - oldest / 1000))


async def maintenance_loop(
    redis: Redis, keys: Keys, scripts: Scripts, metrics: Metrics, every_s: float, bg: Background
) -> None:
    """The service's background task: return expired leases to pending even when nobody claims,
    and keep the queue gauges fresh. Each replica runs one; the scripts make that harmless."""
    while bg.running:
        try:
            expired = await expire_leases(redis, keys, scripts)
            if expired:
                metrics.lease_expiries.inc(len(expired))
            await update_gauges(redis, keys, metrics)
        except RedisError as exc:
            log.warning("queue maintenance failed: %s", type(exc).__name__)
        await bg.pause(every_s)
