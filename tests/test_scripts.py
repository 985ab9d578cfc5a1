"""Each review-queue Lua script on its own, against a real server, through its Scripts wrapper."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

from service.review import comment_ids, intake
from service.store.channels import ShardSubscription
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests import topology
from tests.queue_helpers import make_comment

K = Keys()
P = 0


async def _enqueue(redis: Redis, **overrides: object) -> str:
    cid, created = await intake.enqueue(redis, K, Scripts(redis), make_comment(**overrides))
    assert created
    return cid


async def _claim(
    redis: Redis, who: str = "mod1", n: int = 10, lease_ms: int = 60_000
) -> tuple[list[str], list[object]]:
    return await Scripts(redis).queue_claim(
        redis, [K.pending(P), K.claims(P), K.decisions(P)], [K.comment_prefix(P), who, n, lease_ms]
    )


def _decide_keys(cid: str, state: str, article: str = "bai-viet-1") -> list[str]:
    return [
        K.comment(P, cid),
        K.claims(P),
        K.pending(P),
        K.open(P),
        K.decisions(P),
        K.decided(P, state),
        K.pii(P),
        K.article_approved(P, article),
    ]


def _enqueue_keys(
    cid: str, idem: str | None = None, captcha: str | None = None, repeat: str | None = None
) -> list[str]:
    h = K.comment(P, cid)
    return [h, K.pending(P), K.open(P), K.decisions(P), idem or h, captcha or h, repeat or h]


def _enqueue_args(
    cid: str, created_ms: int, *, idem_ttl: int = 0, digest: str = "", repeat_ttl: int = 0
) -> list[object]:
    return [
        cid,
        "1.5",
        created_ms,
        idem_ttl,
        "m",
        "0.2",
        digest,
        repeat_ttl,
        K.events_channel(P),
        '{"type":"submitted"}',
        "article_id",
        "a",
        "content",
        "x",
    ]


async def test_enqueue_writes_hash_pending_open_and_audit(redis: Redis) -> None:
    """QUEUE_ENQUEUE stores the comment as pending v1, indexes it and appends a 'submitted' entry."""
    c = make_comment()
    found, code = await Scripts(redis).queue_enqueue(redis, _enqueue_keys(c.id), _enqueue_args(c.id, c.created_at_ms))
    assert (found, code) == (c.id, 1)
    h = await redis.hgetall(K.comment(P, c.id))
    assert h["state"] == "pending" and h["version"] == "1" and h["priority"] == "1.5" and h["content"] == "x"
    assert await redis.zscore(K.pending(P), c.id) == 1.5
    assert await redis.zscore(K.open(P), c.id) == c.created_at_ms
    (xid, entry), *_ = await redis.xrange(K.decisions(P))
    assert entry["event"] == "submitted" and entry["id"] == c.id and entry["model_version"] == "m"
    assert h["log"] == xid


async def test_enqueue_with_idempotency_key_writes_once(redis: Redis) -> None:
    """QUEUE_ENQUEUE with an idempotency key returns the first id and writes nothing the second time."""
    s = Scripts(redis)
    first, second = make_comment(), make_comment()
    idem = K.idempotency(P, "k1")
    for c, expected in ((first, (first.id, 1)), (second, (first.id, 0))):
        found = await s.queue_enqueue(
            redis, _enqueue_keys(c.id, idem), _enqueue_args(c.id, c.created_at_ms, idem_ttl=60)
        )
        assert found == expected
    assert await redis.exists(K.comment(P, second.id)) == 0
    assert await redis.zcard(K.pending(P)) == 1
    assert 0 < await redis.ttl(idem) <= 60


async def test_enqueue_rerun_with_the_same_id_answers_the_first_outcome(redis: Redis) -> None:
    """A re-run of the script with the same comment id (its first answer was lost) answers (id, 0) and
    writes nothing: never 'id taken' (it used to answer -1, which the reader saw as a 409)."""
    cid = await _enqueue(redis)
    entries = await redis.xlen(K.decisions(P))
    found = await Scripts(redis).queue_enqueue(redis, _enqueue_keys(cid), _enqueue_args(cid, 1))
    assert found == (cid, 0)
    assert await redis.zscore(K.pending(P), cid) != 1.5
    assert await redis.xlen(K.decisions(P)) == entries


async def test_enqueue_consumes_the_captcha_sets_the_repeat_marker_and_publishes(redis: Redis) -> None:
    """With a captcha, the script consumes it, sets the repeat marker (NX) and publishes the event."""
    s = Scripts(redis)
    captcha, repeat = K.captcha("seal-a"), K.repeat(P, "d1")
    await redis.hset(captcha, "h", "right")
    await redis.set(repeat, "FIRST")
    subscription = await ShardSubscription(redis, [K.events_channel(P)]).__aenter__()
    c = make_comment()
    found = await s.queue_enqueue(
        redis,
        _enqueue_keys(c.id, captcha=captcha, repeat=repeat),
        _enqueue_args(c.id, 1, digest="right", repeat_ttl=60),
    )
    assert found == (c.id, 1)
    assert not await redis.exists(captcha)
    assert await redis.get(repeat) == "FIRST"  # NX: the first comment of the pair stays named
    message = await subscription.get(5.0)
    assert message is not None and json.loads(message) == {"type": "submitted"}
    await subscription.aclose()


async def test_enqueue_with_a_spent_or_wrong_captcha_writes_nothing(redis: Redis) -> None:
    """A captcha used meanwhile answers -2, a wrong digest -3 (and spends it); neither stores anything."""
    s = Scripts(redis)
    captcha = K.captcha("seal-b")
    c = make_comment()
    keys = _enqueue_keys(c.id, captcha=captcha, repeat=K.repeat(P, "d2"))
    assert await s.queue_enqueue(redis, keys, _enqueue_args(c.id, 1, digest="right", repeat_ttl=60)) == ("", -2)
    await redis.hset(captcha, "h", "right")
    assert await s.queue_enqueue(redis, keys, _enqueue_args(c.id, 1, digest="wrong", repeat_ttl=60)) == ("", -3)
    assert not await redis.exists(captcha)
    assert not await redis.exists(K.comment(P, c.id), K.repeat(P, "d2"))
    assert await redis.zcard(K.pending(P)) == 0


async def test_captcha_check_keeps_a_right_answer_and_spends_a_wrong_one(redis: Redis) -> None:
    s = Scripts(redis)
    key = K.captcha("seal-c")
    assert await s.captcha_check(redis, key, "right") == 0
    await redis.hset(key, "h", "right")
    assert await s.captcha_check(redis, key, "right") == 1
    assert await redis.exists(key)
    assert await s.captcha_check(redis, key, "wrong") == -1
    assert not await redis.exists(key)


@pytest.mark.skipif(topology.CLUSTER_MODE, reason="maxmemory is one node's setting: proven on a single server")
async def test_enqueue_refused_for_memory_writes_nothing_and_keeps_the_captcha(redis: Redis) -> None:
    """At maxmemory the script is refused before it runs (OOM): no comment, no queue entry, the captcha kept."""
    s = Scripts(redis)
    captcha = K.captcha("seal-d")
    await redis.hset(captcha, "h", "right")
    c = make_comment()
    before = await redis.config_get("maxmemory")
    await redis.config_set("maxmemory", 1)
    try:
        with pytest.raises(OutOfMemoryError):
            await s.queue_enqueue(
                redis,
                _enqueue_keys(c.id, captcha=captcha, repeat=K.repeat(P, "d3")),
                _enqueue_args(c.id, 1, digest="right", repeat_ttl=9),
            )
    finally:
        await redis.config_set("maxmemory", before["maxmemory"])
    assert await redis.hget(captcha, "h") == "right"
    assert not await redis.exists(K.comment(P, c.id), K.repeat(P, "d3"))
    assert await redis.zcard(K.pending(P)) == 0


async def test_pool_take_runs_one_script_per_partition(redis: Redis) -> None:
    """Pooled captchas live in their seal's partition: a batch spanning partitions is handled per tag."""
    keys = Keys(partitions=4)
    seals = [f"seal-{i}" for i in range(12)]
    assert len({keys.partition_of(x) for x in seals}) > 1
    for seal in seals[::2]:
        await redis.hset(keys.pooled_captcha(seal), "h", "x")
    found = await Scripts(redis).captcha_pool_take(redis, [keys.pooled_captcha(x) for x in seals], 30)
    assert found == [i % 2 == 0 for i in range(12)]
    assert 0 < await redis.ttl(keys.pooled_captcha(seals[0])) <= 30


