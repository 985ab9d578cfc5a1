"""Captchas: issue, refresh, render (image and audio), verify once.

The `captcha` library only draws; storage, expiry, single use and checking live here.

- A captcha id is `<seal>.<ticket>`. The seal holds its own code: base64url(nonce | code XOR
  PRF(nonce) | tag); Redis holds only an HMAC of the answer (keyed by the server secret) plus the
  rendered PNG, under the seal's key with the TTL. The code itself is never stored, yet the audio
  can still be rendered on demand from the id. The ticket, base64url(issued at ms | pooled or not |
  article binding | tag), says when the captcha was issued, where it is stored and for which
  article, signed: expiry and the article are checked from it, so issuing a pooled captcha writes
  nothing on the request path.
  A forged or altered id fails a tag and never reaches Redis.
- Verification reads and deletes the key in one script, right answer or wrong: one attempt per
  captcha, so guessing costs a fresh captcha every time. Answers in Turnstile's siteverify terms.
- Rendering runs in a process pool, never on the event loop. A pool of pre-rendered image captchas
  (refilled in the background) serves bursts; audio is rendered on first request and cached in the
  captcha's hash, so it expires with it.
- A pooled captcha is stored whole (HMAC and PNG, a 6 h TTL) when it is rendered, and its seal
  queued in a Redis list; each process takes ~0.25 s of issuing at a time (32 to 1,024 seals; the
  next ones in the background when half are issued; readers who run out share one take), and one
  script checks their keys still exist and cuts their TTL to the captcha's TTL + `HOLD_S` (a
  process drops seals it held longer). Issuing one then only signs a ticket: no Redis command on
  the request path. A command per issue cost a third of the server's
  CPU in a burst (redis-py spends ~100 µs of CPU on one); copying the PNG per issue, before that,
  made a burst wait on Redis' fsync of ~8 KB per captcha.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import logging
import multiprocessing
import os
import secrets
import time
import unicodedata
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service import tasks as background
from service.articles import is_article_id
from service.captcha import render as captcha_render
from service.errors import BadRequest, NotFound
from service.metrics import Metrics
from service.settings import Settings
from service.store import ratelimit
from service.store.keys import Keys
from service.store.scripts import Scripts

log = logging.getLogger(__name__)

NONCE_BYTES = 9
TAG_BYTES = 6
MAX_CODE = 16  # the longest test code settings allow
MAX_SEAL_CHARS = 4 * (NONCE_BYTES + MAX_CODE + TAG_BYTES) // 3 + 4
BIND_BYTES = 8
TICKET_TAG_BYTES = 8
TICKET_BYTES = 7 + BIND_BYTES + TICKET_TAG_BYTES  # issued at (ms, 48 bits) | pooled | article | tag
UNBOUND = bytes(BIND_BYTES)
MAX_ID_CHARS = MAX_SEAL_CHARS + 1 + 4 * TICKET_BYTES // 3 + 4
HOLD_S = 60  # a process issues a pooled captcha within this long of taking it, or drops it
CLOCK_SKEW_MS = 30_000  # a ticket from a replica whose clock runs ahead is not "expired"
MAX_ANSWER = 64
REFILL_CHUNK = 8  # images per pool task: one inter-process hop per chunk
RENDER_BATCH = 4  # at most this many readers' images per task, so none waits long behind others
REFILL_IDLE = 1.0  # seconds between pool checks when nothing is happening
POOL_TAKE = 32  # the fewest pooled seals a process takes from Redis at a time (more when half are used)
POOL_TAKE_MAX = 1024  # the most: what one process may leave unissued when it stops
TAKE_AHEAD_S = 0.25  # a take holds about this long of issuing at the current rate
POOL_MAX_AGE = 3 * 3600  # older pooled captchas are dropped (re-rendered), so codes do not linger
POOL_KEY_TTL = 2 * POOL_MAX_AGE  # a pooled captcha's key outlives its place in the pool
SHUTDOWN_TIMEOUT = 10.0  # seconds to wait for the render workers at shutdown


async def _binary(redis: Redis, *command: str) -> Any:
    """A command whose reply is binary (PNG, WAV), on a client that decodes replies by default."""
    return await redis.execute_command(*command, NEVER_DECODE=[])  # type: ignore[no-untyped-call]


def random_code(length: int, alphabet: str = captcha_render.ALPHABET) -> str:
    """A uniformly random code from one urandom read (secrets.choice reads urandom per character:
    ~15 µs each, most of a pool refill's main-process cost). Rejection sampling keeps it unbiased."""
    limit = 256 - 256 % len(alphabet)
    out: list[str] = []
    while len(out) < length:
        out.extend(alphabet[b % len(alphabet)] for b in secrets.token_bytes(2 * length) if b < limit)
    return "".join(out[:length])


class VerifyResult(StrEnum):
    """Turnstile siteverify's outcomes (a str Enum: compares equal to the plain strings)."""

    OK = "ok"
    MISSING_INPUT_RESPONSE = "missing-input-response"  # no id or no answer given
    INVALID_INPUT_RESPONSE = "invalid-input-response"  # wrong answer, forged id, or another article's captcha
    TIMEOUT_OR_DUPLICATE = "timeout-or-duplicate"  # expired, already used, or replaced by a refresh
    BAD_REQUEST = "bad-request"  # malformed input (not strings, far too long)
    INTERNAL_ERROR = "internal-error"  # the store failed; the caller should answer 503


class CaptchaSource(StrEnum):
    POOL = "pool"
    RENDER = "render"


class CaptchaNotFound(NotFound):
    code = "captcha_not_found"


@dataclass(frozen=True, slots=True)
class Issued:
    id: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Ticket:
    """An issued captcha id, opened: its seal (the storage id), code, issue time and binding."""

    seal: str
    code: str
    issued_ms: int
    pooled: bool
    bind: bytes

    def expired(self, ttl_s: int, now_ms: int | None = None) -> bool:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return not (-CLOCK_SKEW_MS <= now - self.issued_ms <= ttl_s * 1000)


def normalise_answer(answer: str) -> str:
    """What the reader typed, as compared: full-width folded, spaces dropped, upper case."""
    return "".join(unicodedata.normalize("NFKC", answer).split()).upper()


class Sealer:
    """Seals a code into an id and opens it again; keys derived from the server secret."""

    def __init__(self, secret: bytes) -> None:
        self._seal_key = hmac.digest(secret, b"duyet captcha seal", "sha256")
        self._tag_key = hmac.digest(secret, b"duyet captcha tag", "sha256")
        self._answer_key = hmac.digest(secret, b"duyet captcha answer", "sha256")
        self._ticket_key = hmac.digest(secret, b"duyet captcha ticket", "sha256")

    def fingerprint(self) -> str:
        """A short, non-secret name for the keys in use (pool entries sealed with other keys are useless)."""
        return hmac.digest(self._tag_key, b"fingerprint", "sha256")[:4].hex()

    def _stream(self, nonce: bytes, n: int) -> bytes:
        return hmac.digest(self._seal_key, nonce, "sha256")[:n]

    def seal(self, code: str) -> str:
        raw = code.encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = bytes(a ^ b for a, b in zip(raw, self._stream(nonce, len(raw)), strict=True))
        tag = hmac.digest(self._tag_key, nonce + sealed, "sha256")[:TAG_BYTES]
        return base64.urlsafe_b64encode(nonce + sealed + tag).rstrip(b"=").decode()

    def open(self, captcha_id: str) -> str | None:
        """The code sealed in `captcha_id` (a seal), or None if it is not a seal we made."""
        if not (0 < len(captcha_id) <= MAX_SEAL_CHARS) or not captcha_id.isascii():
            return None
        try:
            blob = base64.urlsafe_b64decode(captcha_id + "=" * (-len(captcha_id) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(blob) <= NONCE_BYTES + TAG_BYTES:
            return None
        nonce, sealed, tag = blob[:NONCE_BYTES], blob[NONCE_BYTES:-TAG_BYTES], blob[-TAG_BYTES:]
        if not hmac.compare_digest(tag, hmac.digest(self._tag_key, nonce + sealed, "sha256")[:TAG_BYTES]):
            return None
        raw = bytes(a ^ b for a, b in zip(sealed, self._stream(nonce, len(sealed)), strict=True))
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None

    def bind(self, article_id: str | None) -> bytes:
        if not article_id:
            return UNBOUND
        return hmac.digest(self._ticket_key, b"article:" + article_id.encode(), "sha256")[:BIND_BYTES]

    def issue(self, seal: str, article_id: str | None, pooled: bool, now_ms: int | None = None) -> str:
        """The id a reader gets: the seal and a signed ticket (issue time, where it is stored, article)."""
        issued = (int(time.time() * 1000) if now_ms is None else now_ms).to_bytes(6, "big")
        body = issued + (b"\x01" if pooled else b"\x00") + self.bind(article_id)
        tag = hmac.digest(self._ticket_key, seal.encode() + b"." + body, "sha256")[:TICKET_TAG_BYTES]
        return seal + "." + base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode()

    def parse(self, captcha_id: str) -> Ticket | None:
        """An issued id, opened and checked; None if it is not one we issued (expiry not checked)."""
        if not (0 < len(captcha_id) <= MAX_ID_CHARS) or not captcha_id.isascii():
            return None
        seal, dot, ticket = captcha_id.partition(".")
        if not dot or len(ticket) != -(-4 * TICKET_BYTES // 3):
            return None
        try:
            blob = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4))
        except (binascii.Error, ValueError):
            return None
        body, tag = blob[:-TICKET_TAG_BYTES], blob[-TICKET_TAG_BYTES:]
        expected = hmac.digest(self._ticket_key, seal.encode() + b"." + body, "sha256")[:TICKET_TAG_BYTES]
        if len(blob) != TICKET_BYTES or not hmac.compare_digest(tag, expected):
            return None
        code = self.open(seal)
        if code is None:
            return None
        return Ticket(seal, code, int.from_bytes(body[:6], "big"), body[6] == 1, body[7:])

    def digest(self, captcha_id: str, answer: str) -> str:
        """The stored form of an answer: bound to the id, so no table of digests carries over."""
        msg = f"{captcha_id}:{normalise_answer(answer)}".encode()
        return hmac.new(self._answer_key, msg, hashlib.sha256).hexdigest()


def _take_failed(task: asyncio.Task[bool]) -> None:
    """Logs a failed background take; a reader waiting on it gets the error, the next one retries."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("captcha pool take failed: %s", type(exc).__name__)


class Captchas:
    """The captcha service of one app: `issue`, `image`, `audio`, `verify`, and the pool refill."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        scripts: Scripts,
        keys: Keys,
        metrics: Metrics,
        executor: Executor,
        workers: int,
        refill_executor: Executor | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._scripts = scripts
        self._keys = keys
        self._metrics = metrics
        self._executor = executor  # renders a reader waits for
        self._refill_executor = refill_executor or executor  # the pool's, at idle priority
        self._workers = workers
        self._sealer = Sealer(settings.secret_bytes)
        s = settings
        variant = f"{s.captcha_width}x{s.captcha_height}:{s.captcha_length}:{s.captcha_test_code or ''}"
        variant_hash = hashlib.sha256(variant.encode()).hexdigest()[:8]
        self._pool_key = keys.captcha_pool(f"{variant_hash}{self._sealer.fingerprint()}")
        # Pooled seals this process has taken from Redis and not issued yet, with when it took them.
        self._taken: deque[tuple[float, str]] = deque()
        self._wake = asyncio.Event()
        self._refill: background.Background | None = None
        self._fetching: asyncio.Task[bool] | None = None  # the take from Redis in flight
        self._take_size = POOL_TAKE
        self._pool_short = False  # the last take got fewer seals than it asked for
        self._issued_since_take = 0
        self._took_at = time.monotonic()
        # Image renders waiting for a free worker, and tasks in flight (see `_render_image`).
        self._render_waiting: list[tuple[str, asyncio.Future[bytes]]] = []
        self._render_inflight = 0
        # Audio renders in flight, so a reader pressing play twice renders once.
        self._audio_inflight: dict[tuple[str, str], asyncio.Future[bytes]] = {}

    # --- codes ---
    def new_code(self) -> str:
        if self._settings.captcha_test_code:
            return self._settings.captcha_test_code.upper()
        return random_code(self._settings.captcha_length)

    def _key(self, ticket: Ticket) -> str:
        return (self._keys.pooled_captcha if ticket.pooled else self._keys.captcha)(ticket.seal)

    def _ticket(self, captcha_id: str) -> Ticket:
        """The live captcha an id names; CaptchaNotFound when it is not ours or has expired."""
        ticket = self._sealer.parse(captcha_id)
        if ticket is None or ticket.expired(self._settings.captcha_ttl):
            raise CaptchaNotFound("no such captcha (unknown, expired or already used)")
        return ticket

    def _url(self, captcha_id: str, kind: str) -> str:
        path = f"/v1/captchas/{captcha_id}/{kind}"
        public = self._settings.public_url
        return f"{public.rstrip('/')}{path}" if public else path

    def image_url(self, captcha_id: str) -> str:
        return self._url(captcha_id, "image")

    def audio_url(self, captcha_id: str) -> str:
        return self._url(captcha_id, "audio")

    # --- rendering (in the process pool) ---
    async def _render_image(self, code: str) -> bytes:
        """A PNG of `code`, rendered in a worker. Renders asked for while every worker is busy go
        out together, one task per free worker: a ProcessPoolExecutor task costs the event loop
        and its threads ~1.5 ms of CPU (pipes, pickling, thread wake-ups), a fifth of a render."""
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._render_waiting.append((code, fut))
        self._dispatch_renders()
        return await fut

    def _dispatch_renders(self) -> None:
        loop = asyncio.get_running_loop()
        s = self._settings
        while self._render_waiting and self._render_inflight < self._workers:
            free = self._workers - self._render_inflight
            n = min(RENDER_BATCH, -(-len(self._render_waiting) // free))
            batch, self._render_waiting = self._render_waiting[:n], self._render_waiting[n:]
            self._render_inflight += 1
            task = loop.run_in_executor(
                self._executor, captcha_render.render_images, [c for c, _ in batch], s.captcha_width, s.captcha_height
            )
            task.add_done_callback(functools.partial(self._rendered, batch))

    def _rendered(self, batch: list[tuple[str, asyncio.Future[bytes]]], task: asyncio.Future[Any]) -> None:
        self._render_inflight -= 1
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
        self._dispatch_renders()

    async def _render_chunk(self, n: int) -> list[tuple[str, str, bytes]]:
        """`n` new captchas (id, answer HMAC, PNG), rendered in one worker task."""
        loop = asyncio.get_running_loop()
        s = self._settings
        codes = [self.new_code() for _ in range(n)]
        rendered = await loop.run_in_executor(
            self._refill_executor, captcha_render.render_images, codes, s.captcha_width, s.captcha_height
        )
        entries = []
        for code, (png, seconds) in zip(codes, rendered, strict=True):
            self._metrics.captcha_render.labels("image").observe(seconds)
            captcha_id = self._sealer.seal(code)
            entries.append((captcha_id, self._sealer.digest(captcha_id, code), png))
        return entries

    # --- issue ---
    async def issue(self, client: str, article_id: str | None = None, replaces: str | None = None) -> Issued:
        """A new captcha (bound to `article_id` if given); `replaces` is voided. Rate limited per client."""
        s = self._settings
        if article_id is not None and not is_article_id(article_id):
            raise BadRequest("article_id is not a valid article id", code="invalid_article_id")
        replaced = self._sealer.parse(replaces) if replaces is not None else None
        if replaces is not None and replaced is None:
            raise BadRequest("replaces is not a captcha id", code="invalid_captcha_id")
        await ratelimit.hit(
            self._redis, self._scripts, self._keys, "captcha", client, s.captcha_issue_limit, s.captcha_issue_window
        )
        if replaces is not None:
            await ratelimit.hit(
                self._redis,
                self._scripts,
                self._keys,
                "captcha-refresh",
                client,
                s.captcha_refresh_limit,
                s.captcha_refresh_window,
            )
        seal, source = await self._take(), CaptchaSource.POOL
        if seal is None:
            code = self.new_code()
            seal, png, source = self._sealer.seal(code), await self._render_image(code), CaptchaSource.RENDER
            digest = self._sealer.digest(seal, code)
            await self._scripts.captcha_store(self._redis, self._keys.captcha(seal), digest, png, s.captcha_ttl)
        if replaced is not None:
            await self._redis.unlink(self._key(replaced))
        self._metrics.captchas_issued.labels(source.value).inc()
        return Issued(self._sealer.issue(seal, article_id, source is CaptchaSource.POOL), s.captcha_ttl)

    async def _take(self) -> str | None:
        """The next pooled seal: from those this process holds, else more from Redis (those whose
        keys still exist: Redis may have lost some, say in a restart). None: the pool is empty."""
        if self._settings.captcha_pool_target <= 0:
            return None
        while True:
            held_since = time.monotonic() - HOLD_S  # older ones' keys may expire before their tickets
            while self._taken:
                taken_at, seal = self._taken.popleft()
                if taken_at >= held_since:
                    self._issued_since_take += 1
                    if len(self._taken) < self._take_size // 2 and not self._pool_short:
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
        entries = await self._redis.lpop(self._pool_key, self._take_size)
        self._wake.set()
        # The pool ran short: no more background takes until a reader runs out and takes itself.
        self._pool_short = len(entries or ()) < self._take_size
        if not entries:
            return False
        fresh = int(time.time()) - POOL_MAX_AGE
        seals = []
        for entry in entries:
            stamp, _, seal = str(entry).partition(":")
            if stamp.isdigit() and int(stamp) >= fresh and seal:
                seals.append(seal)
        ttl = self._settings.captcha_ttl + HOLD_S
        found = await self._scripts.captcha_pool_take(
            self._redis, [self._keys.pooled_captcha(seal) for seal in seals], ttl
        )
        now = time.monotonic()
        self._taken.extend((now, seal) for seal, there in zip(seals, found, strict=True) if there)
        return True

    # --- pool refill ---
    async def pool_size(self) -> int:
        return int(await self._redis.llen(self._pool_key))

    async def refill_once(self) -> int:
        """Top the pool up towards its target; the number of captchas added."""
        target = self._settings.captcha_pool_target
        await self._scripts.captcha_pool_trim(self._redis, self._pool_key, int(time.time()) - POOL_MAX_AGE)
        size = await self.pool_size()
        self._metrics.captcha_pool.set(size)
        missing = target - size
        if missing <= 0:
            return 0
        # At most one chunk per refill worker in flight: the pool fills steadily without queueing
        # more work than the idle-priority workers can take.
        budget = min(missing, REFILL_CHUNK * self._workers)
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
            await self._redis.rpush(self._pool_key, *(f"{now}:{cid}" for cid, _, _ in batch))
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

    def start(self) -> None:
        if self._settings.captcha_pool_target > 0 and self._refill is None:
            self._refill = background.Background()
            self._refill.start(self._refill_loop(self._refill), name="captcha-pool-refill")

    async def stop(self) -> None:
        refill, fetching = self._refill, self._fetching
        self._refill = self._fetching = None
        if refill is not None:
            await refill.stop()
        if fetching is not None:
            await background.stop([fetching])
        for fut in self._audio_inflight.values():
            fut.cancel()

    # --- media ---
    async def image(self, captcha_id: str) -> bytes:
        """The captcha's PNG; CaptchaNotFound when unknown, expired or used."""
        png = await _binary(self._redis, "HGET", self._key(self._ticket(captcha_id)), "png")
        if png is None:
            raise CaptchaNotFound("no such captcha (unknown, expired or already used)")
        return bytes(png)

    async def audio(self, captcha_id: str, lang: str) -> bytes:
        """The captcha's code read aloud in `lang`, rendered once and cached for the captcha's life."""
        ticket = self._ticket(captcha_id)
        code = ticket.code
        lang = lang if lang in captcha_render.LANGUAGES else captcha_render.LANGUAGES[0]
        key = self._key(ticket)
        field = f"wav:{lang}"
        digest, wav = await _binary(self._redis, "HMGET", key, "h", field)
        if digest is None:
            raise CaptchaNotFound("no such captcha (unknown, expired or already used)")
        if wav is not None:
            return bytes(wav)
        inflight = self._audio_inflight.get((captcha_id, lang))
        if inflight is not None:
            return await asyncio.shield(inflight)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._audio_inflight[(captcha_id, lang)] = fut
        try:
            loop = asyncio.get_running_loop()
            data, seconds = await loop.run_in_executor(self._executor, captcha_render.render_audio, code, lang)
            self._metrics.captcha_render.labels("audio").observe(seconds)
            await self._scripts.captcha_cache(self._redis, key, field, data)
            fut.set_result(data)
            return data
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters get it, nobody else has to
            raise
        finally:
            del self._audio_inflight[(captcha_id, lang)]

    # --- verify ---
    async def verify(self, captcha_id: str | None, answer: str | None, article_id: str | None) -> VerifyResult:
        """Check an answer once: the captcha is consumed whatever the outcome."""
        result = await self._verify(captcha_id, answer, article_id)
        self._metrics.captchas_verified.labels(result.value).inc()
        return result

    async def _verify(self, captcha_id: str | None, answer: str | None, article_id: str | None) -> VerifyResult:
        # The comment endpoint may hand over whatever a JSON body held: check types before content.
        for value in (captcha_id, answer, article_id):
            if value is not None and not isinstance(value, str):
                return VerifyResult.BAD_REQUEST
        if not captcha_id or not answer or not answer.strip():
            return VerifyResult.MISSING_INPUT_RESPONSE
        if len(answer) > MAX_ANSWER:
            return VerifyResult.BAD_REQUEST
        ticket = self._sealer.parse(captcha_id)
        if ticket is None:
            return VerifyResult.INVALID_INPUT_RESPONSE
        key = self._key(ticket)
        try:
            if ticket.expired(self._settings.captcha_ttl):
                await self._redis.unlink(key)  # a taken pooled key outlives its ticket by up to HOLD_S
                return VerifyResult.TIMEOUT_OR_DUPLICATE
            digest = await self._scripts.captcha_consume(self._redis, key)
        except RedisError as exc:
            log.warning("captcha verification failed: store error %s", type(exc).__name__)
            return VerifyResult.INTERNAL_ERROR
        if digest is None:
            return VerifyResult.TIMEOUT_OR_DUPLICATE
        if ticket.bind != UNBOUND and not hmac.compare_digest(ticket.bind, self._sealer.bind(article_id)):
            return VerifyResult.INVALID_INPUT_RESPONSE
        if not hmac.compare_digest(digest, self._sealer.digest(ticket.seal, answer)):
            return VerifyResult.INVALID_INPUT_RESPONSE
        return VerifyResult.OK


def render_workers(settings: Settings) -> int:
    return settings.captcha_render_workers or os.cpu_count() or 1


def start_workers(settings: Settings, workers: int, idle: bool) -> tuple[ProcessPoolExecutor, list[Any]]:
    # forkserver: workers never inherit the event loop, sockets or threads of this process.
    executor = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=captcha_render.warm,
        initargs=(settings.captcha_width, settings.captcha_height, idle),
    )
    # Start every worker now: a worker spawned by the first burst would hold up the event loop.
    return executor, [asyncio.wrap_future(executor.submit(captcha_render.ping)) for _ in range(workers)]
