"""Connecting to Redis: one pool per process, standalone, Sentinel or Cluster, with short timeouts.

Short timeouts matter: a hung Redis must turn into a quick 503 (and a not-ready /readyz), never
into requests that wait forever.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlparse

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from service.settings import Settings

log = logging.getLogger(__name__)


def _common(settings: Settings) -> dict[str, Any]:
    return {
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": min(settings.redis_timeout, 0.5),
        # No automatic retry: a command that timed out may still run when the store resumes, and
        # running a script twice (an enqueue, a decision) is not harmless. The health check below
        # replaces idle connections the store dropped; a failure otherwise is a 503 the caller
        # may retry, with the same idempotent id.
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 15,
        "decode_responses": True,
    }


async def prepare(redis: Redis) -> None:
    """Learn a cluster's slot map before the first request: a fresh cluster client meeting a burst
    of first commands opens a connection per command to each node while it learns the map, and
    some of them fail (redis-py 8.1, bench/cluster_scaling.py). A store not reachable yet is
    left for the first request to find (a 503 until it is)."""
    if isinstance(redis, RedisCluster):
        try:
            await redis.initialize()
        except RedisError as exc:
            log.warning("the cluster is not reachable at start-up (%s); retrying on first use", type(exc).__name__)


def connect(url: str, settings: Settings) -> Redis:
    """A client for `url`. Cluster clients quack like `Redis` for everything we use."""
    opts = _common(settings)
    if url.startswith("redis+sentinel://"):
        # redis+sentinel://host:port[,host:port]/master_name
        parsed = urlparse(url)
        hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in parsed.netloc.split(",")]
        master = parsed.path.strip("/") or "mymaster"
        # The sentinels get the data nodes' short timeouts: a sentinel whose machine is gone (packets
        # dropped, no refusal) costs a connect timeout before the next one is asked, not the kernel's
        # (minutes). They keep redis-py's own retries: without them a failover was never followed
        # (tests/test_failover.py), as one failed read from a sentinel counts as no primary at all.
        to_sentinels = {k: opts[k] for k in ("socket_timeout", "socket_connect_timeout")}
        sentinel = Sentinel(hosts, sentinel_kwargs=to_sentinels)  # type: ignore[no-untyped-call]
        client: Redis = sentinel.master_for(master, **opts)
        return client
    if settings.redis_cluster or parse_qs(urlparse(url).query).get("cluster") == ["true"]:
        clean = url.split("?", 1)[0]
        opts.pop("health_check_interval")
        # Per node, as the standalone pool's limit (redis-py's default, 100, is refused past, not waited for).
        cluster: Any = RedisCluster.from_url(clean, max_connections=256, **opts)
        return cluster  # type: ignore[no-any-return]
    return Redis.from_url(url, max_connections=256, **opts)
