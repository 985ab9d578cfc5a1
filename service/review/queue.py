"""The review queue: every submitted comment waits here for a human decision.

States: pending -> claimed -> approved | rejected; claimed -> pending on release or when the
lease expires; an admin may reopen a decided comment (back to pending). Every transition is
one Lua script (service.store.scripts), bumps the comment's `version` and appends an entry to the
partition's decision stream (the audit trail, and the labels for retraining). A stale version
or someone else's claim is a `Conflict` carrying the current state; an unknown id `NotFound`.

Partitions: a comment lives in partition `keys.partition_of(id)`. When the submission carries an
Idempotency-Key, the idempotency record and the comment must share a hash tag, so `enqueue`
re-draws the id until it falls in the key's partition (`new_comment_id(keys, partition)`);
callers must use the id `enqueue` returns.

Priority: higher spam probability first, raised by age so nothing starves. A comment's priority
at time t is `p + (t - created) / aging`; ordering by it is the same as ordering by the constant
`created / aging - p` (the t term is shared by all), so the pending zset stores that constant,
ascending = most urgent first: no periodic re-scoring, and a comment that waited `aging` seconds
outranks any fresh one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service import errors
from service.metrics import Metrics
from service.store.keys import Keys
from service.store.scripts import Scripts
from service.tasks import Background

log = logging.getLogger(__name__)

# Crockford base32 (no I, L, O, U): ids are URL-safe and sort by creation time as strings.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DEFAULT_AGING_S = 3600.0


class State(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    APPROVED = "approved"
    REJECTED = "rejected"


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class RejectReason(StrEnum):
    """Why a comment was rejected; these become the training labels' sub-classes."""

    SPAM = "spam"
    ADVERTISING = "advertising"
    ABUSIVE = "abusive"
    HATE_SPEECH = "hate_speech"
    HARASSMENT = "harassment"
    OFF_TOPIC = "off_topic"
    MISINFORMATION = "misinformation"
    ILLEGAL = "illegal"
    PERSONAL_INFO = "personal_info"
    DUPLICATE = "duplicate"
    OTHER = "other"


class Event(StrEnum):
    """Kinds of entries in the decision stream (and of pub/sub events)."""

    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    RELEASED = "released"
    LEASE_EXPIRED = "lease_expired"
    DECIDED = "decided"
    REOPENED = "reopened"


class CommentNotFound(errors.NotFound):
    code = "comment_not_found"


class QueueConflict(errors.Conflict):
    """A stale version, someone else's claim, or a comment no longer in a state that allows it."""


@dataclass(frozen=True)
class NewComment:
    id: str
    article_id: str
    name: str
    phone: str | None  # E.164
    title: str
    content: str
    raw: dict[str, str]  # submitted snapshot, kept for retraining
    client: str  # personal data, erased by retention
    user_agent: str  # personal data, erased by retention
    created_at_ms: int
    spam_probability: float
    verdict: str
    reasons: list[dict[str, Any]]
    model_version: str
    signals: dict[str, Any] = field(default_factory=dict)  # had_markup, honeypot, seconds_to_submit, ...
    lang: str = "vi"


def new_comment_id(keys: Keys | None = None, partition: int | None = None, now_ms: int | None = None) -> str:
    """A 26-character ULID-like id: 48-bit ms timestamp + 80 random bits, Crockford base32.

    With `keys` and `partition`, draws until the id falls in that partition (a few tries on average).
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    while True:
        value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
        chars = [_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1)]
        cid = "".join(chars)
        if keys is None or partition is None or keys.partition_of(cid) == partition:
            return cid


def valid_id(comment_id: str) -> bool:
    return len(comment_id) == 26 and all(c in _CROCKFORD for c in comment_id)


def priority_score(spam_probability: float, created_at_ms: int, aging_s: float = DEFAULT_AGING_S) -> float:
    """The pending zset's score: ascending order = most urgent first (see the module docstring)."""
    return created_at_ms / 1000.0 / aging_s - spam_probability


