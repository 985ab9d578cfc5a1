"""Labelled examples: every decision writes one, without personal data, and retention keeps them."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from service.review import labels, retention, states, transitions
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests.queue_helpers import enqueue_many


def test_label_mapping() -> None:
    """Approve is ham, spam/advertising are spam, other reasons keep their own label."""
    assert labels.label_for("approve", None) == "ham"
    assert labels.label_for("reject", "spam") == "spam"
    assert labels.label_for("reject", "advertising") == "spam"
    assert labels.label_for("reject", "abusive") == "abusive"
    assert labels.label_for("reject", "off_topic") == "off_topic"


async def test_decisions_become_labelled_examples(redis: Redis) -> None:
    """Each decision appends one example with text, label, moderator, time, model version and score."""
    keys = Keys("duyet", 2)
    scripts = Scripts(redis)
    ids = await enqueue_many(redis, keys, 4, content="Mua hàng giá rẻ tại shop ABC", spam_probability=0.7)
    plan = [
        (states.Action.APPROVE, None),
        (states.Action.REJECT, states.RejectReason.SPAM),
        (states.Action.REJECT, states.RejectReason.ADVERTISING),
        (states.Action.REJECT, states.RejectReason.ABUSIVE),
    ]
    outcomes = []
    for cid, (action, reason) in zip(ids, plan, strict=True):
        outcomes.append(await transitions.decide(redis, keys, scripts, cid, "mod1", 1, action, reason))
    examples = await labels.read_all(redis, keys)
    by_id = {e.comment_id: e for e in examples}
    assert [by_id[c].label for c in ids] == ["ham", "spam", "spam", "abusive"]
    first = by_id[ids[0]]
    assert first.content == "Mua hàng giá rẻ tại shop ABC"
    assert first.name == "Nguyễn Văn A" and first.title == "Ý kiến"
    assert first.moderator == "mod1"
    assert first.at_ms == outcomes[0].at_ms
    assert first.model_version == "test-model-1"
    assert first.spam_probability == 0.7
    assert await labels.count(redis, keys) == 4
    assert labels.summary(examples) == {"abusive": 1, "ham": 1, "spam": 2}
    assert [e.at_ms for e in examples] == sorted(e.at_ms for e in examples)


async def test_examples_hold_no_personal_data_and_survive_retention(redis: Redis) -> None:
    """The labels stream never holds phone, client or user agent; erasing personal data keeps it whole."""
    keys = Keys()
    scripts = Scripts(redis)
    (cid,) = await enqueue_many(redis, keys, 1)
    await transitions.decide(redis, keys, scripts, cid, "mod1", 1, states.Action.REJECT, states.RejectReason.SPAM)
    before = await redis.xrange(keys.labels(0))
    flat = json.dumps(before, ensure_ascii=False)
    for secret in ("+84912345678", "0912345678", "203.0.113.7", "Mozilla/5.0 test"):
        assert secret not in flat
    erased = await retention.run(redis, keys, scripts, days=0, now_ms=10**15)
    assert erased == 1
    assert await redis.hget(keys.comment(0, cid), "phone") is None
    assert await redis.xrange(keys.labels(0)) == before


async def test_redecided_comment_keeps_its_last_label(redis: Redis) -> None:
    """A reopened and re-decided comment counts once, with its newest label."""
    keys = Keys()
    scripts = Scripts(redis)
    (cid,) = await enqueue_many(redis, keys, 1)
    out = await transitions.decide(redis, keys, scripts, cid, "mod1", 1, states.Action.APPROVE)
    out = await transitions.reopen(redis, keys, scripts, cid, "admin", out.version)
    await transitions.decide(
        redis, keys, scripts, cid, "admin", out.version, states.Action.REJECT, states.RejectReason.SPAM
    )
    assert await labels.count(redis, keys) == 3  # decision, withdrawal (the reopen), decision
    (only,) = await labels.read_all(redis, keys)
    assert only.label == "spam" and only.moderator == "admin"


async def test_undo_withdraws_the_label(redis: Redis) -> None:
    """Approve, then undo: the comment is no training example any more (the decision was taken back)."""
    keys = Keys()
    scripts = Scripts(redis)
    undone, kept = await enqueue_many(redis, keys, 2)
    out = await transitions.decide(redis, keys, scripts, undone, "mod1", 1, states.Action.APPROVE)
    await transitions.decide(redis, keys, scripts, kept, "mod1", 1, states.Action.REJECT, states.RejectReason.SPAM)
    assert {e.comment_id for e in await labels.read_all(redis, keys)} == {undone, kept}
    await transitions.reopen(redis, keys, scripts, undone, "admin", out.version, note="undo")
    remaining = await labels.read_all(redis, keys)
    assert [(e.comment_id, e.label) for e in remaining] == [(kept, "spam")]
    entries = await redis.xrange(keys.labels(keys.partition_of(undone)))
    withdrawal = entries[-1][1]
    assert withdrawal["id"] == undone and withdrawal["label"] == "withdrawn" and withdrawal["by"] == "admin"


def test_latest_entry_wins_within_one_millisecond() -> None:
    """Two entries in the same millisecond: the later stream entry (sequence 10 after 9) wins."""
    base = dict(name="", title="", content="x", had_markup=False, reason="", moderator="m", at_ms=5)
    extra = dict(model_version="", spam_probability=None)
    first = labels.Example(stream_id="5-9", comment_id="c", label="ham", **base, **extra)  # type: ignore[arg-type]
    later = labels.Example(stream_id="5-10", comment_id="c", label="withdrawn", **base, **extra)  # type: ignore[arg-type]
    assert labels.latest_per_comment([first, later]) == []
    assert labels.latest_per_comment([later, first]) == []
