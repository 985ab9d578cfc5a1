"""Stopping background loops: redis-py can swallow a cancellation, `tasks.stop` must not care.

On Python 3.11 `asyncio.wait_for` drops a cancellation that lands as the awaited call finishes
(CPython gh-86296, fixed in 3.12), and redis-py wraps every socket write in it when a socket
timeout is set (ours always is). Measured here with redis-py 8.1: a bare `cancel()` of a loop of
GETs was lost in 15-70% of tries, and the scheduled-retraining test hung on one.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from service import store
from service import tasks as background

pytestmark = pytest.mark.redis


async def test_stop_ends_a_loop_of_redis_commands_every_time(make_settings: Any) -> None:
    settings = make_settings()
    client = store.connect(settings.redis_url, settings)
    rounds = {"commands": 0}

    async def busy() -> None:
        while True:  # no sleep: a cancellation almost always lands mid-command
            await client.get("duyet:test:nothing")
            rounds["commands"] += 1

    rng = random.Random(7)
    try:
        for _ in range(40):
            task = asyncio.create_task(busy())
            await asyncio.sleep(rng.uniform(0.0, 0.005))
            await background.stop([task], within_s=5)
            assert task.done() and task.cancelled()
    finally:
        await client.aclose()
    assert rounds["commands"] > 40  # the loops were really talking to Redis
