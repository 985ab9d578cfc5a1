"""Every Lua script, in one place, registered once per app.

Each script starts with a header naming its KEYS and ARGV, touches only keys that share one
hash tag (so it runs on Redis Cluster), and is wrapped by a method that turns its return codes
into Python values or domain exceptions.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

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


# --------------------------------------------------------------------------- review queue
# Every queue script reads the clock with TIME (effects replication, Redis >= 7), so all
# replicas of the service agree on lease expiry. Scripts that walk a zset build comment hash
# keys from the partition's comment prefix: those keys share the partition's hash tag (same slot).

QUEUE_ENQUEUE = """
-- KEYS[1] = comment hash, KEYS[2] = pending zset, KEYS[3] = open zset (by age),
-- KEYS[4] = decisions stream, KEYS[5] = idempotency key (optional)
-- ARGV[1] = comment id, ARGV[2] = priority score, ARGV[3] = created_at ms,
-- ARGV[4] = idempotency ttl s, ARGV[5] = model version, ARGV[6] = spam probability,
-- ARGV[7..] = field, value pairs of the comment hash
-- returns {id, 1} when written, {existing id, 0} when the idempotency key already named one,
-- {'', -1} when the id is taken (a caller bug: ids are random)
if KEYS[5] then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {existing, 0} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'', -1} end
local t = redis.call('TIME')
local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'state', 'pending', 'version', 1, 'priority', ARGV[2], 'updated_at', now, unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
local xid = redis.call('XADD', KEYS[4], '*', 'event', 'submitted', 'id', ARGV[1], 'at', now, 'by', '',
  'from', '', 'to', 'pending', 'version', 1, 'model_version', ARGV[5], 'spam_probability', ARGV[6])
redis.call('HSET', KEYS[1], 'log', xid)
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[4]) end
return {ARGV[1], 1}
"""


# Shared Lua helpers, prepended to the queue scripts that need them.
_QUEUE_LIB = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Append an entry to the decision stream and its id to the comment's `log` (its history, cheaply).
local function audit(h, stream, ...)
  local xid = redis.call('XADD', stream, '*', ...)
  local log = redis.call('HGET', h, 'log')
  if log then redis.call('HSET', h, 'log', log .. ' ' .. xid) else redis.call('HSET', h, 'log', xid) end
end
-- Return claims whose lease ended (score <= now) to pending; returns their ids.
local function expire_due(claims, pending, decisions, prefix, now, max)
  local due = redis.call('ZRANGE', claims, '-inf', now, 'BYSCORE', 'LIMIT', 0, max)
  local expired = {}
  for _, id in ipairs(due) do
    local h = prefix .. id
    local st = redis.call('HMGET', h, 'state', 'version', 'priority', 'claimed_by', 'model_version',
      'spam_probability')
    redis.call('ZREM', claims, id)
    if st[1] == 'claimed' then
      local v = tonumber(st[2]) + 1
      redis.call('HSET', h, 'state', 'pending', 'version', v, 'updated_at', now)
      redis.call('HDEL', h, 'claimed_by', 'lease_until')
      redis.call('ZADD', pending, st[3], id)
      audit(h, decisions, 'event', 'lease_expired', 'id', id, 'at', now, 'by', st[4],
        'from', 'claimed', 'to', 'pending', 'version', v, 'model_version', st[5], 'spam_probability', st[6])
      expired[#expired + 1] = id
    end
  end
  return expired
end
"""

QUEUE_EXPIRE = (
    _QUEUE_LIB
    + """
-- KEYS[1] = claims zset, KEYS[2] = pending zset, KEYS[3] = decisions stream
-- ARGV[1] = comment key prefix, ARGV[2] = most leases to return in one call
-- returns the ids whose lease expired (now pending again)
return expire_due(KEYS[1], KEYS[2], KEYS[3], ARGV[1], now_ms(), tonumber(ARGV[2]))
"""
)

