"""Sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis >= 7): how queue events and model promotions travel.

Why sharded pub/sub rather than plain PUBLISH or streams: on a Redis Cluster a plain PUBLISH is
broadcast over the cluster bus to every node, so every shard handles every message and the cost
grows with the cluster, while a shard channel lives in one hash slot and its messages stay in its
shard (its primary and replicas). A Lua script may SPUBLISH only to a channel of its own slot, so
each queue partition has its own events channel under the partition's tag
(`Keys.events_channel(p)`), published by the very script that changes the queue; the model channel
sits under the registry's `{models}` tag. Streams would keep messages for a subscriber that was
away, but nothing here needs that: a message is a hint ("look again"), never the record, and every
subscriber re-reads the state when it (re)connects (the model follower re-reads `model_current`,
a moderator's page its queue).

A subscriber to every queue event subscribes to every partition's channel: on a cluster one
connection per shard holding some of them, which redis-py's `ClusterPubSub` keeps (it follows a
channel to its new primary after a failover); on a single server one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

# On a cluster the subscription waits on one shard's connection at a time, in turn: this long each,
# so a message on another shard waits at most this times the number of shards.
CLUSTER_POLL_S = 0.05


class ShardSubscription:
    """Messages of some shard channels: `async with ShardSubscription(redis, channels) as sub:`,
    then `await sub.get(wait_s)` for each message's data (None when nothing came in time)."""

    def __init__(self, redis: Redis, channels: Sequence[str]) -> None:
        self._redis = redis
        self._channels = list(channels)
        self._cluster = isinstance(redis, RedisCluster)
        self._pubsub: Any = None

    async def __aenter__(self) -> ShardSubscription:
        if self._cluster:
            cluster: Any = self._redis
            await cluster.initialize()  # the slot map says which shard holds each channel
        self._pubsub = self._redis.pubsub()
        try:
            await self._pubsub.ssubscribe(*self._channels)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def get(self, wait_s: float) -> str | None:
        """The data of the next message on any of the channels, or None after `wait_s` seconds.
        Raises RedisError (or OSError) when a connection is lost: subscribe again, and re-read."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            left = deadline - loop.time()
            if self._cluster:
                if not self._pubsub.node_pubsub_mapping:  # every shard let go (a failover): re-subscribe
                    raise RedisError("shard subscriptions lost")
                message = await self._pubsub.get_sharded_message(timeout=max(min(CLUSTER_POLL_S, left), 0.0))
            else:
                message = await self._pubsub.get_message(timeout=max(left, 0.0))
            if message is not None and message.get("type") == "smessage":
                return str(message["data"])
            if left <= 0:
                return None


async def publish(redis: Redis, channel: str, message: str) -> None:
    """SPUBLISH `message` on `channel` (routed to the shard of the channel's slot on a cluster)."""
    await redis.spublish(channel, message)
