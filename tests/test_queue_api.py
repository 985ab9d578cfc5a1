"""The review queue through the real HTTP app: concurrency, leases, conflicts, history, bulk, stats, events."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from service.review import comment_ids, intake, reading, states, transitions
from service.review.moderators import Role
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests.clients import MakeClient
from tests.queue_helpers import auth, enqueue_many, make_comment, token_for

K = Keys()


async def _claim(client: TestClient[Any, Any], token: str, limit: int = 1) -> list[dict[str, Any]]:
    resp = await client.post("/v1/queue/claim", json={"limit": limit}, headers=auth(token))
    assert resp.status == 200, await resp.text()
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def _all_events(redis: Redis, keys: Keys) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for p in range(keys.partitions):
        out += [e for _, e in await redis.xrange(keys.decisions(p))]
    return out


@pytest.mark.slow
async def test_twenty_moderators_work_two_thousand_comments(make_client: MakeClient, redis: Redis) -> None:
    """20 concurrent moderators decide 2,000 comments: each exactly once, none lost, never held by two at once."""
    client = await make_client(partitions=4)
    keys = Keys(partitions=4)
    ids = set(await enqueue_many(redis, keys, 2000))
    tokens = {f"mod{i:02d}": await token_for(redis, keys, f"mod{i:02d}") for i in range(20)}
    decided_by: dict[str, list[str]] = defaultdict(list)
    rng = random.Random(7)

    async def work(name: str, token: str) -> None:
        while True:
            batch = await _claim(client, token, limit=rng.randint(1, 12))
            if not batch:
                return
            for item in batch:
                if rng.random() < 0.05:  # some go back, to be claimed by someone else
                    r = await client.post(f"/v1/comments/{item['id']}/release", json={}, headers=auth(token))
                    assert r.status == 200
                    continue
                body = {"action": "approve", "version": item["version"]}
                if rng.random() < 0.5:
                    body = {"action": "reject", "reason": "spam", "version": item["version"]}
                r = await client.post(f"/v1/comments/{item['id']}/decision", json=body, headers=auth(token))
                assert r.status == 200, await r.text()
                decided_by[item["id"]].append(name)

    await asyncio.wait_for(asyncio.gather(*(work(n, t) for n, t in tokens.items())), 120)

    assert set(decided_by) == ids
    assert all(len(v) == 1 for v in decided_by.values())
    approved = sum([await redis.zcard(keys.decided(p, "approved")) for p in range(4)])
    rejected = sum([await redis.zcard(keys.decided(p, "rejected")) for p in range(4)])
    assert approved + rejected == 2000
    assert sum([await redis.zcard(keys.pending(p)) + await redis.zcard(keys.claims(p)) for p in range(4)]) == 0
    # Replay the audit trail: every claim ends (release or decision by its holder) before the next begins.
    holder: dict[str, str | None] = {}
    decisions: dict[str, int] = defaultdict(int)
    for e in await _all_events(redis, keys):
        cid, event = e["id"], e["event"]
        if event == "claimed":
            assert holder.get(cid) is None, f"{cid} claimed by {e['by']} while held by {holder.get(cid)}"
            holder[cid] = e["by"]
        elif event == "released":
            assert holder.get(cid) == e["by"]
            holder[cid] = None
        elif event == "decided":
            assert holder.get(cid) == e["by"]
            holder[cid] = None
            decisions[cid] += 1
    assert set(decisions) == ids and set(decisions.values()) == {1}


async def test_expired_lease_puts_the_comment_back(make_client: MakeClient, redis: Redis) -> None:
    """A lease that runs out returns the comment to pending by itself; the late decision gets 409."""
    client = await make_client(lease_seconds=1, lease_sweep_seconds=0.1)
    (cid,) = await enqueue_many(redis, K, 1)
    token = await token_for(redis, K, "slow")
    (item,) = await _claim(client, token)
    assert item["state"] == "claimed"
    for _ in range(50):
        await asyncio.sleep(0.1)
        if await redis.hget(K.comment(0, cid), "state") == "pending":
            break
    resp = await client.get(f"/v1/comments/{cid}", headers=auth(token))
    body = await resp.json()
    assert body["state"] == "pending" and body["version"] == 3
    assert [h["event"] for h in body["history"]] == ["submitted", "claimed", "lease_expired"]
    late = await client.post(
        f"/v1/comments/{cid}/decision", json={"action": "approve", "version": item["version"]}, headers=auth(token)
    )
    assert late.status == 409
    assert (await late.json())["error"]["current"] == {"id": cid, "state": "pending", "version": 3}
    metrics = await (await client.get("/metrics")).text()
    assert "duyet_lease_expiries_total 1.0" in metrics


async def test_stale_version_and_others_claim_are_409_unknown_is_404(make_client: MakeClient, redis: Redis) -> None:
    """A stale version or someone else's claim answers 409 with the current state; an unknown id 404."""
    client = await make_client()
    (cid,) = await enqueue_many(redis, K, 1)
    a, b = await token_for(redis, K, "alice"), await token_for(redis, K, "bob")
    (item,) = await _claim(client, a)
    stale = await client.post(f"/v1/comments/{cid}/decision", json={"action": "approve", "version": 1}, headers=auth(a))
    assert stale.status == 409
    err = (await stale.json())["error"]
    assert err["code"] == "stale_version"
    assert err["current"] == {"id": cid, "state": "claimed", "version": 2, "claimed_by": "alice"}
    other = await client.post(
        f"/v1/comments/{cid}/decision", json={"action": "approve", "version": item["version"]}, headers=auth(b)
    )
    assert other.status == 409 and (await other.json())["error"]["code"] == "claimed_by_other"
    for path in ("/decision", "/release", "/renew", ""):
        missing = comment_ids.new_comment_id()
        method = client.get if path == "" else client.post
        kwargs: dict[str, Any] = {} if path == "" else {"json": {"action": "approve", "version": 1}}
        resp = await method(f"/v1/comments/{missing}{path}", headers=auth(a), **kwargs)
        assert resp.status == 404, path
    ok = await client.post(
        f"/v1/comments/{cid}/decision",
        json={"action": "reject", "reason": "advertising", "version": item["version"], "note": "quảng cáo"},
        headers=auth(a),
    )
    assert ok.status == 200 and (await ok.json())["state"] == "rejected"


