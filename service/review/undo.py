"""What the moderator UI adds on top of the review queue: taking back one's own decision within
a few seconds (undo), and a sender's other comments.

Both are built on the queue's own transitions and reads; nothing here writes a queue key.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review import reading, transitions
from service.review.states import QueueConflict, State
from service.store.keys import Keys
from service.store.scripts import Scripts

UNDO_WINDOW_MS = 10_000  # long enough to notice a slip, short enough that nobody acted on it
OTHERS_SCAN = 2000  # newest comments examined per partition and state when looking for a sender's others


class UndoExpired(errors.Conflict):
    code = "undo_expired"


async def undo(
    redis: Redis, keys: Keys, scripts: Scripts, comment_id: str, moderator: str, now_ms: int | None = None
) -> transitions.TransitionOutcome:
    """Put a comment `moderator` decided less than UNDO_WINDOW_MS ago back in the queue.

    The version read here is handed to `transitions.reopen`, whose script refuses it if anything
    changed since (a lost race is a Conflict, as everywhere in the queue).
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    raw = await reading.get(redis, keys, comment_id)
    state, by, at = raw.get("state"), raw.get("decided_by"), int(raw.get("decided_at") or 0)
    if state not in (State.APPROVED, State.REJECTED):
        raise QueueConflict("the comment is not decided", code="not_decided", id=comment_id, state=state)
    if by != moderator:
        raise errors.Forbidden("only the moderator who decided may undo", code="not_your_decision")
    if now - at > UNDO_WINDOW_MS:
        raise UndoExpired("too late to undo this decision", id=comment_id, window_ms=UNDO_WINDOW_MS)
    return await transitions.reopen(redis, keys, scripts, comment_id, moderator, int(raw["version"]), note="undo")


async def same_sender(redis: Redis, keys: Keys, raw: dict[str, str], limit: int = 20) -> list[dict[str, Any]]:
    """Other recent comments from the same client address or phone, newest first (no personal data):
    id, title, state, created_at (epoch ms).

    There is no index by sender (the address is personal data, erased by retention), so this looks
    through the newest OTHERS_SCAN comments of each state: enough for "what else did they post today".
    """
    client, phone = raw.get("client") or "", raw.get("phone") or ""
    if not client and not phone:
        return []
    found: list[dict[str, Any]] = []
    for p in range(keys.partitions):
        indexes = [keys.open(p), keys.decided(p, State.APPROVED), keys.decided(p, State.REJECTED)]
        ids: list[str] = []
        for key in indexes:
            ids += [str(m) for m in await redis.zrange(key, 0, OTHERS_SCAN - 1, desc=True)]
        ids = [i for i in dict.fromkeys(ids) if i != raw.get("id")]
        async with redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hmget(keys.comment(p, cid), ["client", "phone", "title", "state", "created_at"])
            rows: list[list[str | None]] = await pipe.execute() if ids else []
        for cid, (c, ph, title, state, created) in zip(ids, rows, strict=True):
            if (client and c == client) or (phone and ph == phone):
                found.append({"id": cid, "title": title, "state": state, "created_at": int(created or 0)})
    found.sort(key=lambda row: row["created_at"], reverse=True)
    return found[:limit]
