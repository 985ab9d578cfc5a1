"""Redis bytes (and store CPU) per comment: pending (just submitted) and approved, through the real app.

    .venv/bin/python bench/redis_bytes.py [--count 1000]

Starts its own embedded Valkey and a real `duyet serve` (captcha test mode, rate limits off),
submits `count` comments as readers do (POST /v1/captchas + POST /v1/comments, bench/submit.py's
Vietnamese comments: 10-80 words, a phone number on half of them), then approves every one through
the API (POST /v1/comments/{id}/decision). After each phase it reads `INFO memory` (`used_memory`,
the dataset as the allocator sees it) and `MEMORY USAGE` of every key, grouped by kind, and the
store's CPU time (`INFO cpu`) and commands (`INFO commandstats`) per submission and per approval:
one shard's single main thread is the ceiling those set. Prints Markdown tables for BENCHMARKS.md
and the inputs of the capacity arithmetic in docs/deploy.md. Targets 127.0.0.1 only.

Approved comments still hold their personal data here (phone, client address): retention erases
them after DUYET_RETENTION_DAYS, which makes the hash smaller; this measures the larger case.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

# Run as a script: import `service` from the checkout.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))  # after bench/ itself (served.py, submit.py)

import aiohttp
from redis.asyncio import Redis
from served import Server
from submit import CODE, comment

from service.review import moderators
from service.store import embedded
from service.store.keys import Keys

K = Keys()
# A key's kind: its name after the partition tag, without ids (`duyet:{0}:c:<id>` -> `c`).
KIND = re.compile(r"^[^:]+:(?:\{[^}]*\}:)?([a-z_]+)")


async def work(redis: Redis) -> tuple[float, int]:
    """(CPU seconds the store process used, commands it ran) so far: what one shard spends per comment."""
    cpu = await redis.info("cpu")
    stats = await redis.info("commandstats")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), sum(int(v["calls"]) for v in stats.values())


async def snapshot(redis: Redis) -> tuple[int, dict[str, tuple[int, int]]]:
    """(used_memory, {kind: (keys, MEMORY USAGE bytes)})."""
    used = int((await redis.info("memory"))["used_memory"])
    kinds: dict[str, list[int]] = {}
    keys = [k async for k in redis.scan_iter(count=1000)]
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key, samples=0)
        sizes = await pipe.execute()
    for key, size in zip(keys, sizes, strict=True):
        found = KIND.match(key)
        kind = found.group(1) if found else key
        count_bytes = kinds.setdefault(kind, [0, 0])
        count_bytes[0] += 1
        count_bytes[1] += int(size or 0)
    return used, {k: (v[0], v[1]) for k, v in kinds.items()}


async def submit_all(session: aiohttp.ClientSession, url: str, count: int, concurrency: int) -> list[dict[str, str]]:
    """Submit `count` comments; the accepted ones' ids and bodies."""
    accepted: list[dict[str, str]] = []
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < count:
            i = next_i
            next_i += 1
            async with session.post(url + "/v1/captchas", json={"article_id": f"bench/{i % 50}"}) as resp:
                captcha_id = (await resp.json())["id"]
            body = comment(captcha_id, i)
            async with session.post(url + "/v1/comments", json=body) as resp:
                if resp.status == 202:
                    accepted.append({**body, "id": (await resp.json())["id"]})

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted


async def approve_all(session: aiohttp.ClientSession, url: str, token: str, ids: list[str], concurrency: int) -> int:
    approved = 0
    queue = list(ids)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker() -> None:
        nonlocal approved
        while queue:
            cid = queue.pop()
            decision = {"action": "approve", "version": 1}
            async with session.post(f"{url}/v1/comments/{cid}/decision", json=decision, headers=headers) as resp:
                approved += resp.status == 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return approved


def rows(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], n: int) -> list[str]:
    out = []
    for kind in sorted(after, key=lambda k: -(after[k][1] - before.get(k, (0, 0))[1])):
        keys = after[kind][0] - before.get(kind, (0, 0))[0]
        grown = after[kind][1] - before.get(kind, (0, 0))[1]
        if grown > 0:
            out.append(f"| `{kind}` | {keys:+,} keys | {grown / n:,.0f} B |")
    return out


async def main_async(count: int, concurrency: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="dy-m"))
    valkey = embedded.start(data_dir / "store")
    env = {
        "DUYET_CAPTCHA_TEST_CODE": CODE,
        "DUYET_CAPTCHA_ISSUE_LIMIT": "0",
        "DUYET_SUBMIT_LIMIT_CLIENT": "0",
        "DUYET_SUBMIT_LIMIT_ARTICLE": "0",
        "DUYET_CAPTCHA_POOL_TARGET": "0",  # no pre-rendered captchas in the figures
    }
    server = Server(embedded.url_for(data_dir / "store"), data_dir / "svc", env)
    redis = Redis.from_url(embedded.url_for(data_dir / "store"), decode_responses=True)
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await server.wait_ready(session)
            await submit_all(session, server.url, 20, concurrency)  # warm-up: scripts loaded, model scored
            _mod, token = await moderators.add(redis, K, "bytes-bench", moderators.Role.MODERATOR)
            used0, kinds0 = await snapshot(redis)
            work0 = await work(redis)
            accepted = await submit_all(session, server.url, count, concurrency)
            work1 = await work(redis)
            used1, kinds1 = await snapshot(redis)
            work2 = await work(redis)
            approved = await approve_all(session, server.url, token, [a["id"] for a in accepted], concurrency)
            work3 = await work(redis)
            used2, kinds2 = await snapshot(redis)
    finally:
        await redis.aclose()
        server.stop()
        valkey.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    n = len(accepted)
    content = statistics.mean(len(a["content"].encode()) for a in accepted)
    print(f"\n{count} submitted, {n} accepted, {approved} approved; content {content:.0f} B UTF-8 on average\n")
    print("| what | bytes per comment |\n|---|---|")
    print(f"| `used_memory` growth per pending comment | {(used1 - used0) / n:,.0f} B |")
    print(f"| `used_memory` growth per approved comment (from nothing) | {(used2 - used0) / n:,.0f} B |")
    print(f"| `MEMORY USAGE`, every key, per pending comment | {_total(kinds1, kinds0) / n:,.0f} B |")
    print(f"| `MEMORY USAGE`, every key, per approved comment | {_total(kinds2, kinds0) / n:,.0f} B |")
    cpu, calls = (work1[0] - work0[0]) / n, (work1[1] - work0[1] - 2) / n  # less the INFO calls
    print(f"| store CPU per submission (captcha issue + POST /v1/comments; `INFO cpu`) | {cpu * 1e6:,.0f} µs |")
    print(f"| store commands per submission (`INFO commandstats`) | {calls:.1f} |")
    cpu, calls = (work3[0] - work2[0]) / n, (work3[1] - work2[1] - 2) / n
    print(f"| store CPU per approval (POST /v1/comments/{{id}}/decision) | {cpu * 1e6:,.0f} µs |")
    print(f"| store commands per approval | {calls:.1f} |")
    print("\nPending, by key kind (`MEMORY USAGE` growth per comment):\n\n| kind | keys | per comment |\n|---|---|---|")
    print("\n".join(rows(kinds0, kinds1, n)))
    print("\nApproved, by key kind:\n\n| kind | keys | per comment |\n|---|---|---|")
    print("\n".join(rows(kinds0, kinds2, n)))


def _total(after: dict[str, Any], before: dict[str, Any]) -> int:
    return sum(v[1] for v in after.values()) - sum(v[1] for v in before.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main_async(args.count, args.concurrency))


if __name__ == "__main__":
    main()