async def test_claim_takes_most_urgent_first_and_leases(redis: Redis) -> None:
    """QUEUE_CLAIM pops the lowest priority scores, marks them claimed (v2) and records the lease."""
    low = await _enqueue(redis, spam_probability=0.1)
    high = await _enqueue(redis, spam_probability=0.9)
    expired, flat = await _claim(redis, n=1)
    assert expired == []
    assert flat[0] == high and int(flat[1]) == 2  # type: ignore[call-overload]
    h = await redis.hgetall(K.comment(P, high))
    assert h["state"] == "claimed" and h["claimed_by"] == "mod1" and int(h["lease_until"]) == int(flat[2])  # type: ignore[call-overload]
    assert await redis.zscore(K.claims(P), high) == int(flat[2])  # type: ignore[call-overload]
    assert await redis.zrange(K.pending(P), 0, -1) == [low]


async def test_claim_on_empty_queue_claims_nothing(redis: Redis) -> None:
    """QUEUE_CLAIM on an empty partition returns no claims."""
    assert await _claim(redis) == ([], [])


async def test_expire_returns_only_ended_leases(redis: Redis) -> None:
    """QUEUE_EXPIRE puts claims whose lease ended back to pending (v3) and leaves live ones."""
    a = await _enqueue(redis)
    await _claim(redis, n=1, lease_ms=50)
    b = await _enqueue(redis)
    await _claim(redis, who="mod2", n=1, lease_ms=60_000)
    await asyncio.sleep(0.1)
    back = await Scripts(redis).queue_expire(
        redis, [K.claims(P), K.pending(P), K.decisions(P)], [K.comment_prefix(P), 100]
    )
    assert back == [a]
    ha, hb = await redis.hgetall(K.comment(P, a)), await redis.hgetall(K.comment(P, b))
    assert ha["state"] == "pending" and ha["version"] == "3" and "claimed_by" not in ha
    assert hb["state"] == "claimed"
    assert await redis.zrange(K.pending(P), 0, -1) == [a]
    entries = [e for _, e in await redis.xrange(K.decisions(P)) if e["id"] == a]
    assert [e["event"] for e in entries] == ["submitted", "claimed", "lease_expired"]


