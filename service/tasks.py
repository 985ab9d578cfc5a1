"""Background loops that stop when asked, and worker processes stopped with a bound.

A loop is never stopped by cancelling it: on Python 3.11 redis-py wraps socket I/O in
`asyncio.wait_for`, which drops a cancellation that lands as the command completes (CPython
gh-86296), so a loop of Redis commands can outlive any number of `cancel()`s. Instead every loop
checks a stop signal between rounds (`Background.running`, `Background.pause`), and work that
may take long (a training) is awaited through `Background.unless_stopped`, where the loop's own
task only waits on futures that cannot swallow a cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import signal
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Background:
    """The background loops of one owner and the signal that stops them."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        """How many tracked tasks are still running."""
        return sum(not t.done() for t in self._tasks)

    @property
    def running(self) -> bool:
        """False once a stop was asked: a loop ends its round and returns."""
        return not self._stopping.is_set()

    def start(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.track(task)
        return task

    def track(self, task: asyncio.Task[Any]) -> None:
        """Stop `task` with the others (a request handler's, say); forgotten when it ends."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def pause(self, seconds: float) -> bool:
        """Sleep up to `seconds`, less if a stop is asked; True while the loop should go on."""
        if self.running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
        return self.running

    async def unless_stopped(self, coro: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
        """Run `coro` to its end unless a stop comes first, then cancel it: (finished, its result)."""
        work = asyncio.ensure_future(coro)
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not work.done():
                await stop([work])
        if work.cancelled():
            return False, None
        return True, work.result()

    async def stop(self, within_s: float = 5.0) -> None:
        """Ask every loop to stop and wait for them; a loop still there after `within_s` (stuck in a
        single call) is cancelled as a last resort."""
        self._stopping.set()
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=within_s)
        if pending:
            await stop(pending, within_s=1.0)


async def stop(tasks: Iterable[asyncio.Task[Any]], within_s: float = 5.0) -> None:
    """Cancel one-shot tasks (repeatedly, if one ignores it) and wait for all, at most `within_s`
    seconds. Not for loops: a loop of Redis commands may swallow every cancel (see above)."""
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


def start_forkserver() -> None:
    """Start the forkserver (once per process) with SIGINT ignored: a process started so keeps
    ignoring it (Python installs its KeyboardInterrupt handler only where SIGINT is not ignored),
    and so do the workers it forks, from their first instruction. Otherwise Ctrl-C that lands
    while a worker is still starting kills it with a traceback, and breaks its pool."""
    if threading.current_thread() is not threading.main_thread():
        multiprocessing.forkserver.ensure_running()  # signal handlers can only be set in the main thread
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _quiet_worker(initializer: Callable[..., object] | None, *initargs: Any) -> None:
    """Every worker's initializer: Ctrl-C in a terminal reaches the whole process group, and the
    parent stops its workers itself; a worker that also took it would print a KeyboardInterrupt
    traceback each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


class WorkerPool(ProcessPoolExecutor):
    """A process pool that knows its worker processes, so they can be terminated (the standard
    pool keeps them private), and whose workers leave Ctrl-C to the parent. `start_method` is a
    `multiprocessing` one ("spawn", "forkserver")."""

    def __init__(
        self,
        max_workers: int,
        start_method: str,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        **kwargs: Any,
    ) -> None:
        if start_method == "forkserver":
            start_forkserver()
        self.workers: list[BaseProcess] = []
        base: Any = multiprocessing.get_context(start_method)
        context: Any = type(base)()  # a context of its own: the shared one is left as it is

        def process(*args: Any, **kw: Any) -> BaseProcess:
            proc: BaseProcess = base.Process(*args, **kw)
            self.workers.append(proc)
            return proc

        context.Process = process
        super().__init__(
            max_workers, mp_context=context, initializer=_quiet_worker, initargs=(initializer, *initargs), **kwargs
        )


def terminate_pool(executor: ProcessPoolExecutor) -> None:
    """Kill a pool's workers now, work in flight included, and shut it down without waiting.
    Only a `WorkerPool` knows its workers; any other pool is just shut down."""
    for proc in executor.workers if isinstance(executor, WorkerPool) else ():
        if proc.is_alive():
            proc.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
