"""The async front of the spam model: concurrent `score` calls share micro-batches, scored off
the event loop (in a worker thread, or in the scoring process of `service.spam.process`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from service import tasks as background
from service.metrics import Metrics
from service.spam import process as scoring_process
from service.spam.model import SpamInput, SpamModel, SpamScore

log = logging.getLogger(__name__)

# A comment alone in its batch and at most this long (title + content) is scored on the event
# loop (0.3 ms at 100 characters, ~1 ms at 1,000 on the 2-vCPU bench machine): handing it to the
# worker thread and back cost more than scoring it, and made the tail latency of one comment
# depend on two thread wake-ups. Longer ones go to the thread, so the loop never stalls long.
INLINE_CHARS = 1000
# Batches being scored at once: one scored while the next is handed over.
IN_FLIGHT = 2
# Seconds to wait for the scoring process at shutdown.
SHUTDOWN_TIMEOUT = 10.0
# The scoring process is restarted after it dies, at most this many times per scorer: a process
# that keeps dying (out of memory, say) must not be respawned forever; the thread scores instead.
MAX_PROCESS_LOSSES = 3


class ModelNotReady(Exception):
    """No model is loaded: the caller should answer 503 and try again later."""


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class SpamScorer:
    """Async front of a `SpamModel`: concurrent `score` calls share micro-batches, computed off the
    event loop. A short comment alone in its batch is scored on the loop itself (cheaper than any
    round trip).

    With `process=True` (the app's setting), batches are scored in a process of their own, which
    loads the same verified artifact (`SpamModel.path`): scoring then runs on another core, and
    never holds the GIL the event loop needs (a worker thread did, stalling the loop 7-27 ms under
    load). Until that process has loaded a model (on the first batch after start or after a swap,
    ~1 s), and if it dies, batches are scored in a worker thread as before; a dead process is
    replaced (started from a thread, never forked from the loop), up to `MAX_PROCESS_LOSSES` times.
    """

    def __init__(
        self,
        model: SpamModel | None = None,
        max_batch: int = 64,
        max_wait_ms: float = 2.0,
        *,
        process: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self._model = model
        self._metrics = metrics
        self._max_batch = max(1, max_batch)
        self._max_wait = max(0.0, max_wait_ms) / 1000.0
        self._queue: asyncio.Queue[tuple[SpamInput, asyncio.Future[SpamScore]]] | None = None
        # Set while a batch waits for the rest of a burst: `score` wakes it once the batch is full.
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 0
        # The batches being collected or scored: `close` fails what they hold instead of leaving
        # their callers waiting forever.
        self._held: list[list[tuple[SpamInput, asyncio.Future[SpamScore]]]] = []
        self._scoring: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._process = process
        # The scoring process: started (and restarted after it dies) in a thread, since forking
        # it from the event loop stalled the loop ~40 ms.
        self._pool: background.WorkerPool | None = None
        self._starting: asyncio.Task[None] | None = None
        self._pid: int | None = None
        self._losses = 0
        # Versions the scoring process holds (oldest first, as many as it keeps), is loading, or
        # could not load.
        self._remote: dict[str, None] = {}
        self._loading: dict[str, Future[None]] = {}
        self._refused: set[str] = set()
        self._closed = False
        # Counters for metrics and tests: how many batches ran, how many comments they held, and
        # how many batches the scoring process scored.
        self.batches = 0
        self.scored = 0
        self.process_batches = 0

    @property
    def ready(self) -> bool:
        return self._model is not None and not self._closed

    @property
    def version(self) -> str | None:
        model = self._model
        return model.version if model is not None else None

    @property
    def model(self) -> SpamModel | None:
        return self._model

    @property
    def process_versions(self) -> frozenset[str]:
        """Model versions the scoring process has loaded (batches of those are scored there)."""
        return frozenset(self._remote)

    @property
    def process_pid(self) -> int | None:
        """The scoring process's pid while one is up."""
        return self._pid

    @property
    def process_losses(self) -> int:
        """How many times the scoring process died (restarted while below `MAX_PROCESS_LOSSES`)."""
        return self._losses

    def swap(self, model: SpamModel) -> None:
        """Switch models atomically: a batch already taken finishes with the model it started with.

        The scoring process is told to load the new version at once, not on the first batch that
        needs it: a promotion then reaches the process in about the time one load takes, and no
        burst of comments waits in the thread for it."""
        self._model = model
        if model.path is not None and model.version not in self._remote:
            self.preload(model.path, model.version)

    def warm(self) -> None:
        """Start the scoring process and have it load the current model now (at start-up), so
        the first burst of comments is not scored in the thread while the process starts and
        loads (~1 s of CPU on the serving core). Nothing to do without the process setting."""
        if self._process and self._model is not None and not self._closed:
            # From this (the main) thread first: the process is then started in a thread, where the
            # forkserver could not be made deaf to Ctrl-C (tests/test_serve.py).
            background.start_forkserver()
            self._load_remote(self._model)

    async def score(self, inp: SpamInput) -> SpamScore:
        if self._model is None or self._closed:
            raise ModelNotReady("the spam model is not loaded")
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spam-score")
            self._task = asyncio.get_running_loop().create_task(self._run(), name="spam-scorer")
        future: asyncio.Future[SpamScore] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((inp, future))  # unbounded: never blocks
        if self._waiter is not None and self._queue.qsize() >= self._wanted:
            _wake(self._waiter)
        return await future

    async def _collect(self) -> list[tuple[SpamInput, asyncio.Future[SpamScore]]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        self._held.append(batch)
        await asyncio.sleep(0)  # let requests that arrived together join
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if 1 < len(batch) < self._max_batch and self._max_wait > 0:
            # Concurrency is happening: wait briefly for the rest of the burst, woken by `score`
            # when the batch can be filled or by the timer (one wait per batch, not per comment).
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            self._wanted = self._max_batch - len(batch)
            timer = loop.call_later(self._max_wait, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        # Batches overlap: while one is scored, the next is collected and handed over, so the
        # scoring process never waits for the event loop between two batches.
        slots = asyncio.Semaphore(IN_FLIGHT)
        loop = asyncio.get_running_loop()
        while True:
            await slots.acquire()
            batch = await self._collect()
            task = loop.create_task(self._score(batch))
            self._scoring.add(task)
            task.add_done_callback(self._scoring.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _score(self, batch: list[tuple[SpamInput, asyncio.Future[SpamScore]]]) -> None:
        try:
            live = [(inp, fut) for inp, fut in batch if not fut.done()]
            model = self._model  # taken once: a swap during the batch does not split it
            if not live:
                return
            if model is None:
                for _, fut in live:
                    fut.set_exception(ModelNotReady("the spam model is not loaded"))
                return
            inputs = [i for i, _ in live]
            try:
                if len(inputs) == 1 and len(inputs[0].title) + len(inputs[0].content) <= INLINE_CHARS:
                    scores = model.score_batch(inputs)
                    self._scored_in("loop")
                else:
                    scores = await self._score_off_loop(model, inputs)
            except Exception as exc:  # a scoring bug must fail these requests, not the scorer
                log.exception("spam scoring failed for a batch of %d", len(live))
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                return
            self.batches += 1
            self.scored += len(live)
            for (_, fut), result in zip(live, scores, strict=True):
                if not fut.done():
                    fut.set_result(result)
        finally:
            for _, fut in batch:  # whatever ended this batch, no caller is left waiting
                if not fut.done():
                    fut.set_exception(ModelNotReady("the spam scorer is shutting down"))
            self._held = [b for b in self._held if b is not batch]

    async def _score_off_loop(self, model: SpamModel, inputs: list[SpamInput]) -> list[SpamScore]:
        """In the scoring process if it holds `model`, else in the worker thread."""
        pool = self._pool
        if self._process and pool is not None and model.version in self._remote:
            try:
                scores = await asyncio.wrap_future(pool.submit(scoring_process.score_in_worker, model.version, inputs))
                self.process_batches += 1
                self._scored_in("process")
                return scores
            except BrokenProcessPool as exc:  # not the comments' fault: the thread scores them
                self._lost_process(pool, exc)
            except scoring_process.NotInProcess:  # it dropped this model (more versions since): load it again
                self._remote.pop(model.version, None)
                self._load_remote(model)
        elif self._process and model.path is not None:
            self._load_remote(model)
        scores = await asyncio.get_running_loop().run_in_executor(self._executor, model.score_batch, inputs)
        self._scored_in("thread")
        return scores

    def _scored_in(self, where: str) -> None:
        if self._metrics is not None:
            self._metrics.spam_batches.labels(where).inc()

    def preload(self, path: Path, version: str) -> None:
        """Have the scoring process load the artifact of `version` now, while this process loads it
        too (a promotion: the two loads overlap instead of following one another). Nothing to do
        without a running scoring process, or outside the event loop."""
        if not self._process or self._pool is None or version in self._remote:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._load_remote_path(path, version)

    def _load_remote(self, model: SpamModel) -> None:
        """Have the scoring process load `model` (starting the process first if need be); batches
        go there once it has."""
        if model.path is not None:
            self._load_remote_path(model.path, model.version)

    def _load_remote_path(self, path: Path, version: str) -> None:
        if self._closed or version in self._loading or version in self._refused:
            return
        pool = self._pool
        if pool is None:
            if self._starting is None and self._losses < MAX_PROCESS_LOSSES:
                self._starting = asyncio.get_running_loop().create_task(self._start_process(), name="spam-process")
            return  # the process loads the current model once started
        try:
            future = self._loading[version] = pool.submit(scoring_process.load_in_worker, str(path), version)
        except BrokenProcessPool as exc:
            self._lost_process(pool, exc)
            return

        def loaded(done: Future[None]) -> None:  # in the pool's thread: hand over to the loop
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile: nothing to tell
                loop.call_soon_threadsafe(self._loaded, pool, version, done)

        loop = asyncio.get_running_loop()
        future.add_done_callback(loaded)

    async def _start_process(self) -> None:
        try:
            pool, pid = await asyncio.to_thread(scoring_process.start_pool)
        except Exception as exc:  # no process to be had (limits...): the thread goes on scoring
            self._count_loss()
            log.warning("could not start the scoring process, scoring in a thread: %r", exc)
            return
        finally:
            self._starting = None
        if self._closed:  # closed while it started: stop it (`close` waits for this task)
            await background.stop_pool(pool, (), SHUTDOWN_TIMEOUT, "the scoring process")
            return
        self._pool, self._pid = pool, pid
        model = self._model
        if model is not None and model.path is not None:
            self._load_remote(model)

    def _loaded(self, pool: background.WorkerPool, version: str, done: Future[None]) -> None:
        if self._loading.get(version) is done:
            del self._loading[version]
        if done.cancelled() or self._closed or pool is not self._pool:
            return  # a process since replaced, or shut down: nothing it loaded counts
        exc = done.exception()
        if exc is None:
            self._remote[version] = None
            while len(self._remote) > scoring_process.WORKER_KEEP:  # it keeps as many as that, dropping the oldest
                del self._remote[next(iter(self._remote))]
            log.info("scoring model %s in its own process", version)
        elif isinstance(exc, BrokenProcessPool):  # it died loading: not the model's fault
            self._lost_process(pool, exc)
        else:
            self._refused.add(version)
            log.warning("the scoring process could not load model %s, scoring in a thread: %s", version, exc)

    def _count_loss(self) -> None:
        self._losses += 1
        if self._metrics is not None:
            self._metrics.spam_process_losses.inc()

    def _lost_process(self, pool: background.WorkerPool, exc: BaseException) -> None:
        if pool is not self._pool:
            return  # already replaced: each batch in flight when it died lands here
        self._count_loss()
        self._pool = self._pid = None
        self._remote.clear()
        self._loading.clear()
        pool.shutdown(wait=False, cancel_futures=True)
        if self._losses < MAX_PROCESS_LOSSES:
            log.warning("the scoring process died (%r); scoring in a thread until a new one is up", exc)
        else:
            log.error(
                "the scoring process died %d times (last: %r); scoring in a thread from now on", self._losses, exc
            )

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        waiting = [item for batch in self._held for item in batch]  # before a cancelled batch lets go
        for task in list(self._scoring):
            task.cancel()
        await asyncio.gather(*self._scoring, return_exceptions=True)
        while self._queue is not None and not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for _, fut in waiting:
            if not fut.done():
                fut.set_exception(ModelNotReady("the spam scorer is shutting down"))
        self._held = []
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._starting is not None:  # a process being started: that task stops it once up
            await asyncio.wait({self._starting}, timeout=2 * SHUTDOWN_TIMEOUT)
        if self._pool is not None:
            pool, self._pool, self._pid = self._pool, None, None
            loading = [asyncio.wrap_future(f) for f in self._loading.values()]
            await background.stop_pool(pool, loading, SHUTDOWN_TIMEOUT, "the scoring process")