async def test_claim_first_returns_expired_leases(redis: Redis) -> None:
    """QUEUE_CLAIM returns expired leases to pending before claiming, and reports them."""
    a = await _enqueue(redis)
    await _claim(redis, n=1, lease_ms=20)
    await asyncio.sleep(0.05)
    expired, flat = await _claim(redis, who="mod2", n=1)
    assert expired == [a] and flat[0] == a and int(flat[1]) == 4  # type: ignore[call-overload]


async def test_decide_approves_and_indexes(redis: Redis) -> None:
    """QUEUE_DECIDE with the current version moves a claimed comment to approved and indexes it."""
    cid = await _enqueue(redis)
    await _claim(redis)
    reply = await Scripts(redis).queue_decide(
        redis, _decide_keys(cid, "approved"), [cid, "mod1", 2, "approved", "approve", "", "ok"]
    )
    assert reply[:3] == ["ok", "approved", 3]
    assert await redis.zscore(K.article_approved(P, "bai-viet-1"), cid) is not None
    assert await redis.zscore(K.decided(P, "approved"), cid) is not None
    assert await redis.zscore(K.pii(P), cid) is not None
    assert await redis.zcard(K.claims(P)) == 0 and await redis.zcard(K.open(P)) == 0
    h = await redis.hgetall(K.comment(P, cid))
    assert h["decided_by"] == "mod1" and h["note"] == "ok" and "claimed_by" not in h
    last = (await redis.xrevrange(K.decisions(P), count=1))[0][1]
    assert last["event"] == "decided" and last["from"] == "claimed" and last["to"] == "approved"
    assert last["model_version"] == "test-model-1" and float(last["spam_probability"]) == 0.2


