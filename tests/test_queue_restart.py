"""The queue survives a restart of the embedded server: AOF keeps items, claims and history."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from redis.asyncio import Redis

from service.review import intake, reading, states, transitions
from service.store import embedded
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests.queue_helpers import make_comment


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="needs its own embedded server to restart, not REDIS_URL")
async def test_restart_keeps_queue_claims_and_history() -> None:
    """After stopping and restarting the embedded server, pending, claimed and decided comments are intact."""
    data_dir = Path(tempfile.mkdtemp(prefix="dy-"))
    keys = Keys(partitions=2)
    server = embedded.start(data_dir)
    try:
        redis = Redis.from_url(embedded.url_for(data_dir), decode_responses=True)
        scripts = Scripts(redis)
        ids = [(await intake.enqueue(redis, keys, scripts, make_comment()))[0] for _ in range(30)]
        claims, _ = await transitions.claim(redis, keys, scripts, "alice", 10, 600_000)
        decided = claims[:4]
        for c in decided:
            await transitions.decide(redis, keys, scripts, c.id, "alice", c.version, states.Action.APPROVE)
        before = {cid: await reading.get(redis, keys, cid) for cid in ids}
        history_before = {cid: await reading.history(redis, keys, cid, before[cid]) for cid in ids}
        await redis.aclose()
        server.stop()

        server = embedded.start(data_dir)
        redis = Redis.from_url(embedded.url_for(data_dir), decode_responses=True)
        scripts = Scripts(redis)
        after = {cid: await reading.get(redis, keys, cid) for cid in ids}
        assert after == before
        for cid in ids:
            assert await reading.history(redis, keys, cid, after[cid]) == history_before[cid]
        held = {c.id for c in claims[4:]}
        assert {cid for cid in ids if after[cid]["state"] == "claimed"} == held
        assert sum([await redis.zcard(keys.claims(p)) for p in range(2)]) == len(held)
        assert sum([await redis.zcard(keys.pending(p)) for p in range(2)]) == 20
        # The claims still work after the restart: the holder can decide with the version it had.
        c = claims[5]
        out = await transitions.decide(
            redis, keys, scripts, c.id, "alice", c.version, states.Action.REJECT, states.RejectReason.SPAM
        )
        assert out.state is states.State.REJECTED
        await redis.aclose()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
