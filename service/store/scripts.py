"""Every Lua script, in one place, registered once per app.

The review queue's scripts are in `service.store.queue_scripts` (this module registers them).
Each script starts with a header naming its KEYS and ARGV, touches only keys that share one
hash tag (so it runs on Redis Cluster), and is wrapped by a method that turns its return codes
into Python values or domain exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from service.store.queue_scripts import (
    QUEUE_CLAIM,
    QUEUE_DECIDE,
    QUEUE_ENQUEUE,
    QUEUE_ERASE_OPEN_PII,
    QUEUE_ERASE_PII,
    QUEUE_EXPIRE,
    QUEUE_RELEASE,
    QUEUE_RENEW,
    QUEUE_REOPEN,
)

RATELIMIT = """
-- KEYS[1] = rate-limit counter
-- ARGV[1] = window length in ms
-- returns {count in this window, ms until the window ends}
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


LOCK_RELEASE = """
-- KEYS[1] = lock, ARGV[1] = the holder's token
-- Deletes the lock only if this holder still has it: one that expired and was taken by another
-- replica in the meantime is theirs. Returns 1 if deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

CAPTCHA_CONSUME = """
-- KEYS[1] = captcha hash
-- returns the answer HMAC and deletes the captcha, whatever the answer turns out to be (one attempt
-- per captcha) | false when it is gone (expired, used, refreshed or never issued)
local h = redis.call('HGET', KEYS[1], 'h')
if not h then return false end
redis.call('UNLINK', KEYS[1])
return h
"""

CAPTCHA_CHECK = """
-- KEYS[1] = captcha hash
-- ARGV[1] = HMAC of the reader's answer ('' when it cannot be right, e.g. another article's captcha)
-- returns 1 when the answer is right (the captcha stays: the submission script consumes it with the
-- write), 0 when the captcha is gone, -1 when the answer is wrong (the captcha is deleted: one guess)
local h = redis.call('HGET', KEYS[1], 'h')
if not h then return 0 end
if h == ARGV[1] then return 1 end
redis.call('UNLINK', KEYS[1])
return -1
"""

CAPTCHA_STORE = """
-- KEYS[1] = captcha hash
-- ARGV[1] = answer HMAC, ARGV[2] = PNG, ARGV[3] = TTL in seconds
-- One round trip instead of MULTI/HSET/EXPIRE/EXEC: the hash never exists without its TTL.
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'png', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

CAPTCHA_POOL_TAKE = """
-- KEYS = pooled captcha hashes a process just popped from the pool (all in one partition's tag)
-- ARGV[1] = TTL in seconds for those still there (the captcha's TTL + how long a process may hold one)
-- returns a 1 or 0 per key: still there (TTL set) or lost (say, Redis restarted without it)
local found = {}
for i, key in ipairs(KEYS) do
  found[i] = redis.call('EXPIRE', KEYS[i], ARGV[1])
end
return found
"""

CAPTCHA_POOL_TRIM = """
-- KEYS[1] = captcha pool list ('<created unix time>:<id>', oldest first)
-- ARGV[1] = cutoff unix time
-- Drops entries created before the cutoff from the head; returns how many.
local dropped = 0
while dropped < 1000 do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local created = tonumber(string.match(head, '^(%d+):'))
  if created and created >= tonumber(ARGV[1]) then break end
  redis.call('LPOP', KEYS[1])
  dropped = dropped + 1
end
return dropped
"""

CAPTCHA_CACHE = """
-- KEYS[1] = captcha hash
-- ARGV[1] = field (e.g. 'wav:vi'), ARGV[2] = value
-- returns 1 when stored, 0 when the captcha is gone (an HSET would recreate it without a TTL)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class Batch:
    """Commands for one round trip: a pipeline without MULTI, scripts sent by EVALSHA alone (a
    redis-py pipeline asks SCRIPT EXISTS before every run: one round trip more). Replies are raw."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        # (position in the pipeline, script, keys, args) of each script, to send again after NOSCRIPT
        self.scripts: list[tuple[int, Any, list[str], list[Any]]] = []

    def script(self, script: Any, keys: list[str], args: list[Any]) -> None:
        self.scripts.append((len(self.pipe), script, keys, args))
        _evalsha(self.pipe, script, keys, args)


