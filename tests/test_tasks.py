"""Stopping background loops: redis-py can swallow a cancellation, so loops stop when asked.

On Python 3.11 `asyncio.wait_for` drops a cancellation that lands as the awaited call finishes
(CPython gh-86296, fixed in 3.12), and redis-py wraps every socket write in it when a socket
timeout is set (ours always is): a loop of Redis commands could outlive 10,000 `cancel()`s. So
every loop checks `Background.running` and `Background.stop` only asks.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from service import tasks as background
from service.store import connection as store

pytestmark = pytest.mark.redis


async def test_stop_ends_a_loop_of_redis_commands_every_time(make_settings: Any) -> None:
    """40 times out of 40 a loop of back-to-back GETs ends, by itself, soon after a stop is asked."""
    settings = make_settings()
    client = store.connect(settings.redis_url, settings)
    rounds = {"commands": 0}

    async def busy(bg: background.Background) -> None:
        while bg.running:  # no sleep: the stop always lands mid-command
            await client.get("duyet:test:nothing")
            rounds["commands"] += 1

    rng = random.Random(7)
    try:
        for _ in range(40):
            bg = background.Background()
            task = bg.start(busy(bg), name="busy")
            await asyncio.sleep(rng.uniform(0.0, 0.005))
            loop = asyncio.get_running_loop()
            began = loop.time()
            await bg.stop(within_s=5)
            assert task.done() and not task.cancelled()  # it returned: no cancel was needed
            assert loop.time() - began < 1.0
    finally:
        await client.aclose()
    assert rounds["commands"] > 40  # the loops were really talking to Redis


async def test_pause_returns_at_once_when_stopped() -> None:
    """A loop sleeping between rounds wakes when a stop is asked, not at the end of its sleep."""
    bg = background.Background()
    woke: list[bool] = []

    async def sleeper() -> None:
        while await bg.pause(60):
            pass
        woke.append(True)

    task = bg.start(sleeper(), name="sleeper")
    await asyncio.sleep(0.05)
    await asyncio.wait_for(bg.stop(), 2)
    assert woke == [True] and task.done() and not task.cancelled()


async def test_unless_stopped_ends_long_work_and_reports_it() -> None:
    """Work awaited through unless_stopped is cancelled by a stop; finished work returns its result."""
    bg = background.Background()
    assert await bg.unless_stopped(asyncio.sleep(0, result=7)) == (True, 7)
    outcome: list[tuple[bool, Any]] = []

    async def waits() -> None:
        outcome.append(await bg.unless_stopped(asyncio.sleep(60)))

    bg.start(waits(), name="waits")
    await asyncio.sleep(0.05)
    await asyncio.wait_for(bg.stop(), 2)
    assert outcome == [(False, None)]
