"""Connecting to Redis: one pool per process, standalone, Sentinel or Cluster, with short timeouts.

Short timeouts matter: a hung Redis must turn into a quick 503 (and a not-ready /readyz), never
into requests that wait forever.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from service.settings import Settings


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


def connect(url: str, settings: Settings) -> Redis:
    """A client for `url`. Cluster clients quack like `Redis` for everything we use."""
    opts = _common(settings)
    if url.startswith("redis+sentinel://"):
        # redis+sentinel://host:port[,host:port]/master_name
        parsed = urlparse(url)
        hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in parsed.netloc.split(",")]
        master = parsed.path.strip("/") or "mymaster"
        sentinel = Sentinel(hosts, socket_timeout=opts["socket_timeout"])  # type: ignore[no-untyped-call]
        client: Redis = sentinel.master_for(master, **opts)
        return client
    if settings.redis_cluster or parse_qs(urlparse(url).query).get("cluster") == ["true"]:
        clean = url.split("?", 1)[0]
        opts.pop("health_check_interval")
        cluster: Any = RedisCluster.from_url(clean, **opts)
        return cluster  # type: ignore[no-any-return]
    return Redis.from_url(url, max_connections=256, **opts)
