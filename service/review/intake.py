"""How a submitted comment enters the review queue: stored as pending, in its partition, with a priority.

Partitions: a comment lives in partition `keys.partition_of(id)`; everything the enqueue script
writes (idempotency record, captcha, repeat marker) is in that partition too, so the caller draws
the id into the right partition first (`new_comment_id(keys, partition)`, service.store.keys).

Priority: higher spam probability first, raised by age so nothing starves. A comment's priority
at time t is `p + (t - created) / aging`; ordering by it is the same as ordering by the constant
`created / aging - p` (the t term is shared by all), so the pending zset stores that constant,
ascending = most urgent first: no periodic re-scoring, and a comment that waited `aging` seconds
outranks any fresh one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from redis.asyncio import Redis

from service.review import events
from service.review.states import Event, State
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


def raw_delta(comment: NewComment) -> dict[str, str]:
    """What the raw snapshot stores: only the fields whose typed form differs from the stored,
    normalised one (a phone as typed, stripped markup...). Most of a comment is its text, usually
    the same both ways: stored once, not twice (BENCHMARKS "Memory"). `raw_snapshot` restores it."""
    return {name: value for name, value in comment.raw.items() if getattr(comment, name, None) != value}


def raw_snapshot(stored: dict[str, str], delta: dict[str, Any]) -> dict[str, Any]:
    """The raw snapshot as typed, from a comment hash and its stored `raw` (a delta, or a whole
    snapshot as stored before deltas: then it is returned as it is)."""
    same = {name: stored[name] for name in RAW_SAME if stored.get(name) and name not in delta}
    return {**same, **delta}


def signals_of(stored: dict[str, Any]) -> dict[str, Any]:
    """A comment's signals as stored (only those that fired), with the others at their defaults."""
    return {**SIGNAL_DEFAULTS, **stored}


def _comment_fields(comment: NewComment) -> list[str]:
    out: list[str] = []
    for name in _FIELD_NAMES:  # not dataclasses.asdict: it deep-copies every value first
        value: Any
        if name == "raw":
            value = raw_delta(comment)
        elif name == "signals":  # the ones that did not fire are the defaults: not stored (`signals_of`)
            value = {k: v for k, v in comment.signals.items() if v or k not in SIGNAL_DEFAULTS}
        else:
            value = getattr(comment, name)
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


_FIELD_NAMES = tuple(f.name for f in fields(NewComment))
# A submission's signals when none fired (service.comments.submission); a comment stores the others.
SIGNAL_DEFAULTS: dict[str, Any] = {
    "had_markup": False,
    "had_invisible": False,
    "honeypot": False,
    "seconds_to_submit": None,
    "too_fast": False,
    "repeat_of": None,
}
# Raw snapshot fields a comment hash also holds normalised under the same name.
RAW_SAME = ("article_id", "name", "phone", "title", "content")


@dataclass(frozen=True, slots=True)
class WithSubmission:
    """The writes a reader's submission adds to the enqueue, in the same script (one slot: the
    captcha and the repeat marker are in the comment's partition, see service.store.keys)."""

    captcha_key: str  # consumed by the write, so a refused write spends no captcha
    captcha_digest: str  # HMAC of the reader's answer, compared again inside the script
    repeat_key: str  # set NX: the first comment of this (client, text) pair
    repeat_ttl_s: int


class CaptchaGone(Exception):
    """The submission's captcha was used meanwhile (a concurrent submission), or expired."""


class CaptchaWrong(Exception):
    """The answer does not match the captcha any more (it was deleted and issued anew)."""


async def enqueue(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    comment: NewComment,
    idempotency_key: str | None = None,
    idempotency_ttl_s: int = 86400,
    aging_s: float = DEFAULT_AGING_S,
    submission: WithSubmission | None = None,
) -> tuple[str, bool]:
    """Store a new comment as pending, atomically with its audit entry, idempotency record, event,
    and (for a reader's submission) the captcha's consumption and the repeat marker.

    Returns (id, created). With an idempotency key seen before, or a comment of this id already
    stored (a re-run after a lost answer), nothing is written and the first id is returned with
    created=False. The comment lives in `keys.partition_of(comment.id)`; the caller draws the id
    into the partition of the captcha it consumes. Raises CaptchaGone / CaptchaWrong.
    """
    partition = keys.partition_of(comment.id)
    hash_key = keys.comment(partition, comment.id)
    key_list = [
        hash_key,
        keys.pending(partition),
        keys.open(partition),
        keys.decisions(partition),
        keys.idempotency(partition, idempotency_key) if idempotency_key is not None else hash_key,
        submission.captcha_key if submission else hash_key,
        submission.repeat_key if submission else hash_key,
    ]
    event = events.payload(
        Event.SUBMITTED,
        id=comment.id,
        article_id=comment.article_id,
        state=State.PENDING,
        version=1,
        spam_probability=comment.spam_probability,
    )
    args: list[Any] = [
        comment.id,
        repr(priority_score(comment.spam_probability, comment.created_at_ms, aging_s)),
        comment.created_at_ms,
        idempotency_ttl_s if idempotency_key is not None else 0,
        comment.model_version,
        repr(comment.spam_probability),
        submission.captcha_digest if submission else "",
        submission.repeat_ttl_s if submission else 0,
        keys.events_channel(partition),
        event,
        *_comment_fields(comment),
    ]
    found, code = await scripts.queue_enqueue(redis, key_list, args)
    if code == -2:
        raise CaptchaGone()
    if code == -3:
        raise CaptchaWrong()
    return found, code == 1