def _comment_fields(comment: NewComment) -> list[str]:
    values: dict[str, Any] = asdict(comment)
    out: list[str] = []
    for name, value in values.items():
        if name == "created_at_ms":
            name = "created_at"
        if value is None:
            value = ""
        elif isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        elif isinstance(value, float):
            value = repr(value)
        out += [name, str(value)]
    return out


async def enqueue(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    comment: NewComment,
    idempotency_key: str | None = None,
    idempotency_ttl_s: int = 86400,
    aging_s: float = DEFAULT_AGING_S,
) -> tuple[str, bool]:
    """Store a new comment as pending, atomically with its audit entry and idempotency record.

    Returns (id, created). With an idempotency key seen before, nothing is written and the id
    stored then is returned with created=False. The returned id may differ from `comment.id`
    (re-drawn into the idempotency key's partition).
    """
    from service.review import events  # events imports this module's Event

    if idempotency_key is not None:
        partition = keys.partition_of(idempotency_key)
        if keys.partition_of(comment.id) != partition:
            comment = _with_id(comment, new_comment_id(keys, partition, comment.created_at_ms))
    else:
        partition = keys.partition_of(comment.id)
    key_list = [
        keys.comment(partition, comment.id),
        keys.pending(partition),
        keys.open(partition),
        keys.decisions(partition),
    ]
    if idempotency_key is not None:
        key_list.append(keys.idempotency(partition, idempotency_key))
    args: list[Any] = [
        comment.id,
        repr(priority_score(comment.spam_probability, comment.created_at_ms, aging_s)),
        comment.created_at_ms,
        idempotency_ttl_s,
        comment.model_version,
        repr(comment.spam_probability),
        *_comment_fields(comment),
    ]
    found, code = await scripts.queue_enqueue(redis, key_list, args)
    if code < 0:
        raise QueueConflict("comment id already taken", code="id_taken", id=comment.id)
    created = code == 1
    if created:
        await events.publish(
            redis,
            keys,
            Event.SUBMITTED,
            id=found,
            article_id=comment.article_id,
            state=State.PENDING,
            version=1,
            spam_probability=comment.spam_probability,
        )
    return found, created


def _with_id(comment: NewComment, new_id: str) -> NewComment:
    values = asdict(comment)
    values["id"] = new_id
    return NewComment(**values)


# --------------------------------------------------------------------------- reading
PUBLIC_FIELDS = ("id", "name", "title", "content", "created_at")


