"""The pool of pre-rendered image captchas: bursts are served from it, refilled in the background.

A pooled captcha is stored whole (HMAC and PNG, a 6 h TTL) when it is rendered, and its seal
queued in a Redis list; each process takes ~0.25 s of issuing at a time (32 to 1,024 seals; the
next ones in the background when half are issued; readers who run out share one take), and one
script checks their keys still exist and cuts their TTL to the captcha's TTL + `HOLD_S` (a
process drops seals it held longer). Issuing one then only signs a ticket: no Redis command on
the request path. A command per issue cost a third of the server's CPU in a burst (redis-py
spends ~100 µs of CPU on one); copying the PNG per issue, before that, made a burst wait on
Redis' fsync of ~8 KB per captcha.

The pool is one list per queue partition (`Keys.captcha_pool(p, ...)`), each holding the seals of
that partition, whose captchas live under the partition's tag: on a Redis Cluster a burst's takes
and refills spread over every shard instead of one slot taking them all, and a take's TTL script
stays in one slot. A process takes from the partitions in turn, moving on when one runs short.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

from redis.asyncio import Redis

from service import tasks as background
from service.captcha.seals import Sealer
from service.captcha.workers import Renderer
from service.metrics import Metrics
from service.settings import Settings
from service.store.keys import Keys
from service.store.scripts import Scripts

log = logging.getLogger(__name__)

HOLD_S = 60  # a process issues a pooled captcha within this long of taking it, or drops it
REFILL_CHUNK = 8  # images per pool task: one inter-process hop per chunk
REFILL_IDLE = 1.0  # seconds between pool checks when nothing is happening
POOL_TAKE = 32  # the fewest pooled seals a process takes from Redis at a time (more when half are used)
POOL_TAKE_MAX = 1024  # the most: what one process may leave unissued when it stops
TAKE_AHEAD_S = 0.25  # a take holds about this long of issuing at the current rate
POOL_MAX_AGE = 3 * 3600  # older pooled captchas are dropped (re-rendered), so codes do not linger
POOL_KEY_TTL = 2 * POOL_MAX_AGE  # a pooled captcha's key outlives its place in the pool


def _take_failed(task: asyncio.Task[bool]) -> None:
    """Logs a failed background take; a reader waiting on it gets the error, the next one retries."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("captcha pool take failed: %s", type(exc).__name__)


