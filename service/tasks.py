"""Stopping background tasks reliably.

redis-py can swallow a cancellation that lands in the middle of a command, leaving a loop
running and app shutdown waiting forever; so we cancel again until the task ends, with a bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
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