async def test_decision_input_is_validated(make_client: MakeClient, redis: Redis) -> None:
    """A rejection without a known reason, a missing version or an unknown action is a 400 that changes nothing."""
    client = await make_client()
    (cid,) = await enqueue_many(redis, K, 1)
    token = await token_for(redis, K, "alice")
    for body in (
        {"action": "reject", "version": 1},
        {"action": "reject", "reason": "boring", "version": 1},
        {"action": "approve"},
        {"action": "maybe", "version": 1},
        {"action": "approve", "version": "x"},
    ):
        resp = await client.post(f"/v1/comments/{cid}/decision", json=body, headers=auth(token))
        assert resp.status == 400, body
    assert await redis.hget(K.comment(0, cid), "state") == "pending"


async def test_renew_release_and_admin_reopen(make_client: MakeClient, redis: Redis) -> None:
    """Renewing extends the lease; release returns it; only an admin may reopen a decided comment."""
    client = await make_client()
    (cid,) = await enqueue_many(redis, K, 1)
    mod, admin = await token_for(redis, K, "alice"), await token_for(redis, K, "boss", Role.ADMIN)
    (item,) = await _claim(client, mod)
    renewed = await (await client.post(f"/v1/comments/{cid}/renew", json={}, headers=auth(mod))).json()
    assert renewed["lease_until"] >= item["lease_until"] and renewed["version"] == item["version"]
    released = await client.post(f"/v1/comments/{cid}/release", json={"version": item["version"]}, headers=auth(mod))
    assert (await released.json())["state"] == "pending"
    done = await client.post(
        f"/v1/comments/{cid}/decision", json={"action": "approve", "version": 3}, headers=auth(mod)
    )
    assert done.status == 200
    assert (await client.post(f"/v1/comments/{cid}/reopen", json={}, headers=auth(mod))).status == 403
    reopened = await client.post(f"/v1/comments/{cid}/reopen", json={"note": "nhầm"}, headers=auth(admin))
    assert reopened.status == 200 and (await reopened.json())["state"] == "pending"
    hist = (await (await client.get(f"/v1/comments/{cid}", headers=auth(admin))).json())["history"]
    assert [h["event"] for h in hist] == ["submitted", "claimed", "released", "decided", "reopened"]
    assert hist[-1]["by"] == "boss" and hist[-1]["action"] == "approve" and hist[-1]["note"] == "nhầm"