QUEUE_CLAIM = (
    _QUEUE_LIB
    + """
-- KEYS[1] = pending zset, KEYS[2] = claims zset, KEYS[3] = decisions stream
-- ARGV[1] = comment key prefix, ARGV[2] = moderator, ARGV[3] = most to claim, ARGV[4] = lease ms
-- returns {expired ids, {id, version, lease_until, ...}}; expired leases go back first (lazily)
local now = now_ms()
local expired = expire_due(KEYS[2], KEYS[1], KEYS[3], ARGV[1], now, 1000)
local lease_until = now + tonumber(ARGV[4])
local claimed = {}
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[3]))
for i = 1, #popped, 2 do
  local id = popped[i]
  local h = ARGV[1] .. id
  local st = redis.call('HMGET', h, 'state', 'version', 'model_version', 'spam_probability')
  if st[1] == 'pending' then
    local v = tonumber(st[2]) + 1
    redis.call('HSET', h, 'state', 'claimed', 'version', v, 'claimed_by', ARGV[2], 'lease_until', lease_until,
      'updated_at', now)
    redis.call('ZADD', KEYS[2], lease_until, id)
    audit(h, KEYS[3], 'event', 'claimed', 'id', id, 'at', now, 'by', ARGV[2],
      'from', 'pending', 'to', 'claimed', 'version', v, 'model_version', st[3], 'spam_probability', st[4])
    claimed[#claimed + 1] = id
    claimed[#claimed + 1] = v
    claimed[#claimed + 1] = lease_until
  end
end
return {expired, claimed}
"""
)

QUEUE_DECIDE = (
    _QUEUE_LIB
    + """
-- KEYS[1] = comment hash, KEYS[2] = claims zset, KEYS[3] = pending zset, KEYS[4] = open zset,
-- KEYS[5] = decisions stream, KEYS[6] = the new state's decided zset, KEYS[7] = pii zset,
-- KEYS[8] = the article's approved zset, KEYS[9] = labels stream
-- ARGV[1] = id, ARGV[2] = moderator, ARGV[3] = expected version, ARGV[4] = new state (approved|rejected),
-- ARGV[5] = action, ARGV[6] = reason, ARGV[7] = note, ARGV[8] = training label (service.review.labels.label_for)
-- returns {'ok', state, version, at} | {'not_found'} | {'conflict', why, state, version, claimed_by}
local st = redis.call('HMGET', KEYS[1], 'state', 'version', 'claimed_by', 'model_version', 'spam_probability')
if not st[1] then return {'not_found'} end
local cur = tonumber(st[2])
local holder = st[3] or ''
if st[1] ~= 'pending' and st[1] ~= 'claimed' then return {'conflict', 'already_decided', st[1], cur, holder} end
if st[1] == 'claimed' and holder ~= ARGV[2] then return {'conflict', 'claimed_by_other', st[1], cur, holder} end
if cur ~= tonumber(ARGV[3]) then return {'conflict', 'stale_version', st[1], cur, holder} end
local now = now_ms()
local v = cur + 1
redis.call('HSET', KEYS[1], 'state', ARGV[4], 'version', v, 'updated_at', now, 'decided_by', ARGV[2],
  'decided_at', now, 'action', ARGV[5], 'reason', ARGV[6], 'note', ARGV[7])
redis.call('HDEL', KEYS[1], 'claimed_by', 'lease_until')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[6], now, ARGV[1])
redis.call('ZADD', KEYS[7], now, ARGV[1])
if ARGV[4] == 'approved' then redis.call('ZADD', KEYS[8], now, ARGV[1]) end
audit(KEYS[1], KEYS[5], 'event', 'decided', 'id', ARGV[1], 'at', now, 'by', ARGV[2],
  'from', st[1], 'to', ARGV[4], 'version', v, 'action', ARGV[5], 'reason', ARGV[6], 'note', ARGV[7],
  'model_version', st[4], 'spam_probability', st[5])
-- The labelled example for retraining, atomically with the decision. Text and label only: no
-- phone, client address or user agent, so retention never needs to touch this stream.
if KEYS[9] then
  local ex = redis.call('HMGET', KEYS[1], 'article_id', 'name', 'title', 'content', 'signals')
  local markup = '0'
  local ok, sig = pcall(cjson.decode, ex[5] or '{}')
  if ok and type(sig) == 'table' and sig['had_markup'] == true then markup = '1' end
  redis.call('XADD', KEYS[9], '*', 'id', ARGV[1], 'article_id', ex[1] or '', 'name', ex[2] or '',
    'title', ex[3] or '', 'content', ex[4] or '', 'had_markup', markup, 'label', ARGV[8] or '', 'action', ARGV[5],
    'reason', ARGV[6], 'by', ARGV[2], 'at', now, 'model_version', st[4] or '', 'spam_probability', st[5] or '')
end
return {'ok', ARGV[4], v, now}
"""
)

