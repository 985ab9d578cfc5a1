"""Stopping background tasks and worker processes reliably.

redis-py can swallow a cancellation that lands in the middle of a command, leaving a loop
running and app shutdown waiting forever; so we cancel again until the task ends, with a bound.
A process pool is stopped with a bound too, and its workers terminated if they do not leave.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


async def stop(tasks: Iterable[asyncio.Task[Any]], within_s: float = 5.0) -> None:
    """Cancel every task (repeatedly, if one ignores it) and wait for all, at most `within_s` seconds."""
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(0.2, max(0.0, deadline - loop.time())))
    for task in pending:
        log.warning("background task %s did not stop within %.0f s", task.get_name(), within_s)


async def stop_pool(executor: ProcessPoolExecutor, started: Iterable[Any], within_s: float, what: str) -> None:
    """Shut a process pool down: let its workers finish starting (shutting one down mid-start can
    deadlock, seen with short-lived test apps), then wait for them, and terminate any still there."""
    starting = [f for f in started if not f.done()]
    if starting:
        await asyncio.wait(starting, timeout=within_s)
    shutdown = asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
    try:
        await asyncio.wait_for(shutdown, within_s)
    except TimeoutError:
        log.warning("%s did not stop in %ss; terminating them", what, within_s)
        terminate_pool(executor)


def terminate_pool(executor: ProcessPoolExecutor) -> None:
    """Kill a pool's workers now, work in flight included, and shut it down without waiting."""
    for proc in list((getattr(executor, "_processes", None) or {}).values()):
        proc.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
