"""Every Lua script keeps to one hash slot at every call site, so it runs on Redis Cluster.

The scripts are enumerated from the modules that hold them (service.store.scripts and
service.store.queue_scripts: every string constant that calls Redis), and `Scripts` must register
each one. The call sites are not listed by hand: the real app and the domain functions run a
submission's and a moderator's whole journey (captcha pool, audio, submission, claim, renew,
release, decide, reopen, lease expiry, retention, the retraining lock) with several partitions
while MONITOR records what the server receives; every EVALSHA's keys must share one slot, and every
script must have been run. With DUYET_TEST_CLUSTER=1 the same journey runs on the local cluster
(MONITOR on every primary): there a cross-slot script is refused outright.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot

from service.captcha.captchas import Captchas
from service.http import appkeys
from service.review import retention, transitions
from service.review.states import Action
from service.store import queue_scripts, scripts
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests import topology
from tests.clients import MakeClient
from tests.submission_helpers import CODE, comment

END = "script-slots-test-end"


def script_constants() -> dict[str, str]:
    """Every Lua script of the store modules, by sha1 -> constant name."""
    found = {}
    for module in (scripts, queue_scripts):
        for name, value in vars(module).items():
            # Upper-case names starting with a letter: whole scripts (`_QUEUE_LIB` and the like are fragments).
            if name.isupper() and name[0].isalpha() and isinstance(value, str) and "redis.call" in value:
                found[hashlib.sha1(value.encode()).hexdigest()] = f"{module.__name__}.{name}"
    return found


def test_scripts_registers_every_script_of_the_store_modules() -> None:
    """A script constant nobody registers would escape the slot check below: there is none."""
    registered = {
        hashlib.sha1(value.script.encode() if isinstance(value.script, str) else value.script).hexdigest()
        for value in vars(Scripts(Redis())).values()
        if hasattr(value, "sha") and hasattr(value, "script")
    }
    constants = script_constants()
    assert len(constants) >= 15
    assert set(constants) <= registered, sorted(constants[sha] for sha in set(constants) - registered)


def evalsha_keys(command: str) -> tuple[str, list[str]] | None:
    """(sha, keys) of a MONITOR line's EVALSHA/EVALSHA_RO (keys never contain spaces)."""
    parts = command.split(" ")
    if parts[0].upper() not in ("EVALSHA", "EVALSHA_RO"):
        return None
    numkeys = int(parts[2])
    return parts[1].lower(), parts[3 : 3 + numkeys]


async def record(monitor_url: tuple[str, int] | str, seen: list[str], ready: asyncio.Event) -> None:
    """Every command one server receives until the END marker, appended to `seen`."""
    if isinstance(monitor_url, str):
        client = Redis.from_url(monitor_url.split("?", 1)[0], decode_responses=True)
    else:
        client = Redis(host=monitor_url[0], port=monitor_url[1], decode_responses=True)
    try:
        async with client.monitor() as monitor:
            ready.set()
            while True:
                line = (await monitor.next_command())["command"]
                if line == f"ECHO {END}":
                    return
                seen.append(line)
    finally:
        await client.aclose()


