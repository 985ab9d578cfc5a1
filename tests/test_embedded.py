"""The embedded Valkey server: persistence across restarts, even after a kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from service.store import embedded


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dy-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_data_survives_a_restart(data_dir: Path) -> None:
    """What was written before a stop is there after the next start on the same data dir."""
    server = embedded.start(data_dir)
    client = redis.Redis.from_url(embedded.url_for(data_dir))
    client.set("k", "v")
    client.close()
    server.stop()
    server = embedded.start(data_dir)
    try:
        client = redis.Redis.from_url(embedded.url_for(data_dir), decode_responses=True)
        assert client.get("k") == "v"
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.close()
    finally:
        server.stop()


def test_acknowledged_writes_survive_kill_9(data_dir: Path) -> None:
    """With appendfsync always, every acknowledged write survives the server being killed."""
    server = embedded.start(data_dir)
    client = redis.Redis.from_url(embedded.url_for(data_dir))
    for i in range(300):
        client.rpush("acked", i)
    client.close()
    os.kill(server._process.pid, signal.SIGKILL)  # type: ignore[union-attr]
    server._process.wait()  # type: ignore[union-attr]
    server2 = embedded.start(data_dir)
    try:
        client = redis.Redis.from_url(embedded.url_for(data_dir))
        assert client.llen("acked") == 300
        client.close()
    finally:
        server2.stop()


def test_running_attaches_to_a_live_server(data_dir: Path) -> None:
    """A second command on the same data dir attaches instead of starting a second server."""
    with embedded.running(data_dir) as url:
        redis.Redis.from_url(url).set("shared", "1")
        with embedded.running(data_dir) as url2:
            assert url2 == url
            assert redis.Redis.from_url(url2).get("shared") == b"1"
        # the inner context did not stop the outer server
        assert redis.Redis.from_url(url).ping()


def test_long_data_dirs_get_a_short_socket(tmp_path: Path) -> None:
    """Deep data directories still get a socket path the kernel accepts."""
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    assert len(str(embedded.socket_path(deep))) <= 100