async def test_comment_view_masks_personal_data_except_for_admins(make_client: MakeClient, redis: Redis) -> None:
    """Moderators see a masked phone and no client address; an admin's single-comment view shows them."""
    client = await make_client()
    (cid,) = await enqueue_many(redis, K, 1)
    mod, admin = await token_for(redis, K, "alice"), await token_for(redis, K, "boss", Role.ADMIN)
    seen = await (await client.get(f"/v1/comments/{cid}", headers=auth(mod))).json()
    assert seen["phone"] == "+84 9** *** 678" and "client" not in seen and "user_agent" not in seen
    assert "phone" not in seen["raw"] and "0912345678" not in json.dumps(seen)
    assert seen["model_version"] == "test-model-1" and seen["spam_probability"] == 0.2
    full = await (await client.get(f"/v1/comments/{cid}", headers=auth(admin))).json()
    assert full["phone"] == "+84912345678" and full["client"] == "203.0.113.7"
    listed = await (await client.get("/v1/queue", headers=auth(mod))).json()
    assert listed["items"][0]["phone"] == "+84 9** *** 678" and "client" not in listed["items"][0]


async def test_bulk_decisions_answer_per_id(make_client: MakeClient, redis: Redis) -> None:
    """A bulk decision applies each item on its own and reports a status per id; over the limit is 400."""
    client = await make_client(bulk_limit=5)
    ids = await enqueue_many(redis, K, 3)
    token = await token_for(redis, K, "alice")
    decisions = [
        {"id": ids[0], "action": "approve", "version": 1},
        {"id": ids[1], "action": "reject", "reason": "spam", "version": 1},
        {"id": ids[2], "action": "approve", "version": 7},
        {"id": comment_ids.new_comment_id(), "action": "approve", "version": 1},
        {"action": "approve"},
    ]
    resp = await client.post("/v1/queue/decisions", json={"decisions": decisions}, headers=auth(token))
    results = (await resp.json())["results"]
    assert [r["status"] for r in results] == [200, 200, 409, 404, 400]
    assert results[0]["state"] == "approved" and results[2]["error"]["current"]["state"] == "pending"
    too_many = await client.post("/v1/queue/decisions", json={"decisions": decisions * 2}, headers=auth(token))
    assert too_many.status == 400