async def test_decide_conflicts(redis: Redis) -> None:
    """QUEUE_DECIDE refuses a stale version, another's claim, a decided comment; unknown ids are not_found."""
    s = Scripts(redis)
    cid = await _enqueue(redis)
    await _claim(redis)
    keys = _decide_keys(cid, "rejected")
    assert (await s.queue_decide(redis, keys, [cid, "mod2", 2, "rejected", "reject", "spam", ""]))[:2] == [
        "conflict",
        "claimed_by_other",
    ]
    assert (await s.queue_decide(redis, keys, [cid, "mod1", 1, "rejected", "reject", "spam", ""]))[:4] == [
        "conflict",
        "stale_version",
        "claimed",
        2,
    ]
    assert (await s.queue_decide(redis, keys, [cid, "mod1", 2, "rejected", "reject", "spam", ""]))[0] == "ok"
    assert (await s.queue_decide(redis, keys, [cid, "mod1", 3, "rejected", "reject", "spam", ""]))[
        1
    ] == "already_decided"
    missing = comment_ids.new_comment_id()
    assert await s.queue_decide(
        redis, _decide_keys(missing, "rejected"), [missing, "m", 1, "rejected", "r", "", ""]
    ) == ["not_found"]


async def test_release_and_renew(redis: Redis) -> None:
    """QUEUE_RENEW extends only the holder's lease (same version); QUEUE_RELEASE returns it to pending."""
    s = Scripts(redis)
    cid = await _enqueue(redis)
    _, flat = await _claim(redis, lease_ms=1000)
    renewed = await s.queue_renew(redis, [K.comment(P, cid), K.claims(P)], [cid, "mod1", 60_000, ""])
    assert renewed[:3] == ["ok", "claimed", 2] and int(renewed[3]) > int(flat[2])  # type: ignore[call-overload]
    assert (await s.queue_renew(redis, [K.comment(P, cid), K.claims(P)], [cid, "mod2", 60_000, ""]))[1] == (
        "claimed_by_other"
    )
    rkeys = [K.comment(P, cid), K.claims(P), K.pending(P), K.decisions(P)]
    assert (await s.queue_release(redis, rkeys, [cid, "mod2", "", "0"]))[1] == "claimed_by_other"
    assert (await s.queue_release(redis, rkeys, [cid, "mod1", 1, "0"]))[1] == "stale_version"
    assert (await s.queue_release(redis, rkeys, [cid, "mod1", 2, "0"]))[:3] == ["ok", "pending", 3]
    assert await redis.zrange(K.pending(P), 0, -1) == [cid] and await redis.zcard(K.claims(P)) == 0
    assert (await s.queue_release(redis, rkeys, [cid, "mod1", "", "0"]))[1] == "not_claimed"


async def test_release_by_admin_force(redis: Redis) -> None:
    """QUEUE_RELEASE with force releases someone else's claim."""
    cid = await _enqueue(redis)
    await _claim(redis)
    rkeys = [K.comment(P, cid), K.claims(P), K.pending(P), K.decisions(P)]
    assert (await Scripts(redis).queue_release(redis, rkeys, [cid, "boss", "", "1"]))[0] == "ok"


async def test_reopen_undoes_a_decision(redis: Redis) -> None:
    """QUEUE_REOPEN moves an approved comment back to pending and out of every decided index."""
    s = Scripts(redis)
    cid = await _enqueue(redis)
    await s.queue_decide(redis, _decide_keys(cid, "approved"), [cid, "mod1", 1, "approved", "approve", "", ""])
    rkeys = [
        K.comment(P, cid),
        K.pending(P),
        K.open(P),
        K.decisions(P),
        K.decided(P, "approved"),
        K.decided(P, "rejected"),
        K.pii(P),
        K.article_approved(P, "bai-viet-1"),
    ]
    assert (await s.queue_reopen(redis, rkeys, [cid, "boss", 1, ""]))[1] == "stale_version"
    assert (await s.queue_reopen(redis, rkeys, [cid, "boss", 2, "wrong call"]))[:3] == ["ok", "pending", 3]
    assert await redis.zcard(K.article_approved(P, "bai-viet-1")) == 0
    assert await redis.zcard(K.decided(P, "approved")) == 0 and await redis.zcard(K.pii(P)) == 0
    assert await redis.zrange(K.pending(P), 0, -1) == [cid] and await redis.zrange(K.open(P), 0, -1) == [cid]
    last = (await redis.xrevrange(K.decisions(P), count=1))[0][1]
    assert last["event"] == "reopened" and last["from"] == "approved" and last["note"] == "wrong call"
    assert (await s.queue_reopen(redis, rkeys, [cid, "boss", "", ""]))[1] == "not_decided"


