"""Captchas: issue, refresh, fetch (image and audio), verify once.

The `captcha` library only draws; storage, expiry, single use and checking live here. What an id
holds is in `seals`, the pre-rendered pool in `pool`, the render workers in `workers`.

- Issuing takes a pre-rendered captcha from the pool when there is one (only a ticket is signed),
  else renders one for the reader and stores it (HMAC of the answer and PNG) with the TTL.
- Verification reads and deletes the key in one script, right answer or wrong: one attempt per
  captcha, so guessing costs a fresh captcha every time. Answers in Turnstile's siteverify terms.
- A comment submission checks first (`check`: a wrong answer deletes the captcha, a right one
  keeps it) and consumes it in the same script that stores the comment (service.review.intake),
  so a store that refuses the write spends no captcha. A captcha lives in its seal's queue
  partition (`partition`), where that script runs.
- Audio is rendered on first request and cached in the captcha's hash, so it expires with it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.articles import is_article_id
from service.captcha import render as captcha_render
from service.captcha.pool import CaptchaPool
from service.captcha.seals import ID_PATTERN, UNBOUND, Sealer, Ticket, random_code
from service.captcha.workers import Renderer
from service.errors import BadRequest, NotFound
from service.metrics import Metrics
from service.settings import Settings
from service.store import ratelimit
from service.store.keys import Keys
from service.store.scripts import Scripts

log = logging.getLogger(__name__)

MAX_ANSWER = 64


async def _binary(redis: Redis, *command: str) -> Any:
    """A command whose reply is binary (PNG, WAV), on a client that decodes replies by default."""
    return await redis.execute_command(*command, NEVER_DECODE=[])  # type: ignore[no-untyped-call]


class VerifyResult(StrEnum):
    """Turnstile siteverify's outcomes (a str Enum: compares equal to the plain strings)."""

    OK = "ok"
    MISSING_INPUT_RESPONSE = "missing-input-response"  # no id or no answer given
    INVALID_INPUT_RESPONSE = "invalid-input-response"  # wrong answer, forged id, or another article's captcha
    TIMEOUT_OR_DUPLICATE = "timeout-or-duplicate"  # expired, already used, or replaced by a refresh
    BAD_REQUEST = "bad-request"  # malformed input (not strings, far too long)
    INTERNAL_ERROR = "internal-error"  # the store failed; the caller should answer 503


@dataclass(frozen=True, slots=True)
class Checked:
    """A right answer, not yet consumed: what the submission script needs to consume it."""

    key: str
    digest: str


class CaptchaSource(StrEnum):
    POOL = "pool"
    RENDER = "render"


class CaptchaNotFound(NotFound):
    code = "captcha_not_found"