async def test_queue_listing_filters_orders_and_pages(make_client: MakeClient, redis: Redis) -> None:
    """GET /v1/queue filters by article, score and state, orders by priority or age, and pages by cursor."""
    client = await make_client(partitions=3)
    keys, scripts = Keys(partitions=3), Scripts(redis)
    t0 = 1_700_000_000_000
    made = []
    for i in range(12):
        c = make_comment(article_id="a" if i % 2 else "b", spam_probability=i / 12, created_at_ms=t0 + i * 1000)
        made.append((await intake.enqueue(redis, keys, scripts, c))[0])
    token = await token_for(redis, keys, "alice")

    async def page_all(params: dict[str, str]) -> list[str]:
        out: list[str] = []
        cursor = None
        while True:
            q = {**params, "limit": "5", **({"cursor": cursor} if cursor else {})}
            body = await (await client.get("/v1/queue", params=q, headers=auth(token))).json()
            out += [i["id"] for i in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                return out

    assert await page_all({"order": "priority"}) == list(reversed(made))  # same age band: spammiest first
    assert await page_all({"order": "age"}) == made
    assert await page_all({"order": "age", "article_id": "a"}) == made[1::2]
    assert await page_all({"order": "age", "min_score": "0.5", "max_score": "0.75"}) == made[6:10]
    assert await page_all({"state": "approved"}) == []
    bad = await client.get("/v1/queue", params={"state": "lost"}, headers=auth(token))
    assert bad.status == 400


async def test_age_raises_priority_so_nothing_starves(redis: Redis) -> None:
    """An old low-score comment is claimed before a fresh high-score one once it waited the aging time."""
    scripts = Scripts(redis)
    now = 1_700_000_000_000
    old, _ = await intake.enqueue(
        redis, K, scripts, make_comment(spam_probability=0.05, created_at_ms=now - 3_700_000), aging_s=3600
    )
    await intake.enqueue(redis, K, scripts, make_comment(spam_probability=0.99, created_at_ms=now), aging_s=3600)
    claims, _ = await transitions.claim(redis, K, scripts, "m", 1, 60_000)
    assert [c.id for c in claims] == [old]


async def test_approved_comments_are_listed_publicly(redis: Redis) -> None:
    """list_approved returns approved comments of an article, newest first, public fields only, paged."""
    scripts = Scripts(redis)
    keys = Keys(partitions=2)
    ids = await enqueue_many(redis, keys, 5, article_id="art-9")
    for cid in ids[:4]:
        await transitions.decide(redis, keys, scripts, cid, "m", 1, states.Action.APPROVE)
        await asyncio.sleep(0.002)
    await transitions.decide(redis, keys, scripts, ids[4], "m", 1, states.Action.REJECT, states.RejectReason.SPAM)
    first, cursor = await reading.list_approved(redis, keys, "art-9", 3, None)
    rest, end = await reading.list_approved(redis, keys, "art-9", 3, cursor)
    assert [i["id"] for i in first + rest] == list(reversed(ids[:4])) and end is None
    assert set(first[0]) == {"id", "name", "title", "content", "created_at"}
    await transitions.reopen(redis, keys, scripts, ids[3], "boss")
    again, _ = await reading.list_approved(redis, keys, "art-9", 10, None)
    assert [i["id"] for i in again] == list(reversed(ids[:3]))


async def test_enqueue_idempotency_key_is_kept_in_the_comments_partition(redis: Redis) -> None:
    """The idempotency record lives in the comment's partition (the caller draws the id into the
    partition of the submission's captcha); the same key again answers the first id, once."""
    keys, scripts = Keys(partitions=8), Scripts(redis)
    first = make_comment(id=comment_ids.new_comment_id(keys, 5))
    second = make_comment(id=comment_ids.new_comment_id(keys, 5))
    cid, created = await intake.enqueue(redis, keys, scripts, first, "idem-xyz")
    again, created_again = await intake.enqueue(redis, keys, scripts, second, "idem-xyz")
    assert created and not created_again and again == cid == first.id
    assert await redis.get(keys.idempotency(5, "idem-xyz")) == cid
    assert await redis.exists(keys.comment(5, cid)) and not await redis.exists(keys.comment(5, second.id))


async def test_stats_report_depth_claims_and_decisions(make_client: MakeClient, redis: Redis) -> None:
    """GET /v1/stats counts states, claims per moderator, decisions per moderator and the score histogram."""
    client = await make_client()
    await enqueue_many(redis, K, 4, spam_probability=0.95)
    token = await token_for(redis, K, "alice")
    items = await _claim(client, token, limit=2)
    await client.post(
        f"/v1/comments/{items[0]['id']}/decision", json={"action": "approve", "version": 2}, headers=auth(token)
    )
    body = await (await client.get("/v1/stats", headers=auth(token))).json()
    assert body["depth"] == {"pending": 2, "claimed": 1, "approved": 1, "rejected": 0}
    assert body["claims_held"]["by_moderator"] == {"alice": 1}
    assert body["decisions_by_moderator"]["alice"]["last_hour"] == 1
    assert body["score_distribution"]["buckets"][9]["count"] == 2
    assert body["oldest_pending_seconds"] is not None
    metrics = await (await client.get("/metrics")).text()
    assert 'duyet_queue_depth{state="pending"} 2.0' in metrics
    assert 'duyet_decisions_total{action="approve",reason=""} 1.0' in metrics


async def test_events_stream_queue_changes(make_client: MakeClient, redis: Redis) -> None:
    """GET /v1/events streams a 'submitted' event when a comment is queued (no personal data in it)."""
    client = await make_client()
    token = await token_for(redis, K, "alice")
    resp = await client.get("/v1/events", headers=auth(token))
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    await resp.content.readuntil(b"retry: 3000\n\n")
    cid, _ = await intake.enqueue(redis, K, Scripts(redis), make_comment())
    text = ""
    while not text.startswith("event:"):  # skip comment lines (keep-alives)
        text = (await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)).decode()
    assert text.startswith("event: submitted\n") and cid in text and "+849" not in text and "203.0.113" not in text
    resp.close()


