"""The embedded Valkey server: persistence across restarts, even after a kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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
    with embedded.running(data_dir) as store:
        url = store.url
        redis.Redis.from_url(url).set("shared", "1")
        with embedded.running(data_dir) as attached:
            assert attached.url == url and store.owned and not attached.owned
            assert redis.Redis.from_url(attached.url).get("shared") == b"1"
        # the inner context did not stop the outer server
        assert redis.Redis.from_url(url).ping()


def test_long_data_dirs_get_a_short_socket(tmp_path: Path) -> None:
    """Deep data directories still get a socket path the kernel accepts."""
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    assert len(str(embedded.socket_path(deep))) <= 100


def _orphan(data_dir: Path) -> int:
    """A server left running by an owner killed with -9: start one from another process, kill it."""
    code = (
        "import sys, time; from pathlib import Path; from service.store import embedded; "
        "cm = embedded.running(Path(sys.argv[1])); store = cm.__enter__(); "
        "import redis; redis.Redis.from_url(store.url).set('before', 'kill'); print('up', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(data_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    proc.kill()
    proc.wait()
    pid = embedded.server_pid(data_dir)
    assert pid is not None and embedded._answers(embedded.socket_path(data_dir))  # orphaned, still serving
    return pid


def test_a_server_left_by_a_killed_owner_is_adopted_and_stopped(data_dir: Path) -> None:
    """After kill -9 of its owner, the next owner shuts the orphan down cleanly, restarts it with
    every write, and a graceful stop then leaves no server running."""
    orphan = _orphan(data_dir)
    with embedded.running(data_dir) as store:
        assert store.owned
        assert embedded.server_pid(data_dir) not in (None, orphan)
        assert redis.Redis.from_url(store.url, decode_responses=True).get("before") == "kill"
    assert embedded.server_pid(data_dir) is None
    assert not embedded._answers(embedded.socket_path(data_dir))
    assert not _running(orphan)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's new parent may reap it late, or never, in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_dead_server_is_restarted_by_its_owner(data_dir: Path) -> None:
    """kill -9 of the owned server: the owner restarts it within seconds, with every acknowledged write."""
    with embedded.running(data_dir) as store:
        client = redis.Redis.from_url(store.url, decode_responses=True)
        for i in range(200):
            client.rpush("acked", i)
        first = embedded.server_pid(data_dir)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pid = embedded.server_pid(data_dir)
            if store.restarts == 1 and pid not in (None, first) and embedded._answers(embedded.socket_path(data_dir)):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the embedded server was not restarted within 5 s")
        assert redis.Redis.from_url(store.url, decode_responses=True).llen("acked") == 200
    assert embedded.server_pid(data_dir) is None
