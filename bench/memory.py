"""Memory: Redis bytes per pending 500-character comment, and the service's RSS with the model loaded.

    .venv/bin/python bench/memory.py [--count 2000] [--write BENCHMARKS.md | -]

Starts its own embedded Valkey (AOF, `appendfsync always`) and a real `duyet serve` (captcha test
mode, rate limits off, no captcha pool, so no pre-rendered image sits in Redis), then stores
`count` comments of exactly 500 characters through `POST /v1/comments`, each with a captcha
pre-issued as the service issues them. Reports:

- Redis: `INFO memory` used_memory after minus before, per comment (the captchas the
  submissions consumed are added back: they were in "before"), `MEMORY USAGE` of one comment's
  hash, and every key the submissions created or grew, grouped by kind, per comment. Targets:
  <= 2 KB per pending comment.
- The service: VmRSS (and Pss, which counts pages shared between processes once) of the serving
  process and every process it started, after the submissions, so the spam model is loaded
  wherever it is loaded. Target: <= 250 MB per worker.

Writes the section between `<!-- bench:memory:start -->` and `<!-- bench:memory:end -->` of
BENCHMARKS.md (`--write`), and the figures to bench/out/memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))  # after bench/ itself (compare.py, served.py)

import aiohttp
from compare import CODE, NO_LIMITS, OUT, preissue, status_kb, tree, wait_http, write_section
from redis import Redis
from served import Server

from service.store import embedded

MARKERS = ("<!-- bench:memory:start -->", "<!-- bench:memory:end -->")
ARTICLE_WORDS = (
    "Dự án cầu mới rất cần thiết cho người dân quận Long Biên, giờ cao điểm ùn tắc kéo dài hàng cây số mỗi "
    "sáng. Thành phố nên công khai tiến độ và chi phí để người dân cùng giám sát, tránh tình trạng đội vốn và "
    "chậm tiến độ như nhiều công trình trước đây. Tôi đồng ý với tác giả rằng cần có thêm tuyến xe buýt "
    "nhanh và bãi đỗ xe ở hai đầu cầu, nếu không thì cầu mới xong cũng lại tắc như cầu cũ. "
)
LENGTH = 500
# A key's kind: its name with the parts that name one comment, captcha or reader replaced by '*'.
_ID_PART = re.compile(r"^(?=.*\d)[A-Za-z0-9_.=+/-]{10,}$")


def content(i: int) -> str:
    """Exactly LENGTH characters, distinct per comment (the repeat check sees no copies)."""
    suffix = f" (ý kiến số {i})"
    body = (ARTICLE_WORDS * 3)[: LENGTH - len(suffix)].rstrip()
    body += "." * (LENGTH - len(suffix) - len(body))  # a trailing space would be trimmed away
    return body + suffix


def kind(key: str) -> str:
    return ":".join("*" if _ID_PART.match(part) else part for part in key.split(":"))


def key_sizes(client: Redis) -> dict[str, int]:
    """MEMORY USAGE (exact: SAMPLES 0) of every key."""
    out = {}
    for key in client.scan_iter(count=1000):
        size = client.memory_usage(key, samples=0)
        if size is not None:
            out[key.decode()] = int(size)  # type: ignore[arg-type]
    return out


def used_memory(client: Redis) -> int:
    time.sleep(0.5)  # let the server settle (lazy frees, the AOF buffer)
    return int(client.info("memory")["used_memory"])  # type: ignore[index]


async def submit_all(url: str, lines: list[str], concurrency: int) -> tuple[list[str], dict[int, int]]:
    """Each line's captcha with a 500-character comment; the 202s' ids and every status."""
    ids: list[str] = []
    statuses: dict[int, int] = {}
    todo = iter(enumerate(lines))

    async def worker(session: aiohttp.ClientSession) -> None:
        for i, line in todo:
            captcha_id, article, _ = line.split("\t")
            body = {
                "article_id": article,
                "name": "Nguyễn Văn An",
                "title": "Ý kiến về dự án cầu",
                "content": content(i),
                "captcha_id": captcha_id,
                "captcha_answer": CODE,
            }
            async with session.post(url + "/v1/comments", json=body) as resp:
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                if resp.status == 202:
                    ids.append((await resp.json())["id"])

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return ids, statuses


def role(pid: int, root: int, cmdline: str) -> str:
    """What a process of the service is, from what it has loaded (they share one command line)."""
    maps = ""
    with contextlib.suppress(OSError):
        maps = Path(f"/proc/{pid}/maps").read_text()
    if pid == root:
        return "serving process" + (" (scikit-learn loaded)" if "/sklearn/" in maps else "")
    if "resource_tracker" in cmdline:
        return "multiprocessing resource tracker"
    if "/sklearn/" in maps:
        return "scoring process (scikit-learn loaded)"
    if "/PIL/" in maps:
        return "captcha renderer"
    return "forkserver" if "forkserver" in cmdline else "child"


def processes(root: int) -> list[dict[str, Any]]:
    """RSS and Pss of the server and every process it started (MB), each with what it is."""
    out = []
    for pid in tree(root):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        pss = next((int(x.split()[1]) for x in rollup.splitlines() if x.startswith("Pss:")), 0)
        out.append(
            {"pid": pid, "server": pid == root, "role": role(pid, root, cmdline), "pss_mb": pss / 1024}
            | {"rss_mb": status_kb(pid, "VmRSS") / 1024, "hwm_mb": status_kb(pid, "VmHWM") / 1024}
        )
    return out


def measure(count: int, concurrency: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="dy-m"))
    valkey = embedded.start(data_dir / "store")
    redis_url = embedded.url_for(data_dir / "store")
    server = Server(
        redis_url,
        data_dir / "svc",
        {**NO_LIMITS, "DUYET_CAPTCHA_TEST_CODE": CODE, "DUYET_CAPTCHA_POOL_TARGET": "0"},
    )
    client = Redis.from_url(redis_url)
    try:
        wait_http(server.url + "/readyz", server.proc, 180)
        captchas = data_dir / "captchas.tsv"
        bare = used_memory(client)
        preissue(redis_url, captchas, count, "memory", 0)
        lines = captchas.read_text().splitlines()
        before, sizes_before = used_memory(client), key_sizes(client)
        started = time.monotonic()
        ids, statuses = asyncio.run(submit_all(server.url, lines, concurrency))
        seconds = time.monotonic() - started
        after, sizes_after = used_memory(client), key_sizes(client)
        # The submissions consumed their captchas, which "before" held: add them back.
        captcha_bytes = (before - bare) * len(ids) / count
        per_comment = (after - before + captcha_bytes) / max(len(ids), 1)
        kinds: dict[str, dict[str, float]] = {}
        for key in set(sizes_before) | set(sizes_after):
            grown = sizes_after.get(key, 0) - sizes_before.get(key, 0)
            if grown > 0:
                k = kinds.setdefault(kind(key), {"keys": 0, "bytes": 0})
                k["keys"] += 1
                k["bytes"] += grown
        hashes = [sizes_after[k] for k in sizes_after for i in ids[:50] if k.endswith(":" + i)]
        result = {
            "count": count,
            "stored": len(ids),
            "statuses": statuses,
            "seconds": seconds,
            "content_chars": LENGTH,
            "content_utf8_bytes": len(content(0).encode()),
            "used_memory_per_comment": per_comment,
            "captcha_bytes_each": (before - bare) / count,
            "comment_hash_bytes": statistics.median(hashes) if hashes else None,
            "kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1]["bytes"])),
            "processes": processes(server.proc.pid),
            "loaded": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
    finally:
        client.close()
        server.stop()
        valkey.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def markdown(r: dict[str, Any], command: str) -> str:
    n = max(r["stored"], 1)
    server = next(p for p in r["processes"] if p["server"])
    others = [p for p in r["processes"] if not p["server"]]
    per_kb = r["used_memory_per_comment"] / 1024
    lines = [
        "### Memory: Redis per pending comment, service RSS",
        "",
        f"`{command}` ({r['loaded']}): {r['stored']:,} comments of {r['content_chars']} characters "
        f"({r['content_utf8_bytes']} B of UTF-8) stored through `POST /v1/comments` in {r['seconds']:.1f} s "
        f"(statuses {r['statuses']}); embedded Valkey, AOF `appendfsync always`; no captcha pool.",
        "",
        "| what | result | target |",
        "|---|---|---|",
        "| Redis `used_memory` delta per pending comment (captchas consumed added back) | "
        f"{r['used_memory_per_comment']:,.0f} B "
        f"| <= 2,048 B: **{'met' if per_kb <= 2 else 'not met'}** ({per_kb / 2:.0%} of it) |",
        f"| `MEMORY USAGE` of one comment hash | {r['comment_hash_bytes'] or 0:,.0f} B | |",
        f"| {server['role']}: VmRSS (peak) / Pss, after the submissions | {server['rss_mb']:.0f} MB "
        f"({server['hwm_mb']:.0f}) / {server['pss_mb']:.0f} MB "
        f"| <= 250 MB: **{'met' if server['rss_mb'] <= 250 else 'not met'}** |",
    ]
    lines += [
        f"| {p['role']} (pid {p['pid']}) VmRSS (peak) / Pss | {p['rss_mb']:.0f} MB ({p['hwm_mb']:.0f}) / "
        f"{p['pss_mb']:.0f} MB | |"
        for p in others
    ]
    total = sum(p["pss_mb"] for p in r["processes"])
    lines += [
        f"| the worker with every process it started, Pss | {total:.0f} MB | <= 250 MB: "
        f"**{'met' if total <= 250 else 'not met'}** |",
        "",
        "Keys the submissions created or grew (`MEMORY USAGE ... SAMPLES 0` after minus before), per comment:",
        "",
        "| key kind | keys | bytes per comment |",
        "|---|---|---|",
    ]
    lines += [f"| `{k}` | {v['keys']:,} | {v['bytes'] / n:,.0f} |" for k, v in r["kinds"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write", default=str(ROOT / "BENCHMARKS.md"), help="the Markdown file to update ('-': none)")
    args = parser.parse_args()
    result = measure(args.count, args.concurrency)
    OUT.mkdir(exist_ok=True)
    (OUT / "memory.json").write_text(json.dumps(result, indent=1))
    text = markdown(result, " ".join([".venv/bin/python bench/memory.py", *sys.argv[1:]]))
    print("\n" + text)
    if args.write != "-":
        write_section(Path(args.write), MARKERS, text)
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
