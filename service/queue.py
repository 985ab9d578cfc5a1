"""The review queue: every submitted comment waits here for a human decision.

States: pending -> claimed -> approved | rejected; claimed -> pending on release or when the
lease expires; an admin may reopen a decided comment (back to pending). Every transition is
one Lua script (service.scripts), bumps the comment's `version` and appends an entry to the
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
import os
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.keys import Keys
from service.scripts import Scripts

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
    from service import events  # events imports this module's Event

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
