"""Retention: old comments lose the reader's phone, address and user agent whether or not anyone
decided them, and the decision audit stream is trimmed to its own period (issue 20, item 7)."""

from __future__ import annotations

import asyncio
import json
import time

from redis.asyncio import Redis

from service.review import reading, retention, states, transitions
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests.clients import MakeClient
from tests.queue_helpers import enqueue_many

DAY_MS = 86_400_000
PERSONAL = ("phone", "client", "user_agent")


def _now_ms() -> int:
    return int(time.time() * 1000)


async def test_undecided_comments_past_the_period_lose_personal_data_and_stay_reviewable(redis: Redis) -> None:
    """Two comments waiting 40 days and one from today, retention 30 days: the old ones lose phone,
    address and user agent (hash and raw snapshot), keep their text, stay pending and can be
    claimed and decided; today's keeps everything; a second run erases nothing more."""
    keys = Keys("duyet", 2)
    scripts = Scripts(redis)
    old = await enqueue_many(redis, keys, 2, created_at_ms=_now_ms() - 40 * DAY_MS)
    (recent,) = await enqueue_many(redis, keys, 1)

    assert await retention.run(redis, keys, scripts, days=30) == 2
    for cid in old:
        h = await reading.get(redis, keys, cid)
        assert not set(PERSONAL) & set(h), h
        assert "phone" not in json.loads(h["raw"]) and json.loads(h["raw"])["content"] == "Bài viết rất hay"
        assert h["content"] == "Bài viết rất hay, cảm ơn tác giả." and h["state"] == "pending"
        assert int(h["pii_erased_at"]) > 0
        p = keys.partition_of(cid)
        assert await redis.zscore(keys.pending(p), cid) is not None
    kept = await reading.get(redis, keys, recent)
    assert kept["phone"] == "+84912345678" and kept["client"] == "203.0.113.7"
    assert json.loads(kept["raw"])["phone"] == "0912345678"

    assert await retention.run(redis, keys, scripts, days=30) == 0  # each comment is erased once

    claimed, _ = await transitions.claim(redis, keys, scripts, "mod1", 10, 60_000)
    assert set(old) <= {c.id for c in claimed}
    for c in claimed:
        if c.id in old:
            out = await transitions.decide(redis, keys, scripts, c.id, "mod1", c.version, states.Action.APPROVE)
            assert out.state == "approved"


async def test_a_comment_crossing_the_cutoff_later_is_erased_then(redis: Redis) -> None:
    """The walk through the queue remembers where it stopped: a comment that was young at one run
    is erased at a later run, once it is past the period."""
    keys = Keys()
    scripts = Scripts(redis)
    now = _now_ms()
    (cid,) = await enqueue_many(redis, keys, 1, created_at_ms=now - 10 * DAY_MS)
    assert await retention.run(redis, keys, scripts, days=30, now_ms=now) == 0
    assert (await reading.get(redis, keys, cid))["phone"] == "+84912345678"
    assert await retention.run(redis, keys, scripts, days=30, now_ms=now + 21 * DAY_MS) == 1
    assert "phone" not in await reading.get(redis, keys, cid)


async def test_many_comments_of_one_millisecond_are_all_erased_in_small_batches(redis: Redis) -> None:
    """Seven comments submitted in the same millisecond, erased two at a time: all seven, and the
    walk ends (a batch boundary inside one millisecond neither skips nor repeats forever)."""
    keys = Keys()
    scripts = Scripts(redis)
    at = _now_ms() - 100 * DAY_MS
    ids = await enqueue_many(redis, keys, 7, created_at_ms=at)
    (later,) = await enqueue_many(redis, keys, 1, created_at_ms=at + 1)
    erased = await asyncio.wait_for(retention.erase_undecided(redis, keys, scripts, at + 1, batch=2), 10)
    assert erased == 8
    for cid in [*ids, later]:
        assert "phone" not in await reading.get(redis, keys, cid)


async def test_the_decision_audit_is_trimmed_to_its_period(redis: Redis) -> None:
    """300 audit entries from two years ago and today's submissions: trimming to 365 days drops the
    old entries (approximately: at most one stream node of them, < 100, may stay) and keeps every
    recent one; comments' histories still read."""
    keys = Keys()
    two_years_ago = _now_ms() - 730 * DAY_MS
    for i in range(300):
        await redis.xadd(keys.decisions(0), {"event": "submitted", "id": f"old{i}"}, id=f"{two_years_ago + i}-0")
    ids = await enqueue_many(redis, keys, 3)
    dropped = await retention.trim_audit(redis, keys, 365)
    assert dropped > 200
    entries = await redis.xrange(keys.decisions(0))
    old_left = [e for e in entries if e[1]["id"].startswith("old")]
    assert len(old_left) < 100
    assert {e[1]["id"] for e in entries} >= set(ids)
    h = await reading.get(redis, keys, ids[0])
    assert [e["event"] for e in await reading.history(redis, keys, ids[0], h)] == ["submitted"]


async def test_the_service_erases_and_trims_in_the_background(make_client: MakeClient, redis: Redis) -> None:
    """The running service's retention loop does both: an undecided comment from 60 days ago loses
    its phone, and audit entries from two years ago are dropped, without anyone running a command."""
    keys = Keys()
    two_years_ago = _now_ms() - 730 * DAY_MS
    for i in range(300):
        await redis.xadd(keys.decisions(0), {"event": "submitted", "id": f"old{i}"}, id=f"{two_years_ago + i}-0")
    (cid,) = await enqueue_many(redis, keys, 1, created_at_ms=_now_ms() - 60 * DAY_MS)
    await make_client(retention_days=30, audit_retention_days=365)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        erased = "phone" not in await reading.get(redis, keys, cid)
        if erased and await redis.xlen(keys.decisions(0)) < 150:
            break
        await asyncio.sleep(0.1)
    assert "phone" not in await reading.get(redis, keys, cid)
    assert await redis.xlen(keys.decisions(0)) < 150
