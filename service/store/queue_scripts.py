"""The review queue's Lua scripts (registered by `service.store.scripts.Scripts`).

The enqueue declares itself a writing script (`#!lua`): at maxmemory the store refuses it before
it runs, whole (in the compatibility mode without the line, a first non-growing write, the
captcha's UNLINK, would let the rest through). The transition scripts run at maxmemory.
Each script changing the queue writes its audit entry to the partition's decision stream and
publishes its event itself, so a crash between a change and its record or event is impossible.
Events go out with SPUBLISH on the partition's own shard channel (`Keys.events_channel(p)`, in the
script's slot, as a cluster requires of a script's SPUBLISH; service.store.channels says why sharded).
"""

# --------------------------------------------------------------------------- review queue
# Every queue script reads the clock with TIME (effects replication, Redis >= 7), so all
# replicas of the service agree on lease expiry. Scripts that walk a zset build comment hash
# keys from the partition's comment prefix: those keys share the partition's hash tag (same slot).

QUEUE_ENQUEUE = """#!lua
-- Every write of one submission, atomically: if the store refuses it (OOM, a timeout before it
-- ran), nothing happened, and the reader's captcha is not spent.
-- KEYS[1] = comment hash, KEYS[2] = pending zset, KEYS[3] = open zset (by age),
-- KEYS[4] = decisions stream, KEYS[5] = idempotency key, KEYS[6] = captcha hash,
-- KEYS[7] = repeat marker (KEYS[5..7] are KEYS[1] when unused, so every key stays in one slot)
-- ARGV[1] = comment id, ARGV[2] = priority score, ARGV[3] = created_at ms,
-- ARGV[4] = idempotency ttl s ('0': no idempotency key), ARGV[5] = model version,
-- ARGV[6] = spam probability, ARGV[7] = HMAC of the captcha answer ('': no captcha to consume),
-- ARGV[8] = repeat marker ttl s ('0': none), ARGV[9] = the partition's events channel, ARGV[10] = event (JSON),
-- ARGV[11..] = field, value pairs of the comment hash
-- returns {id, 1} when written; {first id, 0} when this submission was written before (the same
-- Idempotency-Key, or a re-run with the same comment id): the first outcome, nothing written;
-- {'', -2} when the captcha is gone (used, expired, refreshed); {'', -3} when the answer is wrong
if ARGV[4] ~= '0' then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {existing, 0} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {ARGV[1], 0} end
if ARGV[7] ~= '' then
  local h = redis.call('HGET', KEYS[6], 'h')
  if not h then return {'', -2} end
  redis.call('UNLINK', KEYS[6])
  if h ~= ARGV[7] then return {'', -3} end
end
local t = redis.call('TIME')
local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
local fields = {}
for i = 11, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'state', 'pending', 'version', 1, 'priority', ARGV[2], 'updated_at', now, unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
local xid = redis.call('XADD', KEYS[4], '*', 'event', 'submitted', 'id', ARGV[1], 'at', now, 'by', '',
  'from', '', 'to', 'pending', 'version', 1, 'model_version', ARGV[5], 'spam_probability', ARGV[6])
redis.call('HSET', KEYS[1], 'log', xid)
if ARGV[4] ~= '0' then redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[4]) end
if ARGV[8] ~= '0' then redis.call('SET', KEYS[7], ARGV[1], 'EX', ARGV[8], 'NX') end
redis.call('SPUBLISH', ARGV[9], ARGV[10])
return {ARGV[1], 1}
"""


# Shared Lua helpers, prepended to the queue scripts that need them.
_QUEUE_LIB = """#!lua flags=allow-oom
-- A moderator's transition runs even at maxmemory: it is small, bounded by people, and it is how
-- a full queue drains (the enqueue above is refused whole instead).
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
-- Publish a queue event (service.review.events): `base` is the JSON the caller built (type, id, ...),
-- `extra` what only the script knows (state, version), on the partition's shard channel (same slot as
-- the script's keys). No channel: nothing to publish.
local function announce(channel, base, extra)
  if not channel or channel == '' then return end
  local ev = cjson.decode(base)
  for k, v in pairs(extra) do ev[k] = v end
  redis.call('SPUBLISH', channel, cjson.encode(ev))
end
-- Return claims whose lease ended (score <= now) to pending, announced on `channel`; returns their ids.
local function expire_due(claims, pending, decisions, prefix, now, max, channel)
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
      announce(channel, '{"type":"lease_expired"}', {id = id, state = 'pending'})
    end
  end
  return expired
end
"""

QUEUE_EXPIRE = (
    _QUEUE_LIB
    + """
-- KEYS[1] = claims zset, KEYS[2] = pending zset, KEYS[3] = decisions stream
-- ARGV[1] = comment key prefix, ARGV[2] = most leases to return in one call, ARGV[3] = events channel
-- returns the ids whose lease expired (now pending again)
return expire_due(KEYS[1], KEYS[2], KEYS[3], ARGV[1], now_ms(), tonumber(ARGV[2]), ARGV[3])
"""
)