async def test_erase_pii_keeps_text_and_labels(redis: Redis) -> None:
    """QUEUE_ERASE_PII drops phone, client and user agent (also from the raw snapshot) of old decisions only."""
    s = Scripts(redis)
    old = await _enqueue(redis)
    await s.queue_decide(redis, _decide_keys(old, "rejected"), [old, "m", 1, "rejected", "reject", "spam", ""])
    cutoff = int(await redis.zscore(K.pii(P), old))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    new = await _enqueue(redis)
    await s.queue_decide(redis, _decide_keys(new, "rejected"), [new, "m", 1, "rejected", "reject", "spam", ""])
    assert await s.queue_erase_pii(redis, [K.pii(P)], [K.comment_prefix(P), cutoff, 100]) == 1
    h = await redis.hgetall(K.comment(P, old))
    assert not {"phone", "client", "user_agent"} & set(h)
    # The stored snapshot holds only what differs from the normalised fields (intake.raw_delta).
    snapshot = intake.raw_snapshot(h, json.loads(h["raw"]))
    assert "phone" not in snapshot and snapshot["title"] == "Ý kiến"
    assert h["content"] and h["reason"] == "spam" and h["spam_probability"] and "pii_erased_at" in h
    assert (await redis.hgetall(K.comment(P, new)))["phone"] == "+84912345678"
    assert await redis.zrange(K.pii(P), 0, -1) == [new]


async def test_transitions_publish_their_events_inside_the_script(redis: Redis) -> None:
    """Claim, decide, release, reopen and lease expiry publish their queue events from the script itself
    (issue 20 item 7: they used to be published after it, lost if the service died in between)."""
    s = Scripts(redis)
    subscription = await ShardSubscription(redis, [K.events_channel(P)]).__aenter__()
    channel = K.events_channel(P)
    a, b = await _enqueue(redis), await _enqueue(redis)
    await s.queue_claim(
        redis, [K.pending(P), K.claims(P), K.decisions(P)], [K.comment_prefix(P), "mod1", 2, 1, channel]
    )
    await asyncio.sleep(0.01)
    await s.queue_expire(redis, [K.claims(P), K.pending(P), K.decisions(P)], [K.comment_prefix(P), 10, channel])
    await s.queue_decide(
        redis,
        _decide_keys(a, "approved"),
        [a, "mod1", 3, "approved", "approve", "", "", "ham", channel, json.dumps({"type": "decided", "id": a})],
    )
    await s.queue_reopen(
        redis,
        [
            K.comment(P, a),
            K.pending(P),
            K.open(P),
            K.decisions(P),
            K.decided(P, "approved"),
            K.decided(P, "rejected"),
            K.pii(P),
            K.article_approved(P, "bai-viet-1"),
        ],
        [a, "admin", "", "", channel, json.dumps({"type": "reopened", "id": a})],
    )
    seen: list[dict[str, object]] = []
    deadline = asyncio.get_running_loop().time() + 5
    while len(seen) < 8 and asyncio.get_running_loop().time() < deadline:
        message = await subscription.get(0.2)
        if message:
            seen.append(json.loads(message))
    seen = [e for e in seen if e["type"] != "submitted"]  # the two enqueues'
    await subscription.aclose()
    assert [(e["type"], e["id"], e["state"], e.get("version")) for e in seen] == [
        ("claimed", a, "claimed", 2) if seen[0]["id"] == a else ("claimed", b, "claimed", 2),
        ("claimed", b, "claimed", 2) if seen[0]["id"] == a else ("claimed", a, "claimed", 2),
        ("lease_expired", seen[2]["id"], "pending", None),
        ("lease_expired", seen[3]["id"], "pending", None),
        ("decided", a, "approved", 4),
        ("reopened", a, "pending", 5),
    ]