@dataclass(frozen=True, slots=True)
class Issued:
    id: str
    expires_in: int


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
        self._sealer = Sealer(settings.secret_bytes)
        self._renderer = Renderer(settings, metrics, executor, workers, refill_executor or executor)
        self._pool = CaptchaPool(settings, redis, scripts, keys, metrics, self._sealer, self._renderer, self.new_code)
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

    # --- issue ---
    async def count_issue(self, client: str) -> None:
        """Count one captcha request of `client` (RateLimited beyond the limit): before its body is read."""
        s = self._settings
        await ratelimit.hit(
            self._redis, self._scripts, self._keys, "captcha", client, s.captcha_issue_limit, s.captcha_issue_window
        )

    async def issue(
        self, client: str, article_id: str | None = None, replaces: str | None = None, *, counted: bool = False
    ) -> Issued:
        """A new captcha bound to `article_id` (or to "no article": it then verifies only where no
        article applies); `replaces` is voided when `client` is the one it was issued to. Rate
        limited per client (`counted`: count_issue already counted this request)."""
        s = self._settings
        if article_id is not None and not is_article_id(article_id):
            raise BadRequest("article_id is not a valid article id", code="invalid_article_id")
        if replaces is not None and not re.fullmatch(ID_PATTERN, replaces):
            raise BadRequest("replaces is not a captcha id", code="invalid_captcha_id")
        # One that is not ours (forged, or issued under an earlier secret) voids nothing; the reader
        # still gets the new captcha they asked for.
        replaced = self._sealer.parse(replaces) if replaces is not None else None
        if not counted:
            await self.count_issue(client)
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
        seal, source = await self._pool.take(), CaptchaSource.POOL
        if seal is None:
            code = self.new_code()
            seal, png, source = self._sealer.seal(code), await self._renderer.image(code), CaptchaSource.RENDER
            digest = self._sealer.digest(seal, code)
            await self._scripts.captcha_store(self._redis, self._keys.captcha(seal), digest, png, s.captcha_ttl)
        holder = ratelimit.subject_of(client)  # an IPv6 reader keeps its captchas across its /64
        if replaced is not None and hmac.compare_digest(replaced.holder, self._sealer.holder(holder)):
            # Only the client it was issued to may void it: knowing an id (from an image URL in a
            # log, say) is not holding it. Anyone else's refresh leaves it to expire on its own.
            await self._redis.unlink(self._key(replaced))
        self._metrics.captchas_issued.labels(source.value).inc()
        pooled = source is CaptchaSource.POOL
        return Issued(self._sealer.issue(seal, article_id, pooled, client=holder), s.captcha_ttl)

    # --- the pre-rendered pool ---
    async def pool_size(self) -> int:
        return await self._pool.size()

    async def refill_once(self) -> int:
        """Top the pool up towards its target; the number of captchas added."""
        return await self._pool.refill_once()

    def start(self) -> None:
        self._pool.start()

    async def stop(self) -> None:
        await self._pool.stop()
        try:
            # Captchas this process took from the pool and never issued go back for the next one.
            returned = await self._pool.give_back()
            if returned:
                log.info("gave %d unissued pooled captchas back to the pool", returned)
        except RedisError as exc:  # the store is gone too: they expire by themselves
            log.warning("captcha pool give-back failed: %s", type(exc).__name__)
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
            data = await self._renderer.audio(code, lang)
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

    def partition(self, captcha_id: str) -> int:
        """The queue partition a submission with this captcha is written to (its captcha's own)."""
        ticket = self._sealer.parse(captcha_id)
        return self._keys.partition_of(ticket.seal if ticket is not None else captcha_id)

    async def check(
        self, captcha_id: str | None, answer: str | None, article_id: str | None
    ) -> tuple[VerifyResult, Checked | None]:
        """Check an answer once without consuming a right one (the caller's write script does).

        A wrong answer deletes the captcha (one guess each, as `verify`); the store failing is
        INTERNAL_ERROR, and then nothing was deleted."""
        prepared = self.prepare_check(captcha_id, answer, article_id)
        found = None
        if isinstance(prepared, Checked):
            try:
                found = await self._scripts.captcha_check(self._redis, prepared.key, prepared.digest)
            except RedisError as exc:
                log.warning("captcha check failed: store error %s", type(exc).__name__)
                return self.check_result(VerifyResult.INTERNAL_ERROR, None)
        return self.check_result(prepared, found)

    def consumed(self) -> None:
        """Count a captcha the submission script consumed (a right answer, verified)."""
        self._metrics.captchas_verified.labels(VerifyResult.OK.value).inc()

    def prepare_check(
        self, captcha_id: str | None, answer: str | None, article_id: str | None
    ) -> VerifyResult | Checked:
        """The part of `check` that needs no store: an outcome already (malformed, forged, expired),
        or the key and answer digest for CAPTCHA_CHECK, which the submission sends in its one
        round trip of checks (service.comments.admission) and reads with `check_result`."""
        ticket = self._open(captcha_id, answer, article_id)
        if isinstance(ticket, VerifyResult):
            return ticket
        assert answer is not None  # _open checked it
        if ticket.expired(self._settings.captcha_ttl):
            return VerifyResult.TIMEOUT_OR_DUPLICATE  # its key expires by itself (or was never there)
        # Another article's captcha can never be right: an empty digest spends it like a wrong answer.
        digest = self._sealer.digest(ticket.seal, answer) if self._bound_to(ticket, article_id) else ""
        return Checked(self._key(ticket), digest)

    def check_result(self, prepared: VerifyResult | Checked, found: int | None) -> tuple[VerifyResult, Checked | None]:
        """The outcome of a prepared check, given CAPTCHA_CHECK's answer when one was needed (1 right,
        0 gone, -1 wrong and deleted); counted unless right (a right one is counted when the
        submission script consumes it, `consumed`)."""
        if isinstance(prepared, Checked):
            if found is not None and found > 0:
                return VerifyResult.OK, prepared
            prepared = VerifyResult.TIMEOUT_OR_DUPLICATE if not found else VerifyResult.INVALID_INPUT_RESPONSE
        self._metrics.captchas_verified.labels(prepared.value).inc()
        return prepared, None

    def _open(self, captcha_id: object, answer: object, article_id: object) -> Ticket | VerifyResult:
        """The ticket of a well-formed id and answer, or why there is none (checked before the store)."""
        # The comment endpoint may hand over whatever a JSON body held: check types before content.
        for value in (captcha_id, answer, article_id):
            if value is not None and not isinstance(value, str):
                return VerifyResult.BAD_REQUEST
        if not isinstance(captcha_id, str) or not isinstance(answer, str) or not captcha_id or not answer.strip():
            return VerifyResult.MISSING_INPUT_RESPONSE
        if len(answer) > MAX_ANSWER:
            return VerifyResult.BAD_REQUEST
        ticket = self._sealer.parse(captcha_id)
        return VerifyResult.INVALID_INPUT_RESPONSE if ticket is None else ticket

    def _bound_to(self, ticket: Ticket, article_id: str | None) -> bool:
        """Whether the captcha may be used for `article_id` (the same rule as `_verify`'s)."""
        return ticket.bind == UNBOUND or hmac.compare_digest(ticket.bind, self._sealer.bind(article_id))

    async def _verify(self, captcha_id: str | None, answer: str | None, article_id: str | None) -> VerifyResult:
        ticket = self._open(captcha_id, answer, article_id)
        if isinstance(ticket, VerifyResult):
            return ticket
        assert answer is not None  # _open checked it
        key = self._key(ticket)
        try:
            if ticket.expired(self._settings.captcha_ttl):
                await self._redis.unlink(key)  # a taken pooled key outlives its ticket by up to pool.HOLD_S
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