QUEUE_RELEASE = (
    _QUEUE_LIB
    + """
-- KEYS[1] = comment hash, KEYS[2] = claims zset, KEYS[3] = pending zset, KEYS[4] = decisions stream
-- ARGV[1] = id, ARGV[2] = moderator, ARGV[3] = expected version ('' = any), ARGV[4] = '1' to release
-- someone else's claim (admin)
-- returns {'ok', 'pending', version, at} | {'not_found'} | {'conflict', why, state, version, claimed_by}
local st = redis.call('HMGET', KEYS[1], 'state', 'version', 'claimed_by', 'priority', 'model_version',
  'spam_probability')
if not st[1] then return {'not_found'} end
local cur = tonumber(st[2])
local holder = st[3] or ''
if st[1] ~= 'claimed' then return {'conflict', 'not_claimed', st[1], cur, holder} end
if holder ~= ARGV[2] and ARGV[4] ~= '1' then return {'conflict', 'claimed_by_other', st[1], cur, holder} end
if ARGV[3] ~= '' and cur ~= tonumber(ARGV[3]) then return {'conflict', 'stale_version', st[1], cur, holder} end
local now = now_ms()
local v = cur + 1
redis.call('HSET', KEYS[1], 'state', 'pending', 'version', v, 'updated_at', now)
redis.call('HDEL', KEYS[1], 'claimed_by', 'lease_until')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], st[4], ARGV[1])
audit(KEYS[1], KEYS[4], 'event', 'released', 'id', ARGV[1], 'at', now, 'by', ARGV[2],
  'from', 'claimed', 'to', 'pending', 'version', v, 'model_version', st[5], 'spam_probability', st[6])
return {'ok', 'pending', v, now}
"""
)

QUEUE_RENEW = (
    _QUEUE_LIB
    + """
-- KEYS[1] = comment hash, KEYS[2] = claims zset
-- ARGV[1] = id, ARGV[2] = moderator, ARGV[3] = lease ms, ARGV[4] = expected version ('' = any)
-- returns {'ok', 'claimed', version, lease_until} | {'not_found'} | {'conflict', why, state, version, claimed_by}
-- A renewal changes no state, so it keeps the version (the moderator's pending decision stays valid).
local st = redis.call('HMGET', KEYS[1], 'state', 'version', 'claimed_by')
if not st[1] then return {'not_found'} end
local cur = tonumber(st[2])
local holder = st[3] or ''
if st[1] ~= 'claimed' then return {'conflict', 'not_claimed', st[1], cur, holder} end
if holder ~= ARGV[2] then return {'conflict', 'claimed_by_other', st[1], cur, holder} end
if ARGV[4] ~= '' and cur ~= tonumber(ARGV[4]) then return {'conflict', 'stale_version', st[1], cur, holder} end
local lease_until = now_ms() + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'lease_until', lease_until)
redis.call('ZADD', KEYS[2], lease_until, ARGV[1])
return {'ok', 'claimed', cur, lease_until}
"""
)

QUEUE_REOPEN = (
    _QUEUE_LIB
    + """
-- KEYS[1] = comment hash, KEYS[2] = pending zset, KEYS[3] = open zset, KEYS[4] = decisions stream,
-- KEYS[5] = approved zset, KEYS[6] = rejected zset, KEYS[7] = pii zset, KEYS[8] = the article's approved zset
-- ARGV[1] = id, ARGV[2] = admin, ARGV[3] = expected version ('' = any), ARGV[4] = note
-- returns {'ok', 'pending', version, at} | {'not_found'} | {'conflict', why, state, version, claimed_by}
local st = redis.call('HMGET', KEYS[1], 'state', 'version', 'priority', 'created_at', 'model_version',
  'spam_probability', 'action', 'reason')
if not st[1] then return {'not_found'} end
local cur = tonumber(st[2])
if st[1] ~= 'approved' and st[1] ~= 'rejected' then return {'conflict', 'not_decided', st[1], cur, ''} end
if ARGV[3] ~= '' and cur ~= tonumber(ARGV[3]) then return {'conflict', 'stale_version', st[1], cur, ''} end
local now = now_ms()
local v = cur + 1
redis.call('HSET', KEYS[1], 'state', 'pending', 'version', v, 'updated_at', now)
redis.call('HDEL', KEYS[1], 'decided_by', 'decided_at', 'action', 'reason', 'note')
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
redis.call('ZADD', KEYS[2], st[3], ARGV[1])
redis.call('ZADD', KEYS[3], st[4], ARGV[1])
audit(KEYS[1], KEYS[4], 'event', 'reopened', 'id', ARGV[1], 'at', now, 'by', ARGV[2],
  'from', st[1], 'to', 'pending', 'version', v, 'action', st[7] or '', 'reason', st[8] or '', 'note', ARGV[4],
  'model_version', st[5], 'spam_probability', st[6])
return {'ok', 'pending', v, now}
"""
)

