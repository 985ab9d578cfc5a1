"""Two duyet replicas (two real apps on their own ports) on one Redis Cluster behave as one service:
captchas, claims and promotions cross between them, and concurrent moderators split over both
decide every comment exactly once."""

from __future__ import annotations

import asyncio
import os
import random
from collections import defaultdict
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import RedisCluster

from service.http import appkeys
from service.spam import registry
from service.store.keys import Keys
from tests import topology
from tests.clients import MakeClient
from tests.conftest import TEST_SECRET
from tests.model_helpers import tiny_models
from tests.queue_helpers import auth, enqueue_many, token_for
from tests.submission_helpers import CODE, comment, new_captcha

Client = TestClient[Any, Any]
SECRET = TEST_SECRET.encode()
# As tests/test_hot_reload.py: 2 s on an idle machine, stretched by the load per core on a busy one.
REACH_S = 2.0 * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
OPEN: dict[str, Any] = {
    "captcha_test_code": CODE,
    "captcha_issue_limit": 0,
    "submit_limit_client": 0,
    "submit_limit_article": 0,
}


async def two_replicas(make_client: MakeClient, cluster: topology.Cluster, **overrides: Any) -> tuple[Client, Client]:
    """Two apps, each with its own connections and model, on the one cluster (the same secret)."""
    topology.flush(cluster)
    settings = {"redis_url": cluster.url, "redis_cluster": True, **OPEN, **overrides}
    return await make_client(**settings), await make_client(**settings)


def keys_of(client: Client) -> Keys:
    return client.app[appkeys.KEYS]  # type: ignore[index]


async def test_a_captcha_issued_by_one_replica_is_accepted_once_by_the_other(
    make_client: MakeClient, cluster: topology.Cluster
) -> None:
    """A reader's captcha from replica A is accepted with the comment posted to replica B, and
    cannot be used again through A."""
    a, b = await two_replicas(make_client, cluster)
    assert a.port != b.port
    captcha = await new_captcha(a)
    resp = await b.post("/v1/comments", json=comment(captcha))
    assert resp.status == 202, await resp.text()
    again = await a.post("/v1/comments", json=comment(captcha, content="Một ý kiến khác hẳn, gửi lại mã cũ."))
    assert again.status == 422
    assert "captcha" in await again.text()


async def test_a_claim_through_one_replica_is_respected_by_the_other(
    make_client: MakeClient, cluster: topology.Cluster
) -> None:
    """What alice claims through A, bob claiming through B never gets, and cannot decide."""
    a, b = await two_replicas(make_client, cluster)
    redis = a.app[appkeys.REDIS]  # type: ignore[index]
    keys = keys_of(a)
    ids = set(await enqueue_many(redis, keys, 10))
    alice, bob = await token_for(redis, keys, "alice"), await token_for(redis, keys, "bob")
    resp = await a.post("/v1/queue/claim", json={"limit": 6}, headers=auth(alice))
    held = (await resp.json())["items"]
    assert len(held) == 6
    resp = await b.post("/v1/queue/claim", json={"limit": 50}, headers=auth(bob))
    others = (await resp.json())["items"]
    assert {i["id"] for i in others} == ids - {i["id"] for i in held}
    item = held[0]
    resp = await b.post(
        f"/v1/comments/{item['id']}/decision", json={"action": "approve", "version": item["version"]}, headers=auth(bob)
    )
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "claimed_by_other"
    resp = await b.post(
        f"/v1/comments/{item['id']}/decision",
        json={"action": "approve", "version": item["version"]},
        headers=auth(alice),
    )
    assert resp.status == 200  # the holder may decide through either replica


async def test_a_promotion_reaches_both_replicas_within_two_seconds(
    make_client: MakeClient, cluster: topology.Cluster
) -> None:
    """A version promoted once is what both replicas score with, within REACH_S."""
    model_a, model_b = tiny_models()
    a, b = await two_replicas(make_client, cluster, model_path=model_a)
    redis, keys = a.app[appkeys.REDIS], keys_of(a)  # type: ignore[index]
    vb = (await registry.put(redis, keys, model_b, secret=SECRET))["version"]
    scorers = [c.app[appkeys.SCORER] for c in (a, b)]  # type: ignore[index]
    assert all(s.version != vb for s in scorers)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await registry.promote(redis, keys, vb, "boss", secret=SECRET)
    while not all(s.version == vb for s in scorers):
        assert loop.time() - started < REACH_S, [s.version for s in scorers]
        await asyncio.sleep(0.02)


async def test_concurrent_moderators_through_both_replicas_decide_each_comment_once(
    make_client: MakeClient, cluster: topology.Cluster
) -> None:
    """12 moderators, each on either replica, decide 400 comments in 16 partitions: every one exactly
    once, none left pending or claimed."""
    a, b = await two_replicas(make_client, cluster)
    redis: RedisCluster = a.app[appkeys.REDIS]  # type: ignore[index]
    keys = keys_of(a)
    assert keys.partitions == 16
    ids = set(await enqueue_many(redis, keys, 400))
    tokens = {f"mod{i:02d}": await token_for(redis, keys, f"mod{i:02d}") for i in range(12)}
    decided_by: dict[str, list[str]] = defaultdict(list)
    rng = random.Random(11)

    async def work(name: str, token: str, via: Client) -> None:
        while True:
            resp = await via.post("/v1/queue/claim", json={"limit": rng.randint(1, 8)}, headers=auth(token))
            assert resp.status == 200, await resp.text()
            batch = (await resp.json())["items"]
            if not batch:
                return
            for item in batch:
                body = {"action": "approve", "version": item["version"]}
                if rng.random() < 0.5:
                    body = {"action": "reject", "reason": "spam", "version": item["version"]}
                r = await via.post(f"/v1/comments/{item['id']}/decision", json=body, headers=auth(token))
                assert r.status == 200, await r.text()
                decided_by[item["id"]].append(name)

    replicas = [a, b]
    await asyncio.wait_for(
        asyncio.gather(*(work(n, t, replicas[i % 2]) for i, (n, t) in enumerate(tokens.items()))), 120
    )
    assert set(decided_by) == ids
    assert all(len(v) == 1 for v in decided_by.values())
    left = 0
    for p in range(keys.partitions):
        left += await redis.zcard(keys.pending(p)) + await redis.zcard(keys.claims(p))
    assert left == 0
