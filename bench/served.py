"""A real `duyet serve` subprocess on a free local port, for the HTTP benchmarks."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
# The servers' secret: a bench that pre-issues captchas (test mode) seals them with it.
SECRET = "bench-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`duyet serve` against `redis_url`, with `env` (DUYET_* variables) on top of the bench defaults;
    `cpus` (taskset's list, e.g. "0") pins it and every process it starts to those cores; `root`
    is the checkout whose service runs (another one, to compare two versions side by side)."""

    def __init__(
        self, redis_url: str, data_dir: Path, env: dict[str, str], cpus: str | None = None, root: Path = ROOT
    ) -> None:
        self.port = free_port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("DUYET_")}
        full.update(
            {
                "REDIS_URL": redis_url,
                "DUYET_PORT": str(self.port),
                "DUYET_DATA_DIR": str(data_dir),
                "DUYET_SECRET_KEY": SECRET,
                "DUYET_LOG_LEVEL": "WARNING",
                **env,
            }
        )
        pin = ["taskset", "-c", cpus] if cpus else []  # taskset execs the server: the pid is the server's
        self.proc = subprocess.Popen(
            [
                *pin,
                sys.executable,
                "-c",
                "import sys; from service.commands.main import main; sys.exit(main(['serve']))",
            ],
            cwd=root,  # `-c` puts the working directory first on sys.path: that checkout's `service`
            env=full,
            stdout=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, session: aiohttp.ClientSession, path: str = "/readyz", within_s: float = 120) -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                async with session.get(self.url + path) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"server did not answer {path}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
