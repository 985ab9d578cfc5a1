"""Labelled examples: what moderators teach the spam model.

The queue's decide script (service.store.queue_scripts.QUEUE_DECIDE) appends one entry per decision to the
partition's labels stream (`keys.labels(p)`), in the same script as the decision itself, so a
decision without its example (or the reverse) cannot happen. An entry holds the text the model
scored (name, title, content, had_markup), the label, the moderator, the decision time and the
model version and score at the time. It never holds phone, client address or user agent, so
retention (which erases those from the comment hash) has nothing to erase here: the label set
survives personal-data erasure whole.

Undo (an admin's `reopen`, service.review.undo) withdraws the label: the reopen script appends a
`withdrawn` entry for the comment in the same script. Readers keep only each comment's newest entry
and drop the comment when that entry is a withdrawal: an undone decision teaches nothing, and a
re-decided comment teaches its latest decision only.

Labels: approve -> `ham`; reject as `spam` or `advertising` -> `spam`; any other reason is kept
as its own label (`abusive`, `off_topic`, ...) for a future abuse model and is left out of the
spam model's training data (an abusive comment is not ham, and not spam either).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from service.store.keys import Keys

HAM = "ham"
SPAM = "spam"
WITHDRAWN = "withdrawn"
SPAM_REASONS = frozenset({"spam", "advertising"})


def label_for(action: str, reason: str | None) -> str:
    """The training label of one decision."""
    if str(action) == "approve":
        return HAM
    r = str(reason or "other")
    return SPAM if r in SPAM_REASONS else r


@dataclass(frozen=True)
class Example:
    """One labelled example, as the decide script wrote it."""

    stream_id: str
    comment_id: str
    name: str
    title: str
    content: str
    had_markup: bool
    label: str
    reason: str
    moderator: str
    at_ms: int
    model_version: str
    spam_probability: float | None

    @property
    def is_binary(self) -> bool:
        """Usable by the spam model (ham or spam)."""
        return self.label in (HAM, SPAM)

    @property
    def y(self) -> int:
        return 1 if self.label == SPAM else 0

    def record(self) -> tuple[str, str, str, bool]:
        """The normalised record the features expect (the text was normalised before it was stored)."""
        return (self.name, self.title, self.content, self.had_markup)

    def public(self) -> dict[str, Any]:
        return {
            "comment_id": self.comment_id,
            "label": self.label,
            "reason": self.reason,
            "moderator": self.moderator,
            "at_ms": self.at_ms,
            "model_version": self.model_version,
            "spam_probability": self.spam_probability,
        }


def _example(stream_id: str, f: dict[str, str]) -> Example:
    prob = f.get("spam_probability", "")
    try:
        probability: float | None = float(prob) if prob else None
    except ValueError:
        probability = None
    return Example(
        stream_id=stream_id,
        comment_id=f.get("id", ""),
        name=f.get("name", ""),
        title=f.get("title", ""),
        content=f.get("content", ""),
        had_markup=f.get("had_markup") == "1",
        label=f.get("label", ""),
        reason=f.get("reason", ""),
        moderator=f.get("by", ""),
        at_ms=int(f.get("at", "0") or 0),
        model_version=f.get("model_version", ""),
        spam_probability=probability,
    )


async def read_partition(redis: Redis, keys: Keys, partition: int, batch: int = 1000) -> list[Example]:
    """Every example of one partition, oldest first (paged, so a big stream is not one reply)."""
    out: list[Example] = []
    start = "-"
    while True:
        page: list[Any] = list(await redis.xrange(keys.labels(partition), min=start, max="+", count=batch) or [])
        for xid, fields in page:
            out.append(_example(str(xid), {str(k): str(v) for k, v in (fields or {}).items()}))
        if len(page) < batch:
            return out
        start = "(" + str(page[-1][0])


def _entry_order(stream_id: str) -> tuple[int, int]:
    """A stream id as numbers ("ms-seq"): as text, "5-10" would sort before "5-9"."""
    ms, _, seq = stream_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


def latest_per_comment(examples: Iterable[Example]) -> list[Example]:
    """One example per comment (a reopened and re-decided comment keeps its last decision; one
    whose last entry withdrew its decision is left out), in a deterministic order: by decision
    time, then comment id."""
    last: dict[str, Example] = {}
    for ex in examples:
        prev = last.get(ex.comment_id)
        if prev is None or (ex.at_ms, _entry_order(ex.stream_id)) >= (prev.at_ms, _entry_order(prev.stream_id)):
            last[ex.comment_id] = ex
    kept = (e for e in last.values() if e.label != WITHDRAWN)
    return sorted(kept, key=lambda e: (e.at_ms, e.comment_id))


async def read_all(redis: Redis, keys: Keys) -> list[Example]:
    """Every partition's examples, one per comment, ordered by decision time."""
    found: list[Example] = []
    for p in range(keys.partitions):
        found.extend(await read_partition(redis, keys, p))
    return latest_per_comment(found)


async def count(redis: Redis, keys: Keys) -> int:
    """How many entries were written (every decision counts, re-decisions and withdrawals too)."""
    total = 0
    for p in range(keys.partitions):
        total += int(await redis.xlen(keys.labels(p)))
    return total


def summary(examples: Iterable[Example]) -> dict[str, int]:
    """Examples per label."""
    out: dict[str, int] = {}
    for ex in examples:
        out[ex.label] = out.get(ex.label, 0) + 1
    return dict(sorted(out.items()))
