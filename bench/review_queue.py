"""Review-queue benchmark: claim + decide throughput through the HTTP API and through the store
layer, and Redis memory per queued comment (500-character content).

Runs against its own embedded Valkey (AOF, fsync always: the service's default) in a temp dir.
Usage: .venv/bin/python bench/review_queue.py [--comments 2000] [--workers 20]
"""

from __future__ import annotations

import os
import sys

# Run as a script: bench/ is not a package; import `service` from the checkout.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [os.path.dirname(_HERE)]

import argparse
import asyncio
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from service.http.app import create_app
from service.review import comment_ids, intake, moderators, states, transitions
from service.settings import load, resolve
from service.store import embedded
from service.store.keys import Keys
from service.store.scripts import Scripts

TEXT = (
    "Tôi thấy bài viết phản ánh đúng thực trạng giao thông ở Hà Nội vào giờ cao điểm. "
    "Đề nghị thành phố sớm có giải pháp mở rộng đường và tăng cường xe buýt công cộng. "
)


def comment(i: int) -> intake.NewComment:
    content = (TEXT * 4)[:500]
    return intake.NewComment(
        id=comment_ids.new_comment_id(),
        article_id=f"article-{i % 50}",
        name="Nguyễn Văn An",
        phone="+84912345678",
        title="Ý kiến về giao thông",
        content=content,
        raw={"name": "Nguyễn Văn An", "phone": "0912345678", "title": "Ý kiến về giao thông", "content": content},
        client="203.0.113.7",
        user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
        created_at_ms=int(time.time() * 1000),
        spam_probability=(i % 100) / 100,
        verdict="ham",
        reasons=[{"code": "links", "vi": "Có đường dẫn", "en": "Contains links", "terms": ["http"]}],
        model_version="2026.11.1",
        signals={"had_markup": False, "honeypot": False, "seconds_to_submit": 42.0, "repeat_count": 0},
        lang="vi",
    )


async def fill(redis: Redis, keys: Keys, n: int) -> float:
    scripts = Scripts(redis)
    started = time.perf_counter()
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with sem:
            await intake.enqueue(redis, keys, scripts, comment(i))

    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - started)


async def memory(redis: Redis, keys: Keys) -> dict[str, Any]:
    await redis.flushdb()
    base = int((await redis.info("memory"))["used_memory"])
    n = 2000
    await fill(redis, keys, n)
    total = int((await redis.info("memory"))["used_memory"]) - base
    cid = (await redis.zrange(keys.pending(0), 0, 0))[0]
    hash_bytes = int(await redis.memory_usage(keys.comment(0, cid)) or 0)
    content_bytes = len(comment(0).content.encode())
    return {"hash": hash_bytes, "per_comment_total": total / n, "content_utf8_bytes": content_bytes}


async def store_layer(redis: Redis, keys: Keys, n: int, workers: int) -> float:
    await redis.flushdb()
    await fill(redis, keys, n)
    scripts = Scripts(redis)

    async def work(name: str) -> int:
        done = 0
        while True:
            claims, _ = await transitions.claim(redis, keys, scripts, name, 1, 300_000)
            if not claims:
                return done
            c = claims[0]
            await transitions.decide(redis, keys, scripts, c.id, name, c.version, states.Action.APPROVE)
            done += 1

    started = time.perf_counter()
    total = sum(await asyncio.gather(*(work(f"m{i}") for i in range(workers))))
    assert total == n
    return n / (time.perf_counter() - started)


async def api(redis: Redis, url: str, keys: Keys, n: int, workers: int, data_dir: Path) -> float:
    await redis.flushdb()
    await fill(redis, keys, n)
    tokens = [(await moderators.add(redis, keys, f"m{i}", moderators.Role.MODERATOR))[1] for i in range(workers)]
    settings = resolve(load({}, redis_url=url, data_dir=data_dir, secret_key="b" * 40, log_level="WARNING"))
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def work(token: str) -> int:
                h = {"Authorization": f"Bearer {token}"}
                done = 0
                while True:
                    async with http.post(f"{base}/v1/queue/claim", json={"limit": 1}, headers=h) as r:
                        items = (await r.json())["items"]
                    if not items:
                        return done
                    item = items[0]
                    body = {"action": "approve", "version": item["version"]}
                    async with http.post(f"{base}/v1/comments/{item['id']}/decision", json=body, headers=h) as r:
                        assert r.status == 200, await r.text()
                    done += 1

            started = time.perf_counter()
            total = sum(await asyncio.gather(*(work(t) for t in tokens)))
            assert total == n
            return n / (time.perf_counter() - started)
    finally:
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comments", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=20)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="dy-"))
    server = embedded.start(data_dir)
    url = embedded.url_for(data_dir)
    redis = Redis.from_url(url, decode_responses=True)
    keys = Keys()
    try:
        mem = await memory(redis, keys)
        direct = await store_layer(redis, keys, args.comments, args.workers)
        http = await api(redis, url, keys, args.comments, args.workers, data_dir / "app")
    finally:
        await redis.aclose()
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"comments={args.comments} moderators={args.workers} (embedded Valkey, AOF fsync always, one partition)")
    print(f"store layer: {direct:,.0f} claim+decide pairs/s")
    print(f"HTTP API:    {http:,.0f} claim+decide pairs/s (2 requests each)")
    print(
        f"memory: comment hash {mem['hash']} B (MEMORY USAGE; content {mem['content_utf8_bytes']} B UTF-8); "
        f"all structures per queued comment {mem['per_comment_total']:,.0f} B (used_memory delta / 2000)"
    )


if __name__ == "__main__":
    asyncio.run(main())
