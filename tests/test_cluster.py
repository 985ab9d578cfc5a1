"""duyet on a Redis Cluster (tests/topology.py: 3 primaries + 3 replicas): hot keys spread over the
shards, claims draw from every partition, events and promotions travel by sharded pub/sub, and a
replica that missed a promotion catches up when it reconnects."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import RedisCluster

from service.http import appkeys
from service.review import comment_ids, intake, transitions
from service.settings import CLUSTER_PARTITIONS, load
from service.spam import registry
from service.store.channels import ShardSubscription
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests import topology
from tests.clients import MakeClient
from tests.conftest import TEST_SECRET
from tests.model_helpers import tiny_models
from tests.queue_helpers import make_comment
from tests.submission_helpers import CODE

SECRET = TEST_SECRET.encode()


@pytest.fixture
async def cluster_redis(cluster: topology.Cluster) -> AsyncIterator[Any]:
    """A cluster client on an empty cluster."""
    topology.flush(cluster)
    client = RedisCluster.from_url(cluster.url, decode_responses=True)
    await client.initialize()
    yield client
    await client.aclose()


def on(cluster: topology.Cluster, **overrides: Any) -> dict[str, Any]:
    return {"redis_url": cluster.url, "redis_cluster": True, **overrides}


async def fill(redis: Any, keys: Keys, per_partition: int) -> dict[str, int]:
    """`per_partition` pending comments in every partition; comment id -> partition."""
    where = {}
    s = Scripts(redis)
    for p in range(keys.partitions):
        for _ in range(per_partition):
            cid, _ = await intake.enqueue(redis, keys, s, make_comment(id=comment_ids.new_comment_id(keys, p)))
            where[cid] = p
    return where


def test_a_cluster_gets_sixteen_partitions_unless_told(cluster: topology.Cluster) -> None:
    """DUYET_REDIS_CLUSTER alone gives 16 partitions (1 would put the whole queue on one shard); an
    explicit DUYET_PARTITIONS wins, and a single server keeps 1."""
    assert load({"DUYET_REDIS_CLUSTER": "true"}).partitions == CLUSTER_PARTITIONS == 16
    assert load({"DUYET_REDIS_CLUSTER": "true", "DUYET_PARTITIONS": "3"}).partitions == 3
    assert load({}).partitions == 1


async def test_partitions_and_captcha_pools_spread_over_every_shard(
    cluster: topology.Cluster, cluster_redis: Any, make_client: MakeClient
) -> None:
    """The 16 partitions' queues and captcha pools live on all three shards, and a pool being
    filled puts captchas on every shard (not one `{cappool}` slot)."""
    keys = Keys(partitions=CLUSTER_PARTITIONS)
    owners = Counter(cluster_redis.get_node_from_key(keys.pending(p)).name for p in range(keys.partitions))
    assert len(owners) == 3 and min(owners.values()) >= 3, owners
    client = await make_client(
        **on(cluster, captcha_pool_target=48, captcha_test_code=CODE, captcha_render_workers=2, captcha_issue_limit=0)
    )
    captchas = client.app[appkeys.CAPTCHAS]  # type: ignore[index]
    deadline = asyncio.get_running_loop().time() + 30
    while await captchas.pool_size() < 48:
        assert asyncio.get_running_loop().time() < deadline, "pool never filled"
        await asyncio.sleep(0.05)
    per_node: Counter[str] = Counter()
    async for key in cluster_redis.scan_iter(match="*:cappool:*"):
        per_node[cluster_redis.get_node_from_key(key).name] += await cluster_redis.llen(key)
    assert len(per_node) == 3 and sum(per_node.values()) >= 48, per_node
    # Issued from the pool (takes from several partitions) and verified: each one once.
    ids = []
    for _ in range(40):
        resp = await client.post("/v1/captchas", json={})
        assert resp.status == 201
        ids.append((await resp.json())["id"])
    assert [await captchas.verify(i, CODE, None) for i in ids] == ["ok"] * 40
    assert 'duyet_captchas_issued_total{source="pool"} 40.0' in await (await client.get("/metrics")).text()


async def test_claims_draw_fairly_from_every_partition(cluster_redis: Any) -> None:
    """Claims start at a random partition: 192 claims of one comment over 16 partitions take from
    every partition, none more than three times its share."""
    keys = Keys(partitions=CLUSTER_PARTITIONS)
    where = await fill(cluster_redis, keys, 14)
    s = Scripts(cluster_redis)
    drawn: Counter[int] = Counter()
    for i in range(192):
        claimed, _ = await transitions.claim(cluster_redis, keys, s, f"mod{i % 7}", 1, 60_000)
        drawn[where[claimed[0].id]] += 1
    assert set(drawn) == set(range(keys.partitions)), drawn
    assert max(drawn.values()) <= 3 * 192 // keys.partitions, drawn


async def test_queue_events_of_every_shard_reach_one_subscriber(cluster_redis: Any) -> None:
    """Each partition's script SPUBLISHes on its own shard channel; a subscriber to all of them
    (one connection per shard) hears every partition's submission."""
    keys = Keys(partitions=CLUSTER_PARTITIONS)
    async with ShardSubscription(cluster_redis, keys.events_channels()) as subscription:
        where = await fill(cluster_redis, keys, 1)
        heard = set()
        deadline = asyncio.get_running_loop().time() + 5
        while len(heard) < len(where) and asyncio.get_running_loop().time() < deadline:
            message = await subscription.get(0.5)
            if message is not None:
                heard.add(json.loads(message)["id"])
    assert heard == set(where)


async def test_a_replica_that_missed_a_promotion_catches_up_on_reconnect(
    cluster: topology.Cluster, cluster_redis: Any, make_client: MakeClient
) -> None:
    """The model follower's connection is cut; a promotion announced while nobody listens (no
    subscriber when it is published) still reaches the replica, well before the 30 s re-sync: it
    re-reads `model_current` when it subscribes again."""
    a, b = tiny_models()
    client = await make_client(**on(cluster, model_path=a))
    scorer = client.app[appkeys.SCORER]  # type: ignore[index]
    keys: Keys = client.app[appkeys.KEYS]  # type: ignore[index]
    redis = client.app[appkeys.REDIS]  # type: ignore[index]
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    assert scorer.version != vb
    node = cluster_redis.get_node_from_key(keys.model_channel())
    deadline = asyncio.get_running_loop().time() + 5
    while not (await cluster_redis.pubsub_shardnumsub(keys.model_channel(), target_nodes=node))[0][1]:
        assert asyncio.get_running_loop().time() < deadline, "the follower never subscribed"
        await asyncio.sleep(0.05)
    await cluster_redis.client_kill_filter(_type="pubsub", target_nodes=node)
    assert (await cluster_redis.pubsub_shardnumsub(keys.model_channel(), target_nodes=node))[0][1] == 0
    await registry.promote(redis, keys, vb, "boss", secret=SECRET)  # announced to nobody
    deadline = asyncio.get_running_loop().time() + 10
    while scorer.version != vb:
        assert asyncio.get_running_loop().time() < deadline, "the replica never caught up"
        await asyncio.sleep(0.05)
