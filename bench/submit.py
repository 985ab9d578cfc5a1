"""Comment submission, end to end: captcha issue + POST /v1/comments, per second and p50/p99.

    .venv/bin/python bench/submit.py [--count 1000] [--concurrency 16]

Starts its own embedded Valkey (AOF, `appendfsync always`: the service's default) and a real
`duyet serve` process in captcha test mode with the submission rate limits off, then runs
`count` submissions over `concurrency` keep-alive connections from this process (aiohttp): each
one issues a captcha (POST /v1/captchas) and submits a comment with it (JSON), as a reader's
browser does. Every submission runs the whole path: validation and normalisation, captcha
verification, bans, rate-limit counters, repeat lookup, the shipped spam model, and the atomic
store + enqueue script. Prints a Markdown table for BENCHMARKS.md. Targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script: import `service` from the checkout.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))  # after bench/ itself (served.py)

import aiohttp
from served import Server

from service.store import embedded

CODE = "BENCH"
WORDS = (
    "dự án cầu mới rất cần thiết cho người dân quận Long Biên giao thông giờ cao điểm ùn tắc "
    "thành phố nên công khai tiến độ và chi phí để người dân cùng giám sát tôi đồng ý với tác giả"
).split()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def comment(captcha_id: str, i: int) -> dict[str, str]:
    rng = secrets.SystemRandom()
    return {
        "article_id": f"bench/{i % 50}",
        "name": rng.choice(["Nguyễn Văn An", "Trần Thị Bích", "Lê Hoàng", "Phạm Minh Tuấn"]),
        "phone": rng.choice(["", "0912 345 678"]),
        "title": " ".join(rng.choices(WORDS, k=5)),
        "content": " ".join(rng.choices(WORDS, k=rng.randint(10, 80))) + f" ({i})",
        "captcha_id": captcha_id,
        "captcha_answer": CODE,
    }


async def run(url: str, session: aiohttp.ClientSession, count: int, concurrency: int) -> dict[str, Any]:
    """`count` submissions over `concurrency` workers; latencies of the whole pair and of the POST alone."""
    end_to_end: list[float] = []
    posts: list[float] = []
    statuses: dict[int, int] = {}
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < count:
            i = next_i
            next_i += 1
            started = time.perf_counter()
            async with session.post(url + "/v1/captchas", json={"article_id": f"bench/{i % 50}"}) as resp:
                captcha_id = (await resp.json())["id"]
            posted = time.perf_counter()
            async with session.post(url + "/v1/comments", json=comment(captcha_id, i)) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            done = time.perf_counter()
            posts.append(done - posted)
            end_to_end.append(done - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {"wall": wall, "end_to_end": end_to_end, "posts": posts, "statuses": statuses}


async def main_async(count: int, concurrency: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="dy-b"))
    valkey = embedded.start(data_dir / "store")
    server = Server(
        embedded.url_for(data_dir / "store"),
        data_dir / "svc",
        {
            "DUYET_CAPTCHA_TEST_CODE": CODE,
            "DUYET_CAPTCHA_ISSUE_LIMIT": "0",
            "DUYET_SUBMIT_LIMIT_CLIENT": "0",
            "DUYET_SUBMIT_LIMIT_ARTICLE": "0",
        },
    )
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await server.wait_ready(session)
            await run(server.url, session, min(50, count), concurrency)  # warm-up, not counted
            result = await run(server.url, session, count, concurrency)
    finally:
        server.stop()
        valkey.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    ok = result["statuses"].get(202, 0)
    e2e, posts = result["end_to_end"], result["posts"]
    print(f"\n{count} submissions, {concurrency} connections, one service process, statuses {result['statuses']}\n")
    print("| what | result |\n|---|---|")
    print(f"| end-to-end submissions per second (captcha issue + POST /v1/comments) | {ok / result['wall']:.0f}/s |")
    print(f"| end-to-end latency p50 / p99 | {pct(e2e, 0.5) * 1000:.1f} ms / {pct(e2e, 0.99) * 1000:.1f} ms |")
    print(f"| POST /v1/comments alone p50 / p99 | {pct(posts, 0.5) * 1000:.1f} ms / {pct(posts, 0.99) * 1000:.1f} ms |")
    print(f"| POST /v1/comments mean | {statistics.mean(posts) * 1000:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main_async(args.count, args.concurrency))


if __name__ == "__main__":
    main()
