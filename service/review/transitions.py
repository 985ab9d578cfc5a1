"""The review queue's state machine: claim, decide, release, renew, reopen, expire, erase.

States: pending -> claimed -> approved | rejected; claimed -> pending on release or when the
lease expires; an admin may reopen a decided comment (back to pending). Every transition is
one Lua script (service.store.queue_scripts), bumps the comment's `version`, appends an entry to the
partition's decision stream (the audit trail, and the labels for retraining) and publishes its
queue event (service.review.events), all in the script: no crash between them loses one. A stale version
or someone else's claim is a `QueueConflict` carrying the current state; an unknown id
`CommentNotFound`. How a comment enters the queue (pending) is `service.review.intake`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review import events
from service.review.comment_ids import valid_id
from service.review.labels import label_for
from service.review.states import Action, CommentNotFound, Event, QueueConflict, RejectReason, State
from service.store.keys import Keys
from service.store.scripts import Scripts


@dataclass(frozen=True)
class Claim:
    id: str
    version: int
    lease_until_ms: int


@dataclass(frozen=True)
class TransitionOutcome:
    """The state a transition left a comment in."""

    id: str
    state: State
    version: int
    at_ms: int


def _check(comment_id: str, reply: list[Any]) -> TransitionOutcome:
    """Turn a transition script's reply into a TransitionOutcome, or the domain error it stands for."""
    status = reply[0]
    if status == "not_found":
        raise CommentNotFound("no such comment", id=comment_id)
    if status == "conflict":
        why, state, version, holder = reply[1], reply[2], int(reply[3]), reply[4]
        details: dict[str, Any] = {"id": comment_id, "state": state, "version": version}
        if holder:
            details["claimed_by"] = holder
        raise QueueConflict(_CONFLICT_MESSAGES.get(why, why), code=why, current=details)
    return TransitionOutcome(comment_id, State(reply[1]), int(reply[2]), int(reply[3]))


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
                redis,
                [keys.claims(p), keys.pending(p), keys.decisions(p)],
                [keys.comment_prefix(p), batch, keys.events_channel(p)],
            )
            back += ids
            if len(ids) < batch:
                break
    return back


async def claim(
    redis: Redis, keys: Keys, scripts: Scripts, moderator: str, limit: int, lease_ms: int
) -> tuple[list[Claim], list[str]]:
    """Claim up to `limit` of the most urgent pending comments; also returns ids whose lease expired.

    Partitions are visited from a random one, so moderators spread over them.
    """
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
            [keys.comment_prefix(p), moderator, limit - len(claims), lease_ms, keys.events_channel(p)],
        )
        expired += back
        claims += [Claim(str(flat[j]), int(flat[j + 1]), int(flat[j + 2])) for j in range(0, len(flat), 3)]
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
) -> TransitionOutcome:
    """Approve or reject a pending comment, or one the moderator holds, if `version` is current."""
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
        [
            *(comment_id, moderator, version, state, action, reason or "", note, label_for(action, reason)),
            keys.events_channel(p),
            events.payload(
                Event.DECIDED, id=comment_id, article_id=article_id, by=moderator, action=action, reason=reason or ""
            ),
        ],
    )
    return _check(comment_id, reply)


async def release(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    comment_id: str,
    moderator: str,
    version: int | None = None,
    force: bool = False,
) -> TransitionOutcome:
    """Give a claimed comment back to the queue (`force`: an admin releasing someone else's claim)."""
    if not valid_id(comment_id):
        raise CommentNotFound("no such comment", id=comment_id)
    p = keys.partition_of(comment_id)
    reply = await scripts.queue_release(
        redis,
        [keys.comment(p, comment_id), keys.claims(p), keys.pending(p), keys.decisions(p)],
        [
            *(comment_id, moderator, "" if version is None else version, "1" if force else "0"),
            keys.events_channel(p),
            events.payload(Event.RELEASED, id=comment_id, by=moderator),
        ],
    )
    return _check(comment_id, reply)


async def renew(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    comment_id: str,
    moderator: str,
    lease_ms: int,
    version: int | None = None,
) -> TransitionOutcome:
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
) -> TransitionOutcome:
    """Put a decided comment back in the queue (admins only; audited with the decision it undoes)."""
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
            keys.labels(p),  # the decision's training label is withdrawn by the same script
        ],
        [
            *(comment_id, admin, "" if version is None else version, note),
            keys.events_channel(p),
            events.payload(Event.REOPENED, id=comment_id, article_id=article_id, by=admin),
        ],
    )
    return _check(comment_id, reply)


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