QUEUE_CLAIM = (
    _QUEUE_LIB
    + """
-- KEYS[1] = pending zset, KEYS[2] = claims zset, KEYS[3] = decisions stream
-- ARGV[1] = comment key prefix, ARGV[2] = moderator, ARGV[3] = most to claim, ARGV[4] = lease ms,
-- ARGV[5] = events channel
-- returns {expired ids, {id, version, lease_until, ...}}; expired leases go back first (lazily)
local now = now_ms()
local expired = expire_due(KEYS[2], KEYS[1], KEYS[3], ARGV[1], now, 1000, ARGV[5])
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
    announce(ARGV[5], '{"type":"claimed"}', {id = id, state = 'claimed', version = v, by = ARGV[2]})
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
-- ARGV[5] = action, ARGV[6] = reason, ARGV[7] = note, ARGV[8] = training label (service.review.labels.label_for),
-- ARGV[9] = events channel, ARGV[10] = the event (JSON) without state and version
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
announce(ARGV[9], ARGV[10], {state = ARGV[4], version = v})
return {'ok', ARGV[4], v, now}
"""
)

QUEUE_RELEASE = (
    _QUEUE_LIB
    + """
-- KEYS[1] = comment hash, KEYS[2] = claims zset, KEYS[3] = pending zset, KEYS[4] = decisions stream
-- ARGV[1] = id, ARGV[2] = moderator, ARGV[3] = expected version ('' = any), ARGV[4] = '1' to release
-- someone else's claim (admin), ARGV[5] = events channel, ARGV[6] = the event (JSON) without state and version
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
announce(ARGV[5], ARGV[6], {state = 'pending', version = v})
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
-- KEYS[5] = approved zset, KEYS[6] = rejected zset, KEYS[7] = pii zset, KEYS[8] = the article's approved zset,
-- KEYS[9] = labels stream
-- ARGV[1] = id, ARGV[2] = admin, ARGV[3] = expected version ('' = any), ARGV[4] = note,
-- ARGV[5] = events channel, ARGV[6] = the event (JSON) without state and version
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
-- The decision is undone, so is its training label: a withdrawal entry, atomically with the reopen
-- (service.review.labels drops a comment whose newest entry is a withdrawal).
if KEYS[9] then
  redis.call('XADD', KEYS[9], '*', 'id', ARGV[1], 'label', 'withdrawn', 'action', 'reopen', 'reason', '',
    'by', ARGV[2], 'at', now)
end
announce(ARGV[5], ARGV[6], {state = 'pending', version = v})
return {'ok', 'pending', v, now}
"""
)

# Erase one comment's personal data (phone, client address, user agent) from its hash and from its
# raw snapshot; text, labels and scores stay (retraining needs them). Shared by the two erase scripts.
_ERASE_ONE = """
-- returns 1 when the comment held personal data (now erased), else 0
local function erase(h, now)
  if redis.call('EXISTS', h) == 0 then return 0 end
  local held = 0
  local raw = redis.call('HGET', h, 'raw')
  if raw then
    local ok, snap = pcall(cjson.decode, raw)
    if ok and type(snap) == 'table' and (snap['phone'] or snap['client'] or snap['user_agent']) then
      snap['phone'] = nil
      snap['client'] = nil
      snap['user_agent'] = nil
      redis.call('HSET', h, 'raw', cjson.encode(snap))
      held = 1
    end
  end
  if redis.call('HDEL', h, 'phone', 'client', 'user_agent') > 0 then held = 1 end
  if held == 1 then redis.call('HSET', h, 'pii_erased_at', now) end
  return held
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

QUEUE_ERASE_PII = (
    _ERASE_ONE
    + """
-- KEYS[1] = pii zset (decided comments still holding personal data, by decision time)
-- ARGV[1] = comment key prefix, ARGV[2] = cutoff ms (decided at or before), ARGV[3] = most to erase
-- returns the number of comments erased.
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  erase(ARGV[1] .. id, now)
  redis.call('ZREM', KEYS[1], id)
end
return #due
"""
)

QUEUE_ERASE_OPEN_PII = (
    _ERASE_ONE
    + """
-- A comment nobody decided is no reason to keep a reader's phone and address past the retention
-- period: erase them from undecided comments submitted long ago too; the comment stays in the queue
-- (reviewable, its text intact). The mark remembers how far the open zset was walked, so each
-- comment is erased once as it crosses the cutoff (a decision later erases it again: harmless).
-- KEYS[1] = open zset (undecided comments by submission time ms), KEYS[2] = the mark (string, ms)
-- ARGV[1] = comment key prefix, ARGV[2] = cutoff ms (submitted at or before), ARGV[3] = most to erase
-- returns {comments erased, 1 when there may be more before the cutoff else 0}
local cutoff = math.min(tonumber(ARGV[2]), now)  -- the mark never passes the store's clock
local mark = redis.call('GET', KEYS[2])
if mark and tonumber(mark) >= cutoff then return {0, 0} end
local from = mark and ('(' .. mark) or '-inf'
local due = redis.call('ZRANGE', KEYS[1], from, cutoff, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]), 'WITHSCORES')
local erased, last = 0, nil
for i = 1, #due, 2 do
  erased = erased + erase(ARGV[1] .. due[i], now)
  last = due[i + 1]
end
local more = 0
if #due / 2 >= tonumber(ARGV[3]) then
  -- A full batch: finish its last millisecond, so the mark can move past it without skipping any.
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], last, last, 'BYSCORE')) do
    erased = erased + erase(ARGV[1] .. id, now)
  end
  more = 1
else
  last = cutoff
end
redis.call('SET', KEYS[2], string.format('%d', tonumber(last)))
return {erased, more}
"""
)