def monitored_servers(redis_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    if topology.CLUSTER_MODE:
        cluster: topology.Cluster = request.getfixturevalue("cluster")
        for node in cluster.primary_nodes():
            yield ("127.0.0.1", node.port)
    else:
        yield redis_url


async def journey(client: Any) -> None:
    """A reader's and the moderators' whole journey through every script (the real app, 4 partitions)."""
    app = client.app
    redis: Redis = app[appkeys.REDIS]
    keys: Keys = app[appkeys.KEYS]
    s: Scripts = app[appkeys.SCRIPTS]
    captchas: Captchas = app[appkeys.CAPTCHAS]
    deadline = time.monotonic() + 30
    while await captchas.pool_size() < 8:  # pooled: CAPTCHA_STORE and CAPTCHA_POOL_TRIM
        assert time.monotonic() < deadline, "pool never filled"
        await asyncio.sleep(0.05)
    ids = []
    for _ in range(6):  # a take (CAPTCHA_POOL_TAKE), a submission (CAPTCHA_CHECK, enqueue, rate limits)
        resp = await client.post("/v1/captchas", json={"article_id": "bai-viet-1"})
        captcha_id = (await resp.json())["id"]
        resp = await client.post("/v1/comments", json=comment(captcha_id, article_id="bai-viet-1"))
        assert resp.status == 202, await resp.text()
        ids.append((await resp.json())["id"])
    resp = await client.post("/v1/captchas", json={"article_id": "bai-viet-1"})
    captcha_id = (await resp.json())["id"]
    assert (await client.get(f"/v1/captchas/{captcha_id}/audio?lang=vi")).status == 200  # CAPTCHA_CACHE
    assert await captchas.verify(captcha_id, CODE, "bai-viet-1") == "ok"  # CAPTCHA_CONSUME
    claimed, _ = await transitions.claim(redis, keys, s, "mod1", 6, 60_000)
    assert len(claimed) == 6
    first, second, third = claimed[0], claimed[1], claimed[2]
    await transitions.renew(redis, keys, s, first.id, "mod1", 60_000)
    await transitions.release(redis, keys, s, second.id, "mod1")
    await transitions.decide(redis, keys, s, first.id, "mod1", first.version, Action.APPROVE)
    await transitions.reopen(redis, keys, s, first.id, "admin")
    await transitions.claim(redis, keys, s, "mod2", 1, 1)  # a lease that ends at once
    await asyncio.sleep(0.01)
    await transitions.expire_leases(redis, keys, s)
    await transitions.decide(redis, keys, s, third.id, "mod1", third.version, Action.APPROVE)
    future = int(time.time() * 1000) + 86_400_000
    await retention.run(redis, keys, s, 0, now_ms=future)  # QUEUE_ERASE_PII, QUEUE_ERASE_OPEN_PII
    token = "slots-test"
    await redis.set(keys.retrain_lock(), token)
    assert await s.lock_release(redis, keys.retrain_lock(), token)  # LOCK_RELEASE, as learning.schedule
    assert ids


async def test_every_script_call_keeps_its_keys_in_one_slot(
    make_client: MakeClient, redis: Redis, redis_url: str, request: pytest.FixtureRequest
) -> None:
    """Through the real app and domain, every EVALSHA names keys of one slot, and every script runs."""
    client = await make_client(partitions=4, captcha_pool_target=8, captcha_test_code=CODE, captcha_issue_limit=0)
    servers = list(monitored_servers(redis_url, request))
    seen: list[list[str]] = [[] for _ in servers]
    readies = [asyncio.Event() for _ in servers]
    recorders = [asyncio.create_task(record(url, seen[i], readies[i])) for i, url in enumerate(servers)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 5)
    try:
        await journey(client)
    finally:
        for url in servers:
            if isinstance(url, str):
                async with Redis.from_url(url.split("?", 1)[0]) as plain:
                    await plain.echo(END)
            else:
                async with Redis(host=url[0], port=url[1]) as plain:
                    await plain.echo(END)
        await asyncio.wait_for(asyncio.gather(*recorders), 10)
    constants = script_constants()
    ran: set[str] = set()
    for line in (line for lines in seen for line in lines):
        call = evalsha_keys(line)
        if call is None:
            assert not line.upper().startswith("EVAL "), f"a script sent whole, unchecked: {line[:80]}"
            continue
        sha, call_keys = call
        slots = {key_slot(k.encode()) for k in call_keys}
        assert len(slots) <= 1, f"{constants.get(sha, sha)} called with keys in {len(slots)} slots: {call_keys}"
        ran.add(sha)
    missing = sorted(name for sha, name in constants.items() if sha not in ran)
    assert not missing, f"scripts the journey never ran (extend it): {missing}"
    if isinstance(redis, RedisCluster):
        assert len(servers) == 3  # and every call above was accepted by the shard it went to
