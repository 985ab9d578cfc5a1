"""`duyet serve` as a user runs it: embedded store, URLs printed, clean Ctrl-C, several workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.store import embedded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(url: str, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return get_json(url)[1]
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dy-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def serve(args: list[str], data_dir: Path, **env: str) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    full_env.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "service.commands.main", "serve", "--data-dir", str(data_dir), *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )


def test_ctrl_c_in_a_terminal_prints_no_tracebacks(data_dir: Path) -> None:
    """A terminal sends Ctrl-C to the whole process group (the service and its worker processes):
    the service stops cleanly and nobody prints a KeyboardInterrupt traceback."""
    port = free_port()
    proc = serve(["--port", str(port)], data_dir, DUYET_SPAM_SCORE_PROCESS="true")
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        time.sleep(1.0)  # the captcha render workers and the scoring process are up
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode in (0, 130, -signal.SIGINT), out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert not embedded._answers(embedded.socket_path(data_dir))


def test_serve_with_embedded_store_and_clean_ctrl_c(data_dir: Path) -> None:
    """The default start-up runs its own Valkey, prints the URLs, and Ctrl-C leaves no server behind."""
    port = free_port()
    proc = serve(["--port", str(port)], data_dir)
    try:
        health = wait_for(f"http://127.0.0.1:{port}/healthz")
        assert health["status"] == "ok"
        assert health["event_loop"] == "uvloop"  # the default (settings.event_loop)
        _status, ready = get_json(f"http://127.0.0.1:{port}/readyz")
        assert ready["checks"]["redis"] == "ok"  # type: ignore[index]
        sock = embedded.socket_path(data_dir)
        assert sock.exists()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 130, -signal.SIGINT), out
    assert f"http://127.0.0.1:{port}/moderate" in out
    assert (data_dir / "valkey" / "appendonlydir").is_dir()
    # No orphan: nothing answers on the socket any more.
    assert not embedded._answers(sock)


def test_two_workers_share_one_port(data_dir: Path) -> None:
    """--workers 2 runs two processes on one port; both answer (here on asyncio's own event loop)."""
    port = free_port()
    proc = serve(["--port", str(port), "--workers", "2"], data_dir, DUYET_EVENT_LOOP="asyncio")
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz")["event_loop"] == "asyncio"
        pids = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            # New connection each time; the kernel spreads them over the listeners.
            pids.add(get_json(f"http://127.0.0.1:{port}/healthz")[1]["pid"])
        assert len(pids) == 2
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert not embedded._answers(embedded.socket_path(data_dir))
