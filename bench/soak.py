"""Soak: steady submissions plus moderators deciding, for minutes; memory flat beyond the data, no error.

    .venv/bin/python bench/soak.py --minutes 10          # `make soak` (the issue's 10 minutes)
    .venv/bin/python bench/soak.py                       # 1 minute, to try it (--write - to print only)

A real `duyet serve` (captcha test mode, the default rate limits on) on its own embedded Valkey
(AOF, `appendfsync always`). Readers submit `--rate` comments per second at a steady pace (an
open loop: a slow answer does not slow the readers down), each with a captcha pre-issued as the
service issues them, from its own address (X-Forwarded-For from a trusted proxy) and at most 100
per article, so no limit refuses anyone. `--moderators` moderators claim (10 at a time) and decide
(approve, or reject as spam) through the API, as fast as the queue allows.

Every 10 s: the service's RSS (the serving process and every process it started) and Redis'
used_memory. Reported: both over time, their slopes after the first minute (warm-up: the model,
pools and caches filling), Redis' growth per stored comment (decided comments are kept until
retention, so Redis grows with the data), and every error. Writes the section between
`<!-- bench:soak:start -->` and `<!-- bench:soak:end -->` of BENCHMARKS.md (`--write`) and
bench/out/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))  # after bench/ itself (compare.py, served.py)

import aiohttp
from compare import CODE, OUT, loadavg, preissue, status_kb, tree, wait_http, write_section
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from served import Server

from service.review import moderators
from service.store import embedded
from service.store.keys import Keys

MARKERS = ("<!-- bench:soak:start -->", "<!-- bench:soak:end -->")
SAMPLE_S = 10.0
WARMUP_S = 60.0
CAPTCHA_BATCH_S = 30  # captchas are pre-issued 30 s of submissions at a time (they live 300 s)
TEXT = (
    "Dự án cầu mới rất cần thiết cho người dân quận Long Biên, giờ cao điểm ùn tắc kéo dài hàng cây số. "
    "Thành phố nên công khai tiến độ và chi phí để người dân cùng giám sát."
)


@dataclass
class Soak:
    url: str
    redis_url: str
    server_pid: int
    rate: float
    submitted: dict[int, int] = field(default_factory=dict)  # status -> count (0: no answer)
    decided: dict[int, int] = field(default_factory=dict)
    claims: int = 0
    samples: list[dict[str, float]] = field(default_factory=list)
    captchas: list[str] = field(default_factory=list)
    running: bool = True
    issued: int = 0

    @property
    def accepted(self) -> int:
        return self.submitted.get(202, 0)

    def sample(self, started: float) -> None:
        pids = tree(self.server_pid)
        client = Redis.from_url(self.redis_url)
        try:
            used = int(client.info("memory")["used_memory"])  # type: ignore[index]
        finally:
            client.close()
        self.samples.append(
            {
                "t": time.monotonic() - started,
                "serving_rss_mb": status_kb(self.server_pid, "VmRSS") / 1024,
                "tree_rss_mb": sum(status_kb(p, "VmRSS") for p in pids) / 1024,
                "used_memory": used,
                "accepted": self.accepted,
                "decided": self.decided.get(200, 0),
                "load": loadavg(),
            }
        )

    def more_captchas(self, path: Path) -> None:
        n = int(self.rate * CAPTCHA_BATCH_S) + 10
        preissue(self.redis_url, path, n, f"soak{self.issued}", 1_000_000 + self.issued)
        self.captchas.extend(path.read_text().splitlines())
        self.issued += n


async def submit(soak: Soak, session: aiohttp.ClientSession, line: str, i: int) -> None:
    captcha_id, article, address = line.split("\t")
    body = {
        "article_id": article,
        "name": "Nguyễn Văn An",
        "title": "Ý kiến về dự án cầu",
        "content": f"{TEXT} (ý kiến số {i})",
        "captcha_id": captcha_id,
        "captcha_answer": CODE,
    }
    status = 0
    try:
        async with session.post(soak.url + "/v1/comments", json=body, headers={"X-Forwarded-For": address}) as resp:
            await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError):
        pass
    soak.submitted[status] = soak.submitted.get(status, 0) + 1


async def readers(soak: Soak, session: aiohttp.ClientSession, until: float, workdir: Path) -> None:
    """One submission every 1/rate s, each in its own task; captchas pre-issued ahead."""
    tasks: set[asyncio.Task[None]] = set()
    started, i = time.monotonic(), 0
    while time.monotonic() < until:
        if len(soak.captchas) - i < soak.rate * CAPTCHA_BATCH_S / 2:
            await asyncio.to_thread(soak.more_captchas, workdir / "captchas.tsv")
        task = asyncio.create_task(submit(soak, session, soak.captchas[i], i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
        await asyncio.sleep(max(0.0, started + i / soak.rate - time.monotonic()))
    await asyncio.gather(*tasks)


async def moderator(soak: Soak, session: aiohttp.ClientSession, token: str, n: int) -> None:
    """Claim 10, decide each (a third rejected as spam), until the soak ends; a failure is counted."""
    headers = {"Authorization": f"Bearer {token}"}
    while soak.running:
        try:
            async with session.post(soak.url + "/v1/queue/claim", json={"limit": 10}, headers=headers) as resp:
                items = (await resp.json())["items"] if resp.status == 200 else []
                if resp.status != 200:
                    soak.decided[resp.status] = soak.decided.get(resp.status, 0) + 1
            soak.claims += 1
            if not items:
                await asyncio.sleep(0.5)
                continue
            for j, item in enumerate(items):
                body: dict[str, Any] = {"action": "approve", "version": item["version"]}
                if (n + j) % 3 == 0:
                    body = {"action": "reject", "reason": "spam", "version": item["version"]}
                url = f"{soak.url}/v1/comments/{item['id']}/decision"
                async with session.post(url, json=body, headers=headers) as resp:
                    await resp.read()
                    soak.decided[resp.status] = soak.decided.get(resp.status, 0) + 1
        except (aiohttp.ClientError, TimeoutError):
            soak.decided[0] = soak.decided.get(0, 0) + 1  # no answer: an error, and the moderator goes on
            await asyncio.sleep(0.5)


async def sampler(soak: Soak, started: float) -> None:
    while soak.running:
        await asyncio.to_thread(soak.sample, started)
        await asyncio.sleep(SAMPLE_S)


async def run(soak: Soak, minutes: float, n_moderators: int, workdir: Path) -> None:
    redis = AsyncRedis.from_url(soak.redis_url)
    try:
        tokens = [
            (await moderators.add(redis, Keys(), f"soak{m}", moderators.Role.MODERATOR))[1] for m in range(n_moderators)
        ]
    finally:
        await redis.aclose()
    await asyncio.to_thread(soak.more_captchas, workdir / "captchas.tsv")
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=256)) as session:
        background = [asyncio.create_task(sampler(soak, started))]
        background += [asyncio.create_task(moderator(soak, session, t, m)) for m, t in enumerate(tokens)]
        await readers(soak, session, started + minutes * 60, workdir)
        await asyncio.sleep(2)  # the moderators catch up with the last submissions
        soak.running = False
        await asyncio.gather(*background)
    await asyncio.to_thread(soak.sample, started)


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two points)."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def summary(soak: Soak, minutes: float) -> dict[str, Any]:
    after = [s for s in soak.samples if s["t"] >= min(WARMUP_S, minutes * 30)] or soak.samples
    t = [s["t"] / 60 for s in after]
    accepted = [s["accepted"] for s in after]
    redis_per_min = slope(t, [s["used_memory"] for s in after])
    stored_per_min = slope(t, accepted)
    return {
        "minutes": minutes,
        "rate": soak.rate,
        "submitted": soak.submitted,
        "decided": soak.decided,
        "claims": soak.claims,
        "samples": soak.samples,
        "serving_rss_slope_mb_min": slope(t, [s["serving_rss_mb"] for s in after]),
        "tree_rss_slope_mb_min": slope(t, [s["tree_rss_mb"] for s in after]),
        "redis_slope_b_min": redis_per_min,
        "stored_per_min": stored_per_min,
        "redis_b_per_stored": redis_per_min / stored_per_min if stored_per_min else None,
        "errors": sum(v for k, v in soak.submitted.items() if k != 202)
        + sum(v for k, v in soak.decided.items() if k != 200),
    }


def markdown(r: dict[str, Any], command: str) -> str:
    s = r["samples"]
    memory = OUT / "memory.json"
    per_pending = json.loads(memory.read_text())["used_memory_per_comment"] if memory.exists() else None
    lines = [
        "### Soak: submissions and moderators together",
        "",
        f"`{command}`: {r['minutes']:g} minutes, {r['rate']:g} submissions/s (default rate limits on, each reader "
        f"its own address), moderators claiming 10 at a time and deciding through the API; load average "
        f"{min(x['load'] for x in s):.2f}-{max(x['load'] for x in s):.2f}. Slopes after the first "
        f"{min(WARMUP_S, r['minutes'] * 30):.0f} s.",
        "",
        "| what | result |",
        "|---|---|",
        f"| submissions answered | {r['submitted']} |",
        f"| decisions answered | {r['decided']} ({r['claims']:,} claims) |",
        f"| errors (submissions not 202, decisions not 200, no answer) | **{r['errors']}** |",
        "| serving process RSS, first / last sample | "
        f"{s[0]['serving_rss_mb']:.0f} / {s[-1]['serving_rss_mb']:.0f} MB |",
        f"| serving process RSS slope | {r['serving_rss_slope_mb_min']:+.2f} MB/min |",
        f"| service with every process it started, RSS slope | {r['tree_rss_slope_mb_min']:+.2f} MB/min |",
        "| Redis used_memory, first / last sample | "
        f"{s[0]['used_memory'] / 2**20:.1f} / {s[-1]['used_memory'] / 2**20:.1f} MB |",
        "| Redis slope / comments stored per minute | "
        f"{r['redis_slope_b_min'] / 1024:+,.0f} KB/min / {r['stored_per_min']:,.0f} |",
    ]
    if r["redis_b_per_stored"] is not None:
        compare = f" (bench/memory.py: {per_pending:,.0f} B per pending comment)" if per_pending else ""
        lines.append(f"| Redis growth per stored comment | {r['redis_b_per_stored']:,.0f} B{compare} |")
    lines += ["", "| t (s) | serving RSS MB | all RSS MB | Redis MB | stored | decided |", "|---|---|---|---|---|---|"]
    step = max(1, len(s) // 12)
    lines += [
        f"| {x['t']:.0f} | {x['serving_rss_mb']:.0f} | {x['tree_rss_mb']:.0f} | {x['used_memory'] / 2**20:.1f} | "
        f"{x['accepted']:,} | {x['decided']:,} |"
        for x in s[::step] + ([s[-1]] if (len(s) - 1) % step else [])
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="how long (the issue's soak: 10)")
    parser.add_argument("--rate", type=float, default=50.0, help="submissions per second")
    parser.add_argument("--moderators", type=int, default=4)
    parser.add_argument("--write", default=str(ROOT / "BENCHMARKS.md"), help="the Markdown file to update ('-': none)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dy-s"))
    valkey = embedded.start(workdir / "store")
    redis_url = embedded.url_for(workdir / "store")
    server = Server(redis_url, workdir / "svc", {"DUYET_CAPTCHA_TEST_CODE": CODE, "DUYET_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        wait_http(server.url + "/readyz", server.proc, 180)
        soak = Soak(server.url, redis_url, server.proc.pid, args.rate)
        asyncio.run(run(soak, args.minutes, args.moderators, workdir))
    finally:
        server.stop()
        valkey.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result = summary(soak, args.minutes)
    OUT.mkdir(exist_ok=True)
    (OUT / "soak.json").write_text(json.dumps(result, indent=1))
    text = markdown(result, " ".join([".venv/bin/python bench/soak.py", *sys.argv[1:]]))
    print("\n" + text)
    if args.write != "-":
        write_section(Path(args.write), MARKERS, text)
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
