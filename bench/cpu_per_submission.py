"""CPU seconds the serving process spends per submission, for this checkout or another one.

    .venv/bin/python bench/cpu_per_submission.py [--count 2000] [--limits] [--root OTHER_CHECKOUT]

CPU time per request moves much less with a noisy neighbour than requests per second do, so it
is the figure to compare code changes by: run it for two checkouts in turn (`git worktree add
/tmp/old <commit>`, then `--root /tmp/old`), alternating, three times each. Starts an embedded
Valkey (AOF, fsync always) and `duyet serve` from the chosen checkout in captcha test mode,
pre-issues captchas, then sends `count` POST /v1/comments over 16 connections and reads the
server's utime + stime from /proc before and after (the scoring process is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE.parent))

import aiohttp
from served import Server
from submit import CODE, comment

from service.store import embedded


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(count: int, limits: bool, root: Path) -> str:
    data_dir = Path(tempfile.mkdtemp(prefix="dy-c"))
    valkey = embedded.start(data_dir / "store")
    env = {"DUYET_CAPTCHA_TEST_CODE": CODE, "DUYET_CAPTCHA_ISSUE_LIMIT": "0"}
    # Limits on but never reached: their counting is part of the cost.
    limit = "1000000" if limits else "0"
    env.update({"DUYET_SUBMIT_LIMIT_CLIENT": limit, "DUYET_SUBMIT_LIMIT_ARTICLE": limit})
    server = Server(embedded.url_for(data_dir / "store"), data_dir / "svc", env, root=root)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
            await server.wait_ready(session)

            async def issue(i: int) -> str:
                async with session.post(server.url + "/v1/captchas", json={"article_id": f"bench/{i % 50}"}) as r:
                    return str((await r.json())["id"])

            ids: list[str] = []
            for start in range(0, count + 200, 100):
                ids += await asyncio.gather(*(issue(i) for i in range(start, start + 100)))
            bodies = [comment(captcha_id, i) for i, captcha_id in enumerate(ids)]
            statuses: dict[int, int] = {}

            async def post(body: dict[str, str]) -> None:
                async with session.post(server.url + "/v1/comments", json=body) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1

            await asyncio.gather(*(post(b) for b in bodies[:200]))  # warm-up, not counted
            statuses.clear()
            before, started = cpu_seconds(server.proc.pid), time.perf_counter()
            await asyncio.gather(*(post(b) for b in bodies[200 : 200 + count]))
            wall, used = time.perf_counter() - started, cpu_seconds(server.proc.pid) - before
    finally:
        server.stop()
        valkey.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return (
        f"{root}: {used / count * 1000:.2f} ms CPU per submission, {count / wall:.0f}/s, "
        f"statuses {statuses}, load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--limits", action="store_true", help="count the submission rate limits (never reached)")
    parser.add_argument("--root", type=Path, default=HERE.parent, help="the checkout whose service to run")
    args = parser.parse_args()
    print(asyncio.run(measure(args.count, args.limits, args.root.resolve())))


if __name__ == "__main__":
    main()
