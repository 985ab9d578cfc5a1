"""The render worker processes: started with the app, and fed from the event loop.

Rendering runs in a process pool, never on the event loop (`service.captcha.render` is what the
workers run). Readers' renders go to workers at normal (slightly lowered) priority; the pool
refill has its own workers at idle priority, so it never slows down a reader.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from service.captcha import render as captcha_render
from service.metrics import Metrics
from service.settings import Settings
from service.tasks import WorkerPool

RENDER_BATCH = 4  # at most this many readers' images per task, so none waits long behind others
SHUTDOWN_TIMEOUT = 10.0  # seconds to wait for the render workers at shutdown


def render_workers(settings: Settings) -> int:
    return settings.captcha_render_workers or os.cpu_count() or 1


def start_workers(settings: Settings, workers: int, idle: bool) -> tuple[ProcessPoolExecutor, list[Any]]:
    # forkserver: workers never inherit the event loop, sockets or threads of this process.
    executor = WorkerPool(
        workers,
        "forkserver",
        initializer=captcha_render.warm,
        initargs=(settings.captcha_width, settings.captcha_height, idle),
    )
    # Start every worker now: a worker spawned by the first burst would hold up the event loop.
    return executor, [asyncio.wrap_future(executor.submit(captcha_render.ping)) for _ in range(workers)]


class Renderer:
    """Renders in the worker processes: readers' images and audio, and the pool's chunks."""

    def __init__(
        self, settings: Settings, metrics: Metrics, executor: Executor, workers: int, refill_executor: Executor
    ) -> None:
        self._width = settings.captcha_width
        self._height = settings.captcha_height
        self._metrics = metrics
        self._executor = executor  # renders a reader waits for
        self._refill_executor = refill_executor  # the pool's, at idle priority
        self.workers = workers
        # Image renders waiting for a free worker, and tasks in flight (see `image`).
        self._waiting: list[tuple[str, asyncio.Future[bytes]]] = []
        self._inflight = 0

    async def image(self, code: str) -> bytes:
        """A PNG of `code`, rendered in a worker. Renders asked for while every worker is busy go
        out together, one task per free worker: a ProcessPoolExecutor task costs the event loop
        and its threads ~1.5 ms of CPU (pipes, pickling, thread wake-ups), a fifth of a render."""
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append((code, fut))
        self._dispatch()
        return await fut

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting and self._inflight < self.workers:
            free = self.workers - self._inflight
            n = min(RENDER_BATCH, -(-len(self._waiting) // free))
            batch, self._waiting = self._waiting[:n], self._waiting[n:]
            self._inflight += 1
            task = loop.run_in_executor(
                self._executor, captcha_render.render_images, [c for c, _ in batch], self._width, self._height
            )
            task.add_done_callback(functools.partial(self._rendered, batch))

    def _rendered(self, batch: list[tuple[str, asyncio.Future[bytes]]], task: asyncio.Future[Any]) -> None:
        self._inflight -= 1
        error = task.exception() if not task.cancelled() else asyncio.CancelledError()
        for i, (_, fut) in enumerate(batch):
            if fut.done():  # its reader went away
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                png, seconds = task.result()[i]
                self._metrics.captcha_render.labels("image").observe(seconds)
                fut.set_result(png)
        self._dispatch()

    async def pool_images(self, codes: list[str]) -> list[bytes]:
        """PNGs of `codes`, rendered in one task on the pool's idle-priority workers."""
        loop = asyncio.get_running_loop()
        rendered = await loop.run_in_executor(
            self._refill_executor, captcha_render.render_images, codes, self._width, self._height
        )
        for _, seconds in rendered:
            self._metrics.captcha_render.labels("image").observe(seconds)
        return [png for png, _ in rendered]

    async def audio(self, code: str, lang: str) -> bytes:
        """A WAV of `code` read aloud in `lang`."""
        loop = asyncio.get_running_loop()
        data, seconds = await loop.run_in_executor(self._executor, captcha_render.render_audio, code, lang)
        self._metrics.captcha_render.labels("audio").observe(seconds)
        return data