QUEUE_ERASE_PII = """
-- KEYS[1] = pii zset (decided comments still holding personal data, by decision time)
-- ARGV[1] = comment key prefix, ARGV[2] = cutoff ms (decided at or before), ARGV[3] = most to erase
-- returns the number of comments erased. Text, labels and scores stay (retraining needs them);
-- phone, client address and user agent go, from the hash and from the raw snapshot.
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, id in ipairs(due) do
  local h = ARGV[1] .. id
  local raw = redis.call('HGET', h, 'raw')
  if raw then
    local ok, snap = pcall(cjson.decode, raw)
    if ok and type(snap) == 'table' then
      snap['phone'] = nil
      snap['client'] = nil
      snap['user_agent'] = nil
      redis.call('HSET', h, 'raw', cjson.encode(snap))
    end
  end
  redis.call('HDEL', h, 'phone', 'client', 'user_agent')
  if redis.call('EXISTS', h) == 1 then redis.call('HSET', h, 'pii_erased_at', now) end
  redis.call('ZREM', KEYS[1], id)
end
return #due
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

CAPTCHA_STORE = """
-- KEYS[1] = captcha hash
-- ARGV[1] = answer HMAC, ARGV[2] = PNG, ARGV[3] = TTL in seconds
-- One round trip instead of MULTI/HSET/EXPIRE/EXEC: the hash never exists without its TTL.
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'png', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

CAPTCHA_POOL_TAKE = """
-- KEYS = pooled captcha hashes a process just popped from the pool (all under the {cappool} tag)
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
        self._lock_release = redis.register_script(LOCK_RELEASE)
        self._captcha_consume = redis.register_script(CAPTCHA_CONSUME)
        self._captcha_store = redis.register_script(CAPTCHA_STORE)
        self._captcha_pool_take = redis.register_script(CAPTCHA_POOL_TAKE)
        self._captcha_pool_trim = redis.register_script(CAPTCHA_POOL_TRIM)
        self._captcha_cache = redis.register_script(CAPTCHA_CACHE)

    @staticmethod
    async def _run(script: Any, redis: Redis, keys: list[str], args: list[Any]) -> Any:
        return await script(keys=keys, args=args, client=redis)

    async def ratelimit(self, redis: Redis, key: str, window_ms: int) -> tuple[int, int]:
        count, ttl = await self._run(self._ratelimit, redis, [key], [window_ms])
        return int(count), int(ttl)

    async def queue_enqueue(self, redis: Redis, keys: list[str], args: list[Any]) -> tuple[str, int]:
        """See QUEUE_ENQUEUE; `service.review.intake.enqueue` builds the keys and arguments."""
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

    async def lock_release(self, redis: Redis, key: str, token: str) -> bool:
        """Release a lock this holder still holds (compare and delete, atomically)."""
        return bool(await self._run(self._lock_release, redis, [key], [token]))

    async def captcha_consume(self, redis: Redis, key: str) -> str | None:
        """The captcha's answer HMAC, deleting the captcha; None when it is gone."""
        found = await self._run(self._captcha_consume, redis, [key], [])
        return str(found) if found else None

    async def captcha_store(self, redis: Redis, key: str, digest: str, png: bytes, ttl_s: int) -> None:
        """Create a captcha's hash with its TTL, atomically."""
        await self._run(self._captcha_store, redis, [key], [digest, png, ttl_s])

    async def captcha_pool_take(self, redis: Redis, keys: list[str], ttl_s: int) -> list[bool]:
        """Start the TTL of pooled captchas a process took; which of them were still there."""
        return [bool(x) for x in await self._run(self._captcha_pool_take, redis, keys, [ttl_s])] if keys else []

    async def captcha_pool_trim(self, redis: Redis, key: str, cutoff: int) -> int:
        """Drop pool entries created before `cutoff` (unix time)."""
        return int(await self._run(self._captcha_pool_trim, redis, [key], [cutoff]))

    async def captcha_cache(self, redis: Redis, key: str, field: str, value: bytes) -> bool:
        """Add a field to a live captcha only; False when it expired or was used meanwhile."""
        return bool(await self._run(self._captcha_cache, redis, [key], [field, value]))
