"""Queue changes as events, published on Redis pub/sub (service.http.streams serves them to live UIs).

A script that changes the queue publishes its event itself (PUBLISH inside the script, the payload
built here by `payload`), so no crash between the change and its event loses the event.
Events are a hint for live UIs ("something changed, refresh this row"), not the record: the
decision stream is. A UI that misses one (a dropped connection) re-reads the queue. Events carry
no personal data.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.store.keys import Keys

log = logging.getLogger(__name__)


def payload(kind: str, **data: Any) -> str:
    """An event's message, as the scripts publish it and live UIs read it."""
    return json.dumps({"type": str(kind), **{k: _plain(v) for k, v in data.items()}}, separators=(",", ":"))


async def publish(redis: Redis, keys: Keys, kind: str, **data: Any) -> None:
    """Announce a queue change; a failure is logged, never raised (the change itself is stored)."""
    try:
        await redis.publish(keys.events_channel(), payload(kind, **data))
    except RedisError as exc:
        log.warning("queue event %s not published: %s", kind, type(exc).__name__)


def _plain(value: Any) -> Any:
    return str(value) if hasattr(value, "value") else value
