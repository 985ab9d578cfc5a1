"""Reading the review queue: one comment and its audit history, a filtered page of the queue,
an article's approved comments. Nothing here writes; the HTTP edge shapes what these return.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from service.review.comment_ids import valid_id
from service.review.cursors import decode_cursor, encode_cursor, zrange_after
from service.review.states import CommentNotFound, State
from service.store.keys import Keys


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


async def list_approved(
    redis: Redis, keys: Keys, article_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One article's approved comments, newest approval first: id, name, title, content, created_at (epoch ms).

    Only what the public may see is read (never the phone)."""
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
        created = int(created_at) if created_at else None
        items.append({"id": member, "name": name, "title": title, "content": content, "created_at": created})
    next_cursor = encode_cursor(page[-1][0], page[-1][1]) if len(merged) > limit else None
    return items, next_cursor