async def test_shutdown_ends_open_event_streams(make_client: MakeClient, redis: Redis) -> None:
    """Stopping the app ends a moderator's open event stream instead of waiting on it."""
    from service.http import appkeys

    client = await make_client()
    token = await token_for(redis, K, "alice")
    resp = await client.get("/v1/events", headers=auth(token))
    await resp.content.readuntil(b"retry: 3000\n\n")
    streams = client.app[appkeys.EVENT_STREAMS]  # type: ignore[index]
    assert len(streams) == 1
    await asyncio.wait_for(client.close(), 60)  # a bound so a regression fails, not hangs
    assert not streams


async def test_bans_block_submissions_checks(make_client: MakeClient, redis: Redis) -> None:
    """Admins ban a client network or a comment's phone; bans.check then refuses them; moderators get 403."""
    from service import errors
    from service.http import appkeys
    from service.review import bans

    client = await make_client()
    (cid,) = await enqueue_many(redis, K, 1)
    mod, admin = await token_for(redis, K, "alice"), await token_for(redis, K, "boss", Role.ADMIN)
    body = {"kind": "client", "value": "198.51.100.0/24", "ttl_seconds": 60}
    assert (await client.post("/v1/bans", json=body, headers=auth(mod))).status == 403
    assert (await client.post("/v1/bans", json=body, headers=auth(admin))).status == 201
    by_comment = {"kind": "phone", "comment_id": cid, "ttl_seconds": 60, "reason": "spam"}
    created = await (await client.post("/v1/bans", json=by_comment, headers=auth(admin))).json()
    assert "+84" not in json.dumps(created)
    bad = {"kind": "client", "value": "198.51.0.0/16", "ttl_seconds": 60}
    assert (await client.post("/v1/bans", json=bad, headers=auth(admin))).status == 400
    listed = (await (await client.get("/v1/bans", headers=auth(admin))).json())["items"]
    assert {b["kind"] for b in listed} == {"client", "phone"}
    secret = client.app[appkeys.SETTINGS].secret_bytes  # type: ignore[index]
    with pytest.raises(errors.Forbidden):
        await bans.check(redis, K, secret, "198.51.100.77", None)
    with pytest.raises(errors.Forbidden):
        await bans.check(redis, K, secret, "192.0.2.1", "+84912345678")
    await bans.check(redis, K, secret, "192.0.2.1", "+84900000000")
    await bans.check(redis, K, secret, "2001:db8::1", None)
    lifted = await client.delete("/v1/bans/client/198.51.100.0/24", headers=auth(admin))
    assert lifted.status == 200
    await bans.check(redis, K, secret, "198.51.100.77", None)
