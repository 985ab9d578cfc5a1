"""A store primary killed -9 under submissions, with the store's own failover doing the rest:
Sentinel (tests/sentinel_topology.py: a primary, a replica, three sentinels) or Redis Cluster
(tests/topology.py: one shard's primary of three). A real `duyet serve` process, 16 readers.

What every test checks, as the reader sees it: while there is no primary the service answers 503
with Retry-After, never 500 (the Cluster client may instead hold a request until the promoted
replica answers it); it finds the promoted replica by itself (no restart, no operator); no comment
is stored twice. And it counts acknowledged submissions found afterwards: with
`DUYET_REDIS_WAIT_REPLICAS=0` replication is asynchronous, and a comment answered 202 a moment
before the kill may not have reached the replica; with 1, a 202 means the replica had it, and
none may be lost (a comment in flight at the kill may be stored and answered 503: its outcome was
unknown when the primary died; the reader's Idempotency-Key retry answers 202 for it). The
figures go to docs/deploy.md ("Failover: measured"; `DUYET_FAULTS_REPORT=file` appends them).

With a wait, the nodes also refuse writes while they have no replica (`min-replicas-to-write 1`):
the promoted replica then answers 503 with nothing written until the old primary is back as its
replica, instead of storing comments it cannot confirm and answering 503 for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import uvloop
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import RedisError

from service import errors
from service.store import availability, durability
from service.store.keys import Keys
from tests.sentinel_topology import SentinelTopology
from tests.test_faults import (
    Audit,
    Load,
    Outcome,
    Service,
    _report,
    audit,
    preissue,
    submit,
    summary,
)
from tests.topology import SLOTS, Cluster, Node, _spawn, start_cluster

pytestmark = [pytest.mark.failover, pytest.mark.slow]

TOTAL = 2400
KILL_AT = 600  # answered submissions before the kill
# A reader waits this long after a 503 before its next comment, as the widget waits Retry-After: the
# load then lasts past the promotion (seconds) however fast the service answers 503 meanwhile.
PAUSE_ON_503 = 0.2
# On a replica that lost its primary, writes stop until it has a replica again (see the docstring).
K = Keys()
WAIT_CONFIG = {"min-replicas-to-write": "1", "min-replicas-max-lag": "2"}


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fo-"))  # short: unix socket paths stay under 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _after(outcomes: list[Outcome], moment: float) -> list[Outcome]:
    return [o for o in outcomes if o.started >= moment]


def _check_answers(outcomes: list[Outcome], killed: float, log: Path, *, a_503: bool = True) -> float:
    """Only 202 and 503 + Retry-After (with `a_503`, at least one 503 after the kill); seconds from
    the kill to the first 202 of a submission sent after it (the service back on the promoted primary)."""
    statuses = {(o.status, o.code) for o in outcomes if o.status is not None}
    assert {s for s, _ in statuses} <= {202, 503}, (summary(outcomes), _tail(log))
    assert all(o.retry_after for o in outcomes if o.status == 503)
    if a_503:
        assert any(o.status == 503 for o in _after(outcomes, killed)), ("no 503 without a primary", _tail(log))
    back = [o.ended for o in _after(outcomes, killed) if o.status == 202]
    assert back, ("no 202 after the kill: the service never found the promoted replica", summary(outcomes), _tail(log))
    return min(back) - killed


def _assert_nothing_acknowledged_lost(result: Audit, outcomes: list[Outcome], kill: tuple[float, float]) -> None:
    """Every 202 found, once, in the queue. A comment stored while its reader was told 503 may only
    be one in flight at the kill: written and copied, then the primary died before its replica's
    acknowledgement arrived, and the promoted one had no replica to confirm it within the wait (the
    widget's retry with the same Idempotency-Key then answers 202 for it). `kill` is when the kill
    was asked for and when it returned: the signal landed in between, while the load ran on."""
    assert result.lost == [], f"acknowledged but not stored: {result.lost[:10]}"
    assert result.duplicates == [] and result.not_queued == [], result
    asked, returned = kill
    in_flight = {o.token for o in outcomes if o.started < returned and o.ended >= asked}
    outside = set(result.stored_behind_an_error) - in_flight
    assert not outside, [  # when each one ran, in seconds from the kill asked for (returned at `returned`)
        (o.token, o.status, o.code, round(o.started - asked, 3), round(o.ended - asked, 3), round(returned - asked, 3))
        for o in outcomes
        if o.token in outside
    ]


def _tail(log: Path) -> str:
    """The service's last log lines: what a failed assertion shows."""
    return log.read_text(errors="replace")[-4000:] if log.exists() else ""


def _line(where: str, wait: int, load: Load, result: Audit, probe: Outcome, back_after: float, extra: str) -> str:
    return (
        f"| {where}, `DUYET_REDIS_WAIT_REPLICAS={wait}`, kill -9 at submission {KILL_AT} "
        f"| {len(load.outcomes)} sent ({summary(load.outcomes)}) "
        f"| {result.acknowledged} acknowledged, {result.found} found, {len(result.lost)} lost, "
        f"{len(result.stored_behind_an_error)} stored behind an error; probe {probe.status} in "
        f"{probe.ended - probe.started:.2f} s; first 202 {back_after:.1f} s after the kill; {extra} |"
    )


async def _probe(base: str, captcha: str) -> Outcome:
    async with aiohttp.ClientSession() as session:
        return await submit(session, base, captcha, "probe")


async def _recovered(base: str, captchas: list[str]) -> None:
    """Readers after the failover: every one answered 202, with no restart of the service."""
    later = Load(base, captchas, concurrency=4, prefix="later")
    await later.run(len(captchas))
    assert {o.status for o in later.outcomes} == {202}, summary(later.outcomes)


@pytest.mark.parametrize("wait", [0, 1])
async def test_sentinel_primary_killed_9_under_load(root: Path, wait: int) -> None:
    """kill -9 the Sentinel-managed primary at submission 600 of 2,400: 503s (never 500) until the
    sentinels promote the replica, then 202s from it without restarting the service; with a wait
    of 1 replica, every acknowledged comment is found on the promoted replica."""
    topo = SentinelTopology(root, **(WAIT_CONFIG if wait else {}))
    service = Service(root / "svc", REDIS_URL=topo.url, DUYET_REDIS_WAIT_REPLICAS=str(wait))
    service.data_dir.mkdir()
    try:
        await asyncio.to_thread(topo.start)
        await asyncio.to_thread(service.start)
        async with Redis(port=topo.primary_port(), decode_responses=True, socket_timeout=5) as primary:
            *captchas, for_probe = await preissue(primary, TOTAL + 1)
            await primary.execute_command("WAIT", 1, 5000)  # the captchas are on the replica too
        load = Load(service.base, captchas, concurrency=16, pause_on_503=PAUSE_ON_503)
        running = asyncio.create_task(load.run(TOTAL))
        await load.until(KILL_AT)
        kill_asked = time.monotonic()
        old = await asyncio.to_thread(topo.kill_primary)
        killed = time.monotonic()
        probe = await _probe(service.base, for_probe)
        new = await asyncio.to_thread(topo.wait_promoted, old)
        promoted_after = time.monotonic() - killed
        if wait:  # an operator (or systemd) brings the dead node back: it rejoins as the new replica
            await asyncio.to_thread(topo.start_node, old, new)
        await running
        # The primary the sentinels name now (they may have moved it again meanwhile, e.g. once the
        # old node rejoined): every acknowledged comment must be there.
        current = await asyncio.to_thread(topo.wait_promoted, -1)
        async with Redis(port=current, decode_responses=True, socket_timeout=5) as promoted:
            result = await audit(promoted, load.outcomes)
            later = await preissue(promoted, 40)
            await promoted.execute_command("WAIT", 1 if wait else 0, 5000)
        # The probe proves the 503 without a primary; the load's own submissions may all ride through
        # it (a write whose answer was lost is run again with the same id for up to 8 s: a 202).
        back_after = _check_answers(load.outcomes, killed, service.log, a_503=False)
        _report(_line("Sentinel", wait, load, result, probe, back_after, f"promoted after {promoted_after:.1f} s"))
        assert probe.status == 503 and probe.retry_after, (probe, _tail(service.log))
        assert probe.ended - probe.started < 1.5, probe
        await _recovered(service.base, later)
        assert result.duplicates == [] and result.not_queued == [], result
        if wait:
            _assert_nothing_acknowledged_lost(result, load.outcomes, (kill_asked, killed))
    finally:
        service.close()
        topo.close()


async def test_wait_confirms_only_what_a_replica_holds(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`durability.replicated` returns once the replica has every earlier write, whichever pooled
    connection made it, and answers 503 while the replica is stopped (a WAIT on a connection that
    wrote nothing would count a stopped replica as caught up)."""
    topo = SentinelTopology(root)
    primary, replica = topo.node_ports
    try:
        topo.start_node(primary)
        topo.start_node(replica, replica_of=primary)
        # A replica that holds the writes confirms them however slowly this machine runs (it may
        # still be loading its first copy, or catching up after SIGCONT); a stopped one fails in 1 s.
        monkeypatch.setattr(durability, "CONFIRM_WAIT_S", 10.0)
        async with Redis(port=primary, decode_responses=True, socket_timeout=2) as redis:
            await redis.set(K.comment(0, "a"), "1")
            deadline = time.monotonic() + 10
            while (await redis.info("replication")).get("slave0", {}).get("state") != "online":
                assert time.monotonic() < deadline, "the replica never connected"
                await asyncio.sleep(0.05)
            await durability.replicated(redis, K, 0, 1, 1.0)
            os.kill(topo.procs[replica].pid, signal.SIGSTOP)
            try:
                async with Redis(port=primary, socket_timeout=2) as other:  # another pooled connection
                    await other.set(K.comment(0, "b"), "1")
                monkeypatch.setattr(durability, "CONFIRM_WAIT_S", 1.0)
                started = time.monotonic()
                with pytest.raises(errors.Unavailable):
                    await durability.replicated(redis, K, 0, 1, 1.0)
                assert 0.9 < time.monotonic() - started < 3
            finally:
                os.kill(topo.procs[replica].pid, signal.SIGCONT)
            monkeypatch.setattr(durability, "CONFIRM_WAIT_S", 10.0)
            await durability.replicated(redis, K, 0, 1, 1.0)
            await durability.replicated(redis, K, 0, 0, 1.0)  # no wait asked: returns at once
    finally:
        topo.close()


@pytest.mark.parametrize("timeout", [None, 1.0])
def test_a_write_on_a_cut_connection_means_unavailable(root: Path, timeout: float | None) -> None:
    """Under uvloop (the service's loop) redis-py can write on a socket the store has just closed,
    and uvloop raises RuntimeError, not a RedisError: a 500 in the cluster failover runs. It is the
    store being unavailable (a 503); the same error raised anywhere else stays a bug."""
    topo = SentinelTopology(root)
    port = topo.node_ports[0]

    async def cut_then_write() -> BaseException | None:
        conn = Connection(port=port, socket_timeout=timeout)
        await conn.connect()
        assert conn._writer is not None
        conn._writer.transport.abort()  # the socket closed under the connection, as a failover does
        await asyncio.sleep(0.05)
        try:
            await conn.send_packed_command(conn.pack_command("PING"))
        except Exception as exc:
            return exc
        finally:
            await conn.disconnect()
        return None

    try:
        topo.start_node(port)
        raised = uvloop.run(cut_then_write())
    finally:
        topo.close()
    assert isinstance(raised, RuntimeError), raised
    assert availability.is_unavailable(raised)
    assert not availability.is_unavailable(RuntimeError("the handler is closed"))
    assert not availability.is_unavailable(AttributeError("'NoneType' object has no attribute 'writelines'"))


def _slot_shard(slot: int, primaries: int = 3) -> int:
    """The shard tests/topology.py gave `slot` to (shard i holds [i * SLOTS // n, (i + 1) * SLOTS // n))."""
    return next(i for i in range(primaries) if slot < (i + 1) * SLOTS // primaries)


def _wait_promoted(cluster: Cluster, timeout: float = 30.0) -> None:
    """Until a replica took over the dead primary's slots and every live node says the cluster is ok."""
    deadline = time.monotonic() + timeout
    while len(cluster.primary_nodes()) < cluster.primaries:
        assert time.monotonic() < deadline, f"no replica promoted within {timeout} s"
        time.sleep(0.05)
    cluster.wait_ok(max(deadline - time.monotonic(), 1.0))


def _wait_replica(node: Node, timeout: float = 30.0) -> None:
    """Until `node` is a replica whose link to its primary is up and synced."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(RedisError, OSError), node.client() as c:
            info = c.info("replication")
            if info.get("role") == "slave" and info.get("master_link_status") == "up":
                return
        time.sleep(0.1)
    raise AssertionError(f"node {node.port} did not rejoin as a replica within {timeout} s")


@pytest.mark.parametrize("wait", [0, 1])
async def test_cluster_primary_killed_9_under_load(root: Path, wait: int) -> None:
    """kill -9 the cluster primary holding the review queue's partition at submission 600 of 2,400:
    503s (never 500) until its replica takes over, then 202s without restarting the service; with a
    wait of 1 replica, every acknowledged comment is found on the promoted replica."""
    cluster = await asyncio.to_thread(start_cluster, root / "c")
    service = Service(
        root / "svc",
        REDIS_URL=cluster.url,
        DUYET_REDIS_CLUSTER="true",
        # One partition: every submission lands on the shard that is killed (the worst case), and
        # the audit (tests/test_faults.py) reads partition 0.
        DUYET_PARTITIONS="1",
        DUYET_REDIS_WAIT_REPLICAS=str(wait),
    )
    service.data_dir.mkdir()
    client: RedisCluster = RedisCluster.from_url(cluster.url, decode_responses=True, socket_timeout=5)
    try:
        if wait:
            for node in cluster.nodes:
                with node.client() as c:
                    for key, value in WAIT_CONFIG.items():
                        c.config_set(key, value)
        await asyncio.to_thread(service.start)
        tag = "duyet:{0}"  # partition 0: with one partition, every comment's slot
        shard = _slot_shard(client.keyslot(tag))
        *captchas, for_probe = await preissue(client, TOTAL + 1)  # type: ignore[arg-type]
        load = Load(service.base, captchas, concurrency=16, pause_on_503=PAUSE_ON_503)
        running = asyncio.create_task(load.run(TOTAL))
        await load.until(KILL_AT)
        kill_asked = time.monotonic()
        dead = await asyncio.to_thread(cluster.kill_primary, shard)
        killed = time.monotonic()
        probe = await _probe(service.base, for_probe)
        await asyncio.to_thread(_wait_promoted, cluster)
        promoted_after = time.monotonic() - killed
        if wait:  # the dead node comes back (its nodes.conf kept): it rejoins as the new primary's replica
            _spawn(dead)
            await asyncio.to_thread(_wait_replica, dead)
        await running
        await client.aclose()
        client = RedisCluster.from_url(cluster.url, decode_responses=True, socket_timeout=5)
        await client.initialize()
        node = client.get_node_from_key(tag)
        async with Redis(host=node.host, port=node.port, decode_responses=True, socket_timeout=5) as promoted:
            result = await audit(promoted, load.outcomes)
        # The cluster client itself re-reads the slots and retries a command after a connection error,
        # so submissions sent during the failover may all be held until the replica serves them (202).
        back_after = _check_answers(load.outcomes, killed, service.log, a_503=False)
        slowest = max(o.ended - o.started for o in _after(load.outcomes, killed))
        promoted = f"replica promoted after {promoted_after:.1f} s; slowest answer {slowest:.1f} s"
        _report(_line("Cluster", wait, load, result, probe, back_after, promoted))
        assert probe.status == 202 or (probe.status == 503 and probe.retry_after), (probe, _tail(service.log))
        assert result.duplicates == [] and result.not_queued == [], result
        await _recovered(service.base, await preissue(client, 40))  # type: ignore[arg-type]
        if wait:
            _assert_nothing_acknowledged_lost(result, load.outcomes, (kill_asked, killed))
    finally:
        await client.aclose()
        service.close()
        cluster.stop()