def iso_ms(ms: int | str | None) -> str | None:
    """Epoch milliseconds as an ISO 8601 UTC timestamp (what every response shows)."""
    if ms in (None, ""):
        return None
    value = int(ms)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(value // 1000)) + f".{value % 1000:03d}Z"


def encode_cursor(score: float, member: str) -> str:
    return f"{score!r}~{member}"


def decode_cursor(cursor: str | None) -> tuple[float, str] | None:
    if not cursor:
        return None
    score, sep, member = cursor.partition("~")
    try:
        if not sep:
            raise ValueError(cursor)
        return float(score), member
    except ValueError:
        raise errors.BadRequest("invalid cursor", code="invalid_cursor") from None


async def zrange_after(
    redis: Redis, key: str, after: tuple[float, str] | None, count: int, *, desc: bool
) -> list[tuple[str, float]]:
    """Up to `count` members strictly after `after` in (score, member) order: stable under ties."""
    top, bottom = ("+inf", "-inf") if desc else ("-inf", "+inf")
    if after is None:
        raw: Any = await redis.zrange(key, top, bottom, byscore=True, desc=desc, offset=0, num=count, withscores=True)
        return [(str(m), float(s)) for m, s in raw]
    score, member = after
    ties = int(await redis.zcount(key, score, score))
    raw = await redis.zrange(key, score, bottom, byscore=True, desc=desc, offset=0, num=count + ties, withscores=True)
    rows = [(str(m), float(s)) for m, s in raw]
    if desc:
        kept = [(m, s) for m, s in rows if s < score or (s == score and m < member)]
    else:
        kept = [(m, s) for m, s in rows if s > score or (s == score and m > member)]
    return kept[:count]


async def list_approved(
    redis: Redis, keys: Keys, article_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One article's approved comments, newest approval first; public fields only (never phone)."""
    after = decode_cursor(cursor)
    merged: list[tuple[float, str, int]] = []
    for p in range(keys.partitions):
        rows = await zrange_after(redis, keys.article_approved(p, article_id), after, limit + 1, desc=True)
        merged += [(score, member, p) for member, score in rows]
    merged.sort(key=lambda row: (row[0], row[1]), reverse=True)
    page = merged[:limit]
    async with redis.pipeline(transaction=False) as pipe:
        for _, member, p in page:
            pipe.hmget(keys.comment(p, member), ["name", "title", "content", "created_at", "state"])
        fetched: list[list[str | None]] = await pipe.execute() if page else []
    items: list[dict[str, Any]] = []
    for (_, member, _p), (name, title, content, created_at, state) in zip(page, fetched, strict=True):
        if state != State.APPROVED:  # reopened between the two reads
            continue
        items.append({"id": member, "name": name, "title": title, "content": content, "created_at": iso_ms(created_at)})
    next_cursor = encode_cursor(page[-1][0], page[-1][1]) if len(merged) > limit else None
    return items, next_cursor


# --------------------------------------------------------------------------- transitions
@dataclass(frozen=True)
class Claim:
    id: str
    version: int
    lease_until_ms: int


@dataclass(frozen=True)
class Outcome:
    """The state a transition left a comment in."""

    id: str
    state: State
    version: int
    at_ms: int


def _check(comment_id: str, reply: list[Any]) -> Outcome:
    """Turn a transition script's reply into an Outcome, or the domain error it stands for."""
    status = reply[0]
    if status == "not_found":
        raise CommentNotFound("no such comment", id=comment_id)
    if status == "conflict":
        why, state, version, holder = reply[1], reply[2], int(reply[3]), reply[4]
        details: dict[str, Any] = {"id": comment_id, "state": state, "version": version}
        if holder:
            details["claimed_by"] = holder
        raise QueueConflict(_CONFLICT_MESSAGES.get(why, why), code=why, current=details)
    return Outcome(comment_id, State(reply[1]), int(reply[2]), int(reply[3]))


_CONFLICT_MESSAGES = {
    "stale_version": "the comment changed since you read it",
    "claimed_by_other": "another moderator holds this comment",
    "already_decided": "the comment was already decided",
    "not_claimed": "the comment is not claimed",
    "not_decided": "the comment is not decided",
}


async def expire_leases(redis: Redis, keys: Keys, scripts: Scripts, batch: int = 500) -> list[str]:
    """Return every expired claim to pending (all partitions); the ids that went back."""
    back: list[str] = []
    for p in range(keys.partitions):
        while True:
            ids = await scripts.queue_expire(
                redis, [keys.claims(p), keys.pending(p), keys.decisions(p)], [keys.comment_prefix(p), batch]
            )
            back += ids
            if len(ids) < batch:
                break
    await _announce_expired(redis, keys, back)
    return back


async def _announce_expired(redis: Redis, keys: Keys, ids: list[str]) -> None:
    from service.review import events

    for cid in ids:
        await events.publish(redis, keys, Event.LEASE_EXPIRED, id=cid, state=State.PENDING)


async def claim(
    redis: Redis, keys: Keys, scripts: Scripts, moderator: str, limit: int, lease_ms: int
) -> tuple[list[Claim], list[str]]:
    """Claim up to `limit` of the most urgent pending comments; also returns ids whose lease expired.

    Partitions are visited from a random one, so moderators spread over them.
    """
    from service.review import events

    claims: list[Claim] = []
    expired: list[str] = []
    start = int.from_bytes(os.urandom(2), "big") % keys.partitions
    for i in range(keys.partitions):
        if len(claims) >= limit:
            break
        p = (start + i) % keys.partitions
        back, flat = await scripts.queue_claim(
            redis,
            [keys.pending(p), keys.claims(p), keys.decisions(p)],
            [keys.comment_prefix(p), moderator, limit - len(claims), lease_ms],
        )
        expired += back
        claims += [Claim(str(flat[j]), int(flat[j + 1]), int(flat[j + 2])) for j in range(0, len(flat), 3)]
    await _announce_expired(redis, keys, expired)
    for c in claims:
        await events.publish(redis, keys, Event.CLAIMED, id=c.id, state=State.CLAIMED, version=c.version, by=moderator)
    return claims, expired


async def _article_of(redis: Redis, keys: Keys, comment_id: str) -> tuple[int, str]:
    """The partition and article of a comment (the article never changes, so reading first is safe)."""
    if not valid_id(comment_id):
        raise CommentNotFound("no such comment", id=comment_id)
    p = keys.partition_of(comment_id)
    article_id = await redis.hget(keys.comment(p, comment_id), "article_id")
    if article_id is None:
        raise CommentNotFound("no such comment", id=comment_id)
    return p, str(article_id)


async def decide(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    comment_id: str,
    moderator: str,
    version: int,
    action: Action,
    reason: RejectReason | None = None,
    note: str = "",
) -> Outcome:
    """Approve or reject a pending comment, or one the moderator holds, if `version` is current."""
    from service.review import events
    from service.review.labels import label_for

    if action is Action.REJECT and reason is None:
        raise errors.BadRequest("a rejection needs a reason", code="reason_required")
    if action is Action.APPROVE:
        reason = None
    p, article_id = await _article_of(redis, keys, comment_id)
    state = State.APPROVED if action is Action.APPROVE else State.REJECTED
    reply = await scripts.queue_decide(
        redis,
        [
            keys.comment(p, comment_id),
            keys.claims(p),
            keys.pending(p),
            keys.open(p),
            keys.decisions(p),
            keys.decided(p, state),
            keys.pii(p),
            keys.article_approved(p, article_id),
            keys.labels(p),  # the labelled example is written by the same script
        ],
        [comment_id, moderator, version, state, action, reason or "", note, label_for(action, reason)],
    )
    outcome = _check(comment_id, reply)
    await events.publish(
        redis,
        keys,
        Event.DECIDED,
        id=comment_id,
        article_id=article_id,
        state=outcome.state,
        version=outcome.version,
        by=moderator,
        action=action,
        reason=reason or "",
    )
    return outcome


async def release(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    comment_id: str,
    moderator: str,
    version: int | None = None,
    force: bool = False,
) -> Outcome:
    """Give a claimed comment back to the queue (`force`: an admin releasing someone else's claim)."""
    from service.review import events

    if not valid_id(comment_id):
        raise CommentNotFound("no such comment", id=comment_id)
    p = keys.partition_of(comment_id)
    reply = await scripts.queue_release(
        redis,
        [keys.comment(p, comment_id), keys.claims(p), keys.pending(p), keys.decisions(p)],
        [comment_id, moderator, "" if version is None else version, "1" if force else "0"],
    )
    outcome = _check(comment_id, reply)
    await events.publish(
        redis, keys, Event.RELEASED, id=comment_id, state=outcome.state, version=outcome.version, by=moderator
    )
    return outcome


async def renew(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    comment_id: str,
    moderator: str,
    lease_ms: int,
    version: int | None = None,
) -> Outcome:
    """Extend the moderator's lease on a comment; `at_ms` of the outcome is the new lease end."""
    if not valid_id(comment_id):
        raise CommentNotFound("no such comment", id=comment_id)
    p = keys.partition_of(comment_id)
    reply = await scripts.queue_renew(
        redis,
        [keys.comment(p, comment_id), keys.claims(p)],
        [comment_id, moderator, lease_ms, "" if version is None else version],
    )
    return _check(comment_id, reply)


async def reopen(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    comment_id: str,
    admin: str,
    version: int | None = None,
    note: str = "",
) -> Outcome:
    """Put a decided comment back in the queue (admins only; audited with the decision it undoes)."""
    from service.review import events

    p, article_id = await _article_of(redis, keys, comment_id)
    reply = await scripts.queue_reopen(
        redis,
        [
            keys.comment(p, comment_id),
            keys.pending(p),
            keys.open(p),
            keys.decisions(p),
            keys.decided(p, State.APPROVED),
            keys.decided(p, State.REJECTED),
            keys.pii(p),
            keys.article_approved(p, article_id),
        ],
        [comment_id, admin, "" if version is None else version, note],
    )
    outcome = _check(comment_id, reply)
    await events.publish(
        redis,
        keys,
        Event.REOPENED,
        id=comment_id,
        article_id=article_id,
        state=outcome.state,
        version=outcome.version,
        by=admin,
    )
    return outcome


async def erase_personal_data(redis: Redis, keys: Keys, scripts: Scripts, cutoff_ms: int, batch: int = 500) -> int:
    """Erase phone, client address and user agent of comments decided at or before `cutoff_ms`."""
    total = 0
    for p in range(keys.partitions):
        while True:
            n = await scripts.queue_erase_pii(redis, [keys.pii(p)], [keys.comment_prefix(p), cutoff_ms, batch])
            total += n
            if n < batch:
                break
    return total


# --------------------------------------------------------------------------- moderator reads
_JSON_FIELDS = ("raw", "reasons", "signals")
_INT_FIELDS = ("version", "created_at", "updated_at", "lease_until", "decided_at", "pii_erased_at")
# Personal data: shown to admins on a single comment only (moderators see a masked phone).
_PII_FIELDS = ("phone", "client", "user_agent")


def mask_phone(phone: str | None) -> str | None:
    """+84912345678 -> '+84 9** *** 678': enough to tell numbers apart, not to call them."""
    if not phone:
        return None
    digits = phone.lstrip("+")
    if len(digits) < 7:
        return "***"
    cc = digits[:2] if phone.startswith("+") else ""
    rest = digits[len(cc) :]
    masked = rest[0] + "*" * (len(rest) - 4) + rest[-3:]
    body = f"{masked[:3]} {masked[3:-3]} {masked[-3:]}".replace("  ", " ")
    return f"+{cc} {body}" if cc else body


def present(raw: dict[str, str], *, full_pii: bool = False) -> dict[str, Any]:
    """A comment hash as a moderator response: typed fields, personal data masked unless `full_pii`."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ("log", "priority"):
            continue
        if name in _JSON_FIELDS:
            try:
                out[name] = json.loads(value)
            except ValueError:
                out[name] = value
        elif name in _INT_FIELDS:
            out[name] = int(value) if value else None
        elif name == "spam_probability":
            out[name] = float(value)
        else:
            out[name] = value if value != "" else None
    for name in ("created_at", "updated_at", "lease_until", "decided_at"):
        if out.get(name) is not None:
            out[name + "_iso"] = iso_ms(out[name])
    if not full_pii:
        out["phone"] = mask_phone(out.get("phone"))
        out.pop("client", None)
        out.pop("user_agent", None)
        if isinstance(out.get("raw"), dict):
            out["raw"] = {k: v for k, v in out["raw"].items() if k not in _PII_FIELDS}
    out["has_phone"] = bool(raw.get("phone"))
    return out


async def get(redis: Redis, keys: Keys, comment_id: str) -> dict[str, str]:
    """The comment's stored hash; CommentNotFound when there is none."""
    if not valid_id(comment_id):
        raise CommentNotFound("no such comment", id=comment_id)
    raw: Any = await redis.hgetall(keys.comment(keys.partition_of(comment_id), comment_id))
    if not raw:
        raise CommentNotFound("no such comment", id=comment_id)
    return {str(k): str(v) for k, v in raw.items()}


async def history(redis: Redis, keys: Keys, comment_id: str, raw: dict[str, str]) -> list[dict[str, Any]]:
    """Every audit entry of one comment, oldest first (from the stream ids kept in its hash)."""
    p = keys.partition_of(comment_id)
    xids = raw.get("log", "").split()
    async with redis.pipeline(transaction=False) as pipe:
        for xid in xids:
            pipe.xrange(keys.decisions(p), xid, xid)
        rows: list[list[tuple[str, dict[str, str]]]] = await pipe.execute() if xids else []
    out: list[dict[str, Any]] = []
    for found in rows:
        for xid, entry in found:
            out.append(audit_entry(xid, entry))
    return out


def audit_entry(xid: str, entry: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {"entry_id": xid}
    for k, v in entry.items():
        if k in ("version", "at"):
            item[k] = int(v)
        elif k == "spam_probability":
            item[k] = float(v) if v else None
        else:
            item[k] = v if v != "" else None
    item["at_iso"] = iso_ms(item.get("at"))
    return item


class Order(StrEnum):
    PRIORITY = "priority"
    AGE = "age"


@dataclass(frozen=True)
class QueueFilter:
    state: State = State.PENDING
    order: Order = Order.PRIORITY
    article_id: str | None = None
    min_score: float | None = None
    max_score: float | None = None

    def index(self, keys: Keys, p: int) -> tuple[str, bool]:
        """The zset to walk for this filter, and whether to walk it descending."""
        if self.state in (State.APPROVED, State.REJECTED):
            return keys.decided(p, self.state), True  # newest decision first
        if self.order is Order.AGE:
            return keys.open(p), False  # oldest submission first
        if self.state is State.CLAIMED:
            return keys.claims(p), False  # lease ending soonest first
        return keys.pending(p), False  # most urgent first

    def matches(self, state: str | None, article_id: str | None, score: str | None) -> bool:
        if state != self.state:
            return False
        if self.article_id is not None and article_id != self.article_id:
            return False
        s = float(score) if score else 0.0
        if self.min_score is not None and s < self.min_score:
            return False
        return not (self.max_score is not None and s > self.max_score)


SCAN_BUDGET = 5000  # ids examined per partition per page: a filter matching little still answers fast


async def list_queue(
    redis: Redis, keys: Keys, flt: QueueFilter, limit: int, cursor: str | None
) -> tuple[list[dict[str, str]], str | None]:
    """A page of comments matching `flt`, in the filter's order, across partitions; and the next cursor.

    Each partition is walked from the cursor in chunks; when a partition runs out of scan budget,
    the page stops at the furthest position every partition has examined, so nothing is skipped.
    """
    after = decode_cursor(cursor)
    matched: list[tuple[float, str, int]] = []
    limits: list[tuple[float, str]] = []  # positions where budget-limited partitions stopped
    desc = False
    chunk = max(50, limit * 2)
    for p in range(keys.partitions):
        key, desc = flt.index(keys, p)
        pos = after
        seen = found = 0
        while found <= limit:
            rows = await zrange_after(redis, key, pos, chunk, desc=desc)
            if not rows:
                break
            async with redis.pipeline(transaction=False) as pipe:
                for member, _ in rows:
                    pipe.hmget(keys.comment(p, member), ["state", "article_id", "spam_probability"])
                meta: list[list[str | None]] = await pipe.execute()
            for (member, score), (state, article_id, prob) in zip(rows, meta, strict=True):
                if flt.matches(state, article_id, prob):
                    matched.append((score, member, p))
                    found += 1
            pos = (rows[-1][1], rows[-1][0])
            seen += len(rows)
            if len(rows) < chunk:
                break
            if seen >= SCAN_BUDGET:
                limits.append(pos)
                break
    sign = -1.0 if desc else 1.0

    def order_key(score: float, member: str) -> tuple[float, str]:
        return (sign * score, member) if not desc else (sign * score, "".join(chr(0x10FFFF - ord(c)) for c in member))

    matched.sort(key=lambda row: order_key(row[0], row[1]))
    if limits:
        stop = min(limits, key=lambda pos: order_key(pos[0], pos[1]))
        matched = [m for m in matched if order_key(m[0], m[1]) <= order_key(stop[0], stop[1])]
    page = matched[:limit]
    next_cursor: str | None = None
    if len(matched) > limit:
        next_cursor = encode_cursor(page[-1][0], page[-1][1])
    elif limits:
        stop = min(limits, key=lambda pos: order_key(pos[0], pos[1]))
        next_cursor = encode_cursor(*stop)
    async with redis.pipeline(transaction=False) as pipe:
        for _, member, p in page:
            pipe.hgetall(keys.comment(p, member))
        items: list[dict[str, str]] = await pipe.execute() if page else []
    return [item for item in items if item], next_cursor


async def stats(redis: Redis, keys: Keys, now_ms: int | None = None, sample: int = 10000) -> dict[str, Any]:
    """Depth per state, oldest waiting age, claims held, decisions per moderator, score distribution."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    depth = {s.value: 0 for s in State}
    oldest_ms: int | None = None
    claims_by: dict[str, int] = {}
    per_mod: dict[str, dict[str, int]] = {}
    buckets = [0] * 10
    sampled = 0
    hour_ago, day_ago = now - 3600_000, now - 86400_000
    for p in range(keys.partitions):
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.pending(p))
            pipe.zcard(keys.claims(p))
            pipe.zcard(keys.decided(p, State.APPROVED))
            pipe.zcard(keys.decided(p, State.REJECTED))
            pipe.zrange(keys.open(p), 0, 0, withscores=True)
            pipe.zrange(keys.claims(p), 0, 999)
            pipe.zrange(keys.pending(p), 0, sample - 1)
            counts = await pipe.execute()
        for state, n in zip((State.PENDING, State.CLAIMED, State.APPROVED, State.REJECTED), counts[:4], strict=True):
            depth[state.value] += int(n)
        if counts[4]:
            first = int(counts[4][0][1])
            oldest_ms = first if oldest_ms is None else min(oldest_ms, first)
        async with redis.pipeline(transaction=False) as pipe:
            for cid in counts[5]:
                pipe.hget(keys.comment(p, cid), "claimed_by")
            for cid in counts[6]:
                pipe.hget(keys.comment(p, cid), "spam_probability")
            values = await pipe.execute() if (counts[5] or counts[6]) else []
        for holder in values[: len(counts[5])]:
            if holder:
                claims_by[holder] = claims_by.get(holder, 0) + 1
        for prob in values[len(counts[5]) :]:
            if prob:
                buckets[min(9, int(float(prob) * 10))] += 1
                sampled += 1
        entries: Any = await redis.xrange(keys.decisions(p), min=str(day_ago), max="+", count=100_000)
        for _, entry in entries:
            if entry.get("event") != Event.DECIDED:
                continue
            slot = per_mod.setdefault(entry.get("by", ""), {"last_hour": 0, "last_24h": 0})
            slot["last_24h"] += 1
            if int(entry.get("at", 0)) >= hour_ago:
                slot["last_hour"] += 1
    return {
        "depth": depth,
        "oldest_pending_seconds": None if oldest_ms is None else max(0.0, (now - oldest_ms) / 1000),
        "claims_held": {"total": depth[State.CLAIMED], "by_moderator": claims_by},
        "decisions_by_moderator": per_mod,
        "score_distribution": {
            "buckets": [{"from": i / 10, "to": (i + 1) / 10, "count": c} for i, c in enumerate(buckets)],
            "pending_sampled": sampled,
        },
    }


async def maintenance_loop(
    redis: Redis, keys: Keys, scripts: Scripts, metrics: Metrics, every_s: float, bg: Background
) -> None:
    """The service's background task: return expired leases to pending even when nobody claims,
    and keep the queue gauges fresh. Each replica runs one; the scripts make that harmless."""
    while bg.running:
        try:
            expired = await expire_leases(redis, keys, scripts)
            if expired:
                metrics.lease_expiries.inc(len(expired))
            await update_gauges(redis, keys, metrics)
        except RedisError as exc:
            log.warning("queue maintenance failed: %s", type(exc).__name__)
        await bg.pause(every_s)


async def update_gauges(redis: Redis, keys: Keys, metrics: Metrics) -> None:
    depth = dict.fromkeys(State, 0)
    oldest: float | None = None
    for p in range(keys.partitions):
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.pending(p))
            pipe.zcard(keys.claims(p))
            pipe.zcard(keys.decided(p, State.APPROVED))
            pipe.zcard(keys.decided(p, State.REJECTED))
            pipe.zrange(keys.open(p), 0, 0, withscores=True)
            res = await pipe.execute()
        for state, n in zip(State, res[:4], strict=True):
            depth[state] += int(n)
        if res[4]:
            first = float(res[4][0][1])
            oldest = first if oldest is None else min(oldest, first)
    for state, n in depth.items():
        metrics.queue_depth.labels(state.value).set(n)
    metrics.queue_oldest.set(0 if oldest is None else max(0.0, time.time() - oldest / 1000))
