"""Queue statistics count what stands: an undone decision is not a decision."""

from __future__ import annotations

from redis.asyncio import Redis

from service.review import moderators
from service.store.keys import Keys
from tests.clients import MakeClient
from tests.queue_helpers import auth, enqueue_many, token_for

K = Keys()


async def test_an_undone_decision_leaves_the_stats(make_client: MakeClient, redis: Redis) -> None:
    """Approve two comments, undo one (reopen): /v1/stats counts one decision, and a comment
    decided again after its undo counts once."""
    client = await make_client()
    await enqueue_many(redis, K, 2)
    token = await token_for(redis, K, "alice", moderators.Role.ADMIN)
    claimed = await client.post("/v1/queue/claim", json={"limit": 2}, headers=auth(token))
    items = (await claimed.json())["items"]
    for item in items:
        resp = await client.post(
            f"/v1/comments/{item['id']}/decision", json={"action": "approve", "version": 2}, headers=auth(token)
        )
        assert resp.status == 200, await resp.text()
    undone = await client.post(f"/v1/comments/{items[0]['id']}/reopen", json={"version": 3}, headers=auth(token))
    assert undone.status == 200, await undone.text()

    body = await (await client.get("/v1/stats", headers=auth(token))).json()
    assert body["decisions_by_moderator"]["alice"] == {"last_hour": 1, "last_24h": 1}

    again = await client.post("/v1/queue/claim", json={"limit": 1}, headers=auth(token))
    (item,) = (await again.json())["items"]
    assert item["id"] == items[0]["id"]
    resp = await client.post(
        f"/v1/comments/{item['id']}/decision",
        json={"action": "reject", "reason": "spam", "version": item["version"]},
        headers=auth(token),
    )
    assert resp.status == 200, await resp.text()
    body = await (await client.get("/v1/stats", headers=auth(token))).json()
    assert body["decisions_by_moderator"]["alice"] == {"last_hour": 2, "last_24h": 2}