def _by_key(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(pool list, entry) pairs grouped by list, in order: one push per partition."""
    grouped: dict[str, list[str]] = {}
    for key, entry in pairs:
        grouped.setdefault(key, []).append(entry)
    return grouped


class CaptchaPool:
    """One process' share of the pool: `take` a seal to issue, `refill_once`, and the refill loop."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        scripts: Scripts,
        keys: Keys,
        metrics: Metrics,
        sealer: Sealer,
        renderer: Renderer,
        new_code: Callable[[], str],
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._scripts = scripts
        self._keys = keys
        self._metrics = metrics
        self._sealer = sealer
        self._renderer = renderer
        self._new_code = new_code
        s = settings
        variant = f"{s.captcha_width}x{s.captcha_height}:{s.captcha_length}:{s.captcha_test_code or ''}"
        variant_hash = hashlib.sha256(variant.encode()).hexdigest()[:8]
        self._pool_keys = [
            keys.captcha_pool(p, f"{variant_hash}{sealer.fingerprint()}") for p in range(keys.partitions)
        ]
        # Where this process' next take starts: processes start at random places and go round, so
        # the partitions (a cluster's shards) share the takes.
        self._next_partition = random.randrange(keys.partitions)
        # Pooled seals this process has taken from Redis and not issued yet, with when it took them.
        self._taken: deque[tuple[float, str]] = deque()
        self._born: dict[str, int] = {}  # when each held seal was put in the pool: `give_back` keeps it
        self._wake = asyncio.Event()
        self._refill: background.Background | None = None
        self._fetching: asyncio.Task[bool] | None = None  # the take from Redis in flight
        self._take_size = POOL_TAKE
        self._short = False  # the last take got fewer seals than it asked for
        self._issued_since_take = 0
        self._took_at = time.monotonic()

    # --- take ---
    async def take(self) -> str | None:
        """The next pooled seal: from those this process holds, else more from Redis (those whose
        keys still exist: Redis may have lost some, say in a restart). None: the pool is empty."""
        if self._settings.captcha_pool_target <= 0:
            return None
        while True:
            held_since = time.monotonic() - HOLD_S  # older ones' keys may expire before their tickets
            while self._taken:
                taken_at, seal = self._taken.popleft()
                self._born.pop(seal, None)
                if taken_at >= held_since:
                    self._issued_since_take += 1
                    if len(self._taken) < self._take_size // 2 and not self._short:
                        self._take_task()  # the next ones, in the background, before these run out
                    return seal
            # asyncio.shield: a reader who goes away must not cancel the take the others wait on.
            if not await asyncio.shield(self._take_task()):
                return None

    def _take_task(self) -> asyncio.Task[bool]:
        """The take from Redis in flight, or a new one: readers who run out together share one take
        (each starting its own queued them behind each other's fsyncs: 90 ms at a burst's start)."""
        if self._fetching is None or self._fetching.done():
            self._fetching = asyncio.create_task(self._fetch(), name="captcha-pool-take")
            self._fetching.add_done_callback(_take_failed)
        return self._fetching

    async def _fetch(self) -> bool:
        """Take seals from Redis into this process; False when the pool is empty. A take holds about
        TAKE_AHEAD_S of issuing at the rate since the last one, so in a burst the next take (an
        fsynced LPOP and EXPIREs, behind the refill's writes) lands before the held ones run out."""
        now = time.monotonic()
        rate = self._issued_since_take / max(now - self._took_at, 1e-3)
        self._take_size = max(POOL_TAKE, min(POOL_TAKE_MAX, int(rate * TAKE_AHEAD_S)))
        self._issued_since_take, self._took_at = 0, now
        entries = await self._pop(self._take_size)
        self._wake.set()
        # The pool ran short: no more background takes until a reader runs out and takes itself.
        self._short = len(entries or ()) < self._take_size
        if not entries:
            return False
        fresh = int(time.time()) - POOL_MAX_AGE
        seals, born = [], {}
        for entry in entries:
            stamp, _, seal = str(entry).partition(":")
            if stamp.isdigit() and int(stamp) >= fresh and seal:
                seals.append(seal)
                born[seal] = int(stamp)
        ttl = self._settings.captcha_ttl + HOLD_S
        found = await self._scripts.captcha_pool_take(
            self._redis, [self._keys.pooled_captcha(seal) for seal in seals], ttl
        )
        now = time.monotonic()
        self._taken.extend((now, seal) for seal, there in zip(seals, found, strict=True) if there)
        self._born.update((seal, born[seal]) for seal, there in zip(seals, found, strict=True) if there)
        return True

    async def _pop(self, count: int) -> list[str]:
        """Up to `count` pool entries: from the next partition in turn, and from the ones after it
        only while the pool comes up short (an empty pool costs one LPOP per partition)."""
        n = len(self._pool_keys)
        start, self._next_partition = self._next_partition, (self._next_partition + 1) % n
        entries: list[str] = []
        for i in range(n):
            got = await self._redis.lpop(self._pool_keys[(start + i) % n], count - len(entries))
            entries += [str(e) for e in got or ()]
            if len(entries) >= count:
                break
        return entries

    def _partition_key(self, seal: str) -> str:
        return self._pool_keys[self._keys.partition_of(seal)]

    # --- refill ---
    async def size(self) -> int:
        """Pooled captchas waiting, over every partition."""
        if len(self._pool_keys) == 1:
            return int(await self._redis.llen(self._pool_keys[0]))
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in self._pool_keys:
                pipe.llen(key)
            return sum(int(n) for n in await pipe.execute())

    async def _render_chunk(self, n: int) -> list[tuple[str, str, bytes]]:
        """`n` new captchas (seal, answer HMAC, PNG), rendered in one worker task."""
        codes = [self._new_code() for _ in range(n)]
        pngs = await self._renderer.pool_images(codes)
        entries = []
        for code, png in zip(codes, pngs, strict=True):
            seal = self._sealer.seal(code)
            entries.append((seal, self._sealer.digest(seal, code), png))
        return entries

    async def refill_once(self) -> int:
        """Top the pool up towards its target; the number of captchas added."""
        target = self._settings.captcha_pool_target
        cutoff = int(time.time()) - POOL_MAX_AGE
        await asyncio.gather(*(self._scripts.captcha_pool_trim(self._redis, key, cutoff) for key in self._pool_keys))
        size = await self.size()
        self._metrics.captcha_pool.set(size)
        missing = target - size
        if missing <= 0:
            return 0
        # At most one chunk per refill worker in flight: the pool fills steadily without queueing
        # more work than the idle-priority workers can take.
        budget = min(missing, REFILL_CHUNK * self._renderer.workers)
        chunks = [min(REFILL_CHUNK, budget - i) for i in range(0, budget, REFILL_CHUNK)]

        async def fill(n: int) -> int:
            batch = await self._render_chunk(n)
            # Stored first, queued second: an id in the pool always has its captcha behind it.
            await asyncio.gather(
                *(
                    self._scripts.captcha_store(self._redis, self._keys.pooled_captcha(cid), digest, png, POOL_KEY_TTL)
                    for cid, digest, png in batch
                )
            )
            now = int(time.time())
            for key, entries in _by_key(((self._partition_key(cid), f"{now}:{cid}") for cid, _, _ in batch)).items():
                await self._redis.rpush(key, *entries)
            return len(batch)

        # A TaskGroup, so cancelling the refill (shutdown) cancels every chunk with it.
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(fill(n)) for n in chunks]
        added = sum(t.result() for t in tasks)
        self._metrics.captcha_pool.set(size + added)
        return added

    async def _refill_loop(self, bg: background.Background) -> None:
        while bg.running:
            try:
                # unless_stopped: a stop also ends a refill in flight (and its render chunks).
                _, added = await bg.unless_stopped(self.refill_once())
                if added:
                    continue
            except Exception as exc:  # Redis away, worker died: retry later, never crash the app
                log.warning("captcha pool refill failed: %s", type(exc).__name__)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await bg.unless_stopped(asyncio.wait_for(self._wake.wait(), REFILL_IDLE))

    # --- lifetime ---
    def start(self) -> None:
        if self._settings.captcha_pool_target > 0 and self._refill is None:
            self._refill = background.Background()
            self._refill.start(self._refill_loop(self._refill), name="captcha-pool-refill")

    async def give_back(self) -> int:
        """Put the seals this process took and did not issue back at the head of the pool, their keys'
        TTLs restored, so a process that stops wastes none of the captchas rendered for it (up to
        POOL_TAKE_MAX each). Call it after `stop`; how many went back."""
        held_since, fresh = time.monotonic() - HOLD_S, int(time.time()) - POOL_MAX_AGE
        held = [(self._born.get(seal, 0), seal) for taken_at, seal in self._taken if taken_at >= held_since]
        self._taken.clear()
        self._born.clear()
        held = [(born, seal) for born, seal in held if born >= fresh]
        if not held:
            return 0
        keys = [self._keys.pooled_captcha(seal) for _, seal in held]
        found = await self._scripts.captcha_pool_take(self._redis, keys, POOL_KEY_TTL)
        back = [
            (self._partition_key(seal), f"{born}:{seal}")
            for (born, seal), there in zip(held, found, strict=True)
            if there
        ]
        for key, entries in _by_key(back).items():
            await self._redis.lpush(key, *reversed(entries))  # the oldest first, as they were
        return len(back)

    async def stop(self) -> None:
        refill, fetching = self._refill, self._fetching
        self._refill = self._fetching = None
        if refill is not None:
            await refill.stop()
        if fetching is not None:
            await background.stop([fetching])
