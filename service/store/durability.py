"""How many machines hold a comment before the reader is told it was received.

Redis replicates asynchronously: a primary acknowledges a write before any replica has it, so a
failover (Sentinel or Cluster promoting a replica after the primary died) drops whatever the
replica had not received yet, even comments already answered 202. With
`DUYET_REDIS_WAIT_REPLICAS=n` the submission waits, after its script, until n replicas of the
partition's primary acknowledge everything written so far (`WAIT n timeout`), and answers 503 when
they do not within `CONFIRM_WAIT_S`: a 202 then means the comment is on n + 1 machines.

WAIT counts only the writes of its own connection, and the submission's script ran on whichever
pooled connection was free. So a tiny write (`Keys.replication_mark`) and the WAIT go together in
one pipeline on one connection: replication is one ordered stream per primary, and once a replica
has the mark it has every write before it, the comment among them. On a Cluster both go to the
primary that owns the partition's slot.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ResponseError

from service import errors
from service.store.keys import Keys

# How long a comment waits for its replicas in all: past a replica's resynchronisation after it
# rejoined (it acknowledges nothing while it loads the primary's snapshot), well short of a
# reader's patience. Each WAIT asks for half the command timeout, so its answer arrives in time.
CONFIRM_WAIT_S = 5.0
_NOREPLICAS_PAUSE_S = 0.1
# Longer than any gap between a comment's write and its WAIT; the mark's value means nothing.
_MARK_TTL_MS = 60_000


async def replicated(redis: Redis, keys: Keys, partition: int, replicas: int, timeout_s: float) -> None:
    """Return once `replicas` replicas hold every write so far to `partition`; `errors.Unavailable`
    (503) when fewer did within `CONFIRM_WAIT_S`. A no-op with `replicas` 0."""
    if replicas <= 0:
        return
    mark = keys.replication_mark(partition)
    route: dict[str, Any] = {}
    if isinstance(redis, RedisCluster):  # WAIT has no key: send it where the mark went
        route["target_nodes"] = redis.get_node_from_key(mark)
    deadline = time.monotonic() + CONFIRM_WAIT_S
    while True:
        wait_ms = max(int(min(timeout_s / 2, deadline - time.monotonic()) * 1000), 1)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(mark, "1", px=_MARK_TTL_MS)
            pipe.execute_command("WAIT", replicas, wait_ms, **route)
            marked, acknowledged = await pipe.execute(raise_on_error=False)
        if isinstance(marked, ResponseError) and str(marked).startswith("NOREPLICAS"):
            # A primary without its replicas (min-replicas-to-write), e.g. one just promoted while the
            # comment's write was in flight: the comment is there, its copy not yet; a replica that
            # rejoins within the wait still confirms it (the reader's 202 instead of a 503).
            acknowledged = 0
            await asyncio.sleep(_NOREPLICAS_PAUSE_S)
        elif isinstance(marked, Exception) or isinstance(acknowledged, Exception):
            raise marked if isinstance(marked, Exception) else acknowledged
        if int(acknowledged) >= replicas:
            return
        if time.monotonic() >= deadline:
            # Stored on the primary but not confirmed elsewhere: the reader may retry (the same
            # Idempotency-Key answers the same comment once it is confirmed).
            raise errors.Unavailable(
                "the store could not confirm the comment on its replicas", code="store_unavailable"
            )