def _evalsha(pipe: Any, script: Any, keys: list[str], args: list[Any]) -> None:
    # execute_command, not pipe.evalsha: redis-py's cluster pipeline refuses the latter by name,
    # while routing EVALSHA by its keys' slot (tests/test_script_slots.py runs it on a cluster).
    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)


class Scripts:
    """Scripts registered with redis-py (EVALSHA, falling back to EVAL after a server restart)."""

    def __init__(self, redis: Redis) -> None:
        self._ratelimit = redis.register_script(RATELIMIT)
        self._queue_enqueue = redis.register_script(QUEUE_ENQUEUE)
        self._queue_expire = redis.register_script(QUEUE_EXPIRE)
        self._queue_claim = redis.register_script(QUEUE_CLAIM)
        self._queue_decide = redis.register_script(QUEUE_DECIDE)
        self._queue_release = redis.register_script(QUEUE_RELEASE)
        self._queue_renew = redis.register_script(QUEUE_RENEW)
        self._queue_reopen = redis.register_script(QUEUE_REOPEN)
        self._queue_erase_pii = redis.register_script(QUEUE_ERASE_PII)
        self._queue_erase_open_pii = redis.register_script(QUEUE_ERASE_OPEN_PII)
        self._lock_release = redis.register_script(LOCK_RELEASE)
        self._captcha_consume = redis.register_script(CAPTCHA_CONSUME)
        self._captcha_check = redis.register_script(CAPTCHA_CHECK)
        self._captcha_store = redis.register_script(CAPTCHA_STORE)
        self._captcha_pool_take = redis.register_script(CAPTCHA_POOL_TAKE)
        self._captcha_pool_trim = redis.register_script(CAPTCHA_POOL_TRIM)
        self._captcha_cache = redis.register_script(CAPTCHA_CACHE)

    @staticmethod
    async def _run(script: Any, redis: Redis, keys: list[str], args: list[Any]) -> Any:
        return await script(keys=keys, args=args, client=redis)

    @staticmethod
    async def batch(redis: Redis, build: Callable[[Batch], None]) -> list[Any]:
        """Run what `build` adds to a Batch in one round trip; the replies, in order.

        A store that lost some scripts (restarted, SCRIPT FLUSH) answers NOSCRIPT for those without
        running them: they are loaded and only they are sent again. Everything else ran once
        already, and a counter among it must not count twice."""
        async with redis.pipeline(transaction=False) as pipe:
            batch = Batch(pipe)
            build(batch)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [entry for entry in batch.scripts if isinstance(replies[entry[0]], NoScriptError)]
        if missing:
            for script in {id(entry[1]): entry[1] for entry in missing}.values():
                script.sha = await redis.script_load(script.script)
            async with redis.pipeline(transaction=False) as pipe:
                for _, script, keys, args in missing:
                    _evalsha(pipe, script, keys, args)
                again = await pipe.execute(raise_on_error=False)
            for (position, *_), reply in zip(missing, again, strict=True):
                replies[position] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def batch_ratelimit(self, batch: Batch, key: str, window_ms: int) -> None:
        """RATELIMIT in a batch; its reply is [count, ms until the window ends]."""
        batch.script(self._ratelimit, [key], [window_ms])

    def batch_captcha_check(self, batch: Batch, key: str, digest: str) -> None:
        """CAPTCHA_CHECK in a batch; its reply as `captcha_check`'s."""
        batch.script(self._captcha_check, [key], [digest])

    async def ratelimit(self, redis: Redis, key: str, window_ms: int) -> tuple[int, int]:
        count, ttl = await self._run(self._ratelimit, redis, [key], [window_ms])
        return int(count), int(ttl)

    async def queue_enqueue(self, redis: Redis, keys: list[str], args: list[Any]) -> tuple[str, int]:
        """See QUEUE_ENQUEUE; `service.review.intake.enqueue` builds the keys and arguments.

        Run once: the client never retries it by itself (service.store.connection). Running it again
        with the same id is safe, it answers the first outcome."""
        found, code = await self._run(self._queue_enqueue, redis, keys, args)
        return str(found), int(code)

    # The queue's transition scripts answer {'ok', ...} | {'not_found'} | {'conflict', ...};
    # `service.review.transitions` turns those into values and domain errors.
    async def queue_expire(self, redis: Redis, keys: list[str], args: list[Any]) -> list[str]:
        return [str(x) for x in await self._run(self._queue_expire, redis, keys, args)]

    async def queue_claim(self, redis: Redis, keys: list[str], args: list[Any]) -> tuple[list[str], list[Any]]:
        expired, claimed = await self._run(self._queue_claim, redis, keys, args)
        return [str(x) for x in expired], list(claimed)

    async def queue_decide(self, redis: Redis, keys: list[str], args: list[Any]) -> list[Any]:
        return list(await self._run(self._queue_decide, redis, keys, args))

    async def queue_release(self, redis: Redis, keys: list[str], args: list[Any]) -> list[Any]:
        return list(await self._run(self._queue_release, redis, keys, args))

    async def queue_renew(self, redis: Redis, keys: list[str], args: list[Any]) -> list[Any]:
        return list(await self._run(self._queue_renew, redis, keys, args))

    async def queue_reopen(self, redis: Redis, keys: list[str], args: list[Any]) -> list[Any]:
        return list(await self._run(self._queue_reopen, redis, keys, args))

    async def queue_erase_pii(self, redis: Redis, keys: list[str], args: list[Any]) -> int:
        return int(await self._run(self._queue_erase_pii, redis, keys, args))

    async def queue_erase_open_pii(self, redis: Redis, keys: list[str], args: list[Any]) -> tuple[int, bool]:
        """See QUEUE_ERASE_OPEN_PII: (comments erased, whether more may be due)."""
        erased, more = await self._run(self._queue_erase_open_pii, redis, keys, args)
        return int(erased), bool(more)

    async def lock_release(self, redis: Redis, key: str, token: str) -> bool:
        """Release a lock this holder still holds (compare and delete, atomically)."""
        return bool(await self._run(self._lock_release, redis, [key], [token]))

    async def captcha_consume(self, redis: Redis, key: str) -> str | None:
        """The captcha's answer HMAC, deleting the captcha; None when it is gone."""
        found = await self._run(self._captcha_consume, redis, [key], [])
        return str(found) if found else None

    async def captcha_check(self, redis: Redis, key: str, digest: str) -> int:
        """1: the answer is right (the captcha stays); 0: it is gone; -1: wrong (deleted). See CAPTCHA_CHECK."""
        return int(await self._run(self._captcha_check, redis, [key], [digest]))

    async def captcha_store(self, redis: Redis, key: str, digest: str, png: bytes, ttl_s: int) -> None:
        """Create a captcha's hash with its TTL, atomically."""
        await self._run(self._captcha_store, redis, [key], [digest, png, ttl_s])

    async def captcha_pool_take(self, redis: Redis, keys: list[str], ttl_s: int) -> list[bool]:
        """Start the TTL of pooled captchas a process took; which of them were still there.

        Pooled captchas live in their seal's partition (service.store.keys): one script per hash
        tag, so each call stays in one slot on Redis Cluster (one call with a single partition)."""
        by_tag: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            by_tag.setdefault(key[key.index("{") : key.index("}") + 1], []).append(i)
        found = [False] * len(keys)
        for indexes in by_tag.values():
            replies = await self._run(self._captcha_pool_take, redis, [keys[i] for i in indexes], [ttl_s])
            for i, reply in zip(indexes, replies, strict=True):
                found[i] = bool(reply)
        return found

    async def captcha_pool_trim(self, redis: Redis, key: str, cutoff: int) -> int:
        """Drop pool entries created before `cutoff` (unix time)."""
        return int(await self._run(self._captcha_pool_trim, redis, [key], [cutoff]))

    async def captcha_cache(self, redis: Redis, key: str, field: str, value: bytes) -> bool:
        """Add a field to a live captcha only; False when it expired or was used meanwhile."""
        return bool(await self._run(self._captcha_cache, redis, [key], [field, value]))
