"""How a submitted comment enters the review queue: stored as pending, in its partition, with a priority.

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
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from redis.asyncio import Redis

from service.review import events
from service.review.comment_ids import new_comment_id
from service.review.states import Event, QueueConflict, State
from service.store.keys import Keys
from service.store.scripts import Scripts

DEFAULT_AGING_S = 3600.0


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
    if idempotency_key is not None:
        partition = keys.partition_of(idempotency_key)
        if keys.partition_of(comment.id) != partition:
            comment = replace(comment, id=new_comment_id(keys, partition, comment.created_at_ms))
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
