"""The learning loop as a benchmark, through the product's own API.

Starts duyet (`python -m service.commands.main serve`, a temp data dir, captcha test mode), then,
on the YouTube Spam Collection in `../shared/data` (read in place, never copied; skipped cleanly
when absent), in date order: the newest 30% of the comments is the test sample, the oldest 70%
is split into `--rounds` chronological batches. Each round:

1. submit: the round's comments through POST /v1/captchas + POST /v1/comments;
2. decide: each one, oldest first, through POST /v1/comments/{id}/decision, as the dataset's label
   says (approve ham, reject spam as `spam`), as a moderator would;
3. retrain: `duyet retrain` (no `--force`): the gate decides whether the challenger is promoted;
4. reach: how long until the serving process scores with the promoted version (GET /readyz);
5. rescore: submit the test sample again (its own article) and read each comment's score and
   verdict back (GET /v1/comments/{id}): ROC-AUC of the score and macro-F1 of the `spam` verdict.

Round 0 rescoring is the shipped seed model, before any decision.
Usage: .venv/bin/python bench/learning_loop.py [--rounds 3] [--markdown]
"""

from __future__ import annotations

import os
import sys

# Run as a script: bench/ is not a package; import `service` from the checkout.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [os.path.dirname(_HERE)]

import argparse
import asyncio
import csv
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

ROOT = Path(_HERE).parent
DATA = ROOT.parent / "shared" / "data" / "youtube-spam-collection"
CODE = "LOOP1"
PHONE = "0912 345 678"
CONCURRENCY = 16
# The form takes letters, spaces and . ' - in a name (YouTube handles hold digits and more).
_NAME_DROP = re.compile(r"[^\w .'-]|[\d_]")


@dataclass(frozen=True)
class Item:
    video: str
    author: str
    date: str
    content: str
    spam: bool


def load_youtube(folder: Path) -> list[Item]:
    """Every comment of the five videos, duplicates (same text) removed, oldest first."""
    items: list[Item] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("Youtube0*.csv")):
        video = path.stem.split("-", 1)[-1]
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                text = row["CONTENT"].strip()
                if not text or not row.get("DATE") or text in seen:
                    continue
                seen.add(text)
                author = " ".join(_NAME_DROP.sub(" ", row["AUTHOR"]).split())[:60] or "Viewer"
                items.append(Item(video, author, row["DATE"], text[:1900], row["CLASS"] == "1"))
    return sorted(items, key=lambda i: (i.date, i.video, i.content))


@dataclass
class Round:
    n: int
    submitted: int = 0
    decided: int = 0
    version: str = ""
    promoted: bool = False
    gate: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    roc_auc: float = float("nan")
    macro_f1: float = float("nan")
    reach_s: float = float("nan")
    test_version: str = ""
    test_n: int = 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Duyet:
    """A `duyet serve` subprocess on a temp data dir, and an HTTP session to it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir, self.port = data_dir, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DUYET_DATA_DIR": str(data_dir),
            "DUYET_SUBMIT_LIMIT_CLIENT": "0",
            "DUYET_SUBMIT_LIMIT_ARTICLE": "0",
            "DUYET_CAPTCHA_ISSUE_LIMIT": "0",
            "DUYET_CAPTCHA_POOL_TARGET": "0",
            "DUYET_RETRAIN_EVERY_LABELS": "0",
        }
        self.proc: subprocess.Popen[str] | None = None
        self.token = ""

    def start(self) -> None:
        cmd = [sys.executable, "-m", "service.commands.main", "serve", "--port", str(self.port)]
        cmd += ["--captcha-test-code", CODE, "--workers", "1"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the banner ends with the development admin's log-in
            found = re.search(r"role admin, token (\S+)", line)
            if found:
                self.token = found.group(1)
                break
            if "moderator log-in" in line and "an admin exists" in line:
                break
        stdout = self.proc.stdout
        threading.Thread(target=lambda: sum(1 for _ in stdout), daemon=True).start()  # keep the pipe drained
        if not self.token:
            self.stop()
            raise SystemExit("duyet serve printed no development admin token")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def retrain(self) -> tuple[int, str, str]:
        cmd = [sys.executable, "-m", "service.commands.main", "retrain", "--no-progress"]
        done = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=1800)
        return done.returncode, done.stdout, done.stderr


async def _wait_ready(http: aiohttp.ClientSession, base: str) -> str:
    for _ in range(1200):
        try:
            async with http.get(f"{base}/readyz") as resp:
                if resp.status == 200:
                    return str((await resp.json())["checks"]["model"])
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("duyet never became ready")


async def submit(http: aiohttp.ClientSession, base: str, items: list[Item], article: str) -> list[str | None]:
    """Each item through the public API (a captcha, then the comment); their ids, in order."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Item) -> str | None:
        async with gate:
            for attempt in range(20):  # 503 means "try again shortly": a client does
                async with http.post(f"{base}/v1/captchas", json={"article_id": article}) as resp:
                    if resp.status == 503 and attempt < 19:
                        await asyncio.sleep(0.5)
                        continue
                    assert resp.status == 201, await resp.text()
                    captcha = (await resp.json())["id"]
                    break
            form = {
                "article_id": article,
                "name": item.author or "viewer",
                "phone": PHONE,
                "title": item.video,
                "content": item.content,
                "captcha_id": captcha,
                "captcha_answer": CODE,
            }
            for attempt in range(20):
                async with http.post(f"{base}/v1/comments", json=form) as resp:
                    if resp.status in (400, 422):  # refused by the form's validation: no comment to decide
                        return None
                    if resp.status == 503 and attempt < 19:
                        await asyncio.sleep(0.5)
                        continue
                    assert resp.status == 202, await resp.text()
                    return str((await resp.json())["id"])
            return None

    return list(await asyncio.gather(*(one(i) for i in items)))


async def submit_all(
    http: aiohttp.ClientSession, base: str, items: list[Item], article: str
) -> tuple[list[str], list[Item]]:
    """The accepted comments' ids and items (the form refuses a few: too short, say)."""
    ids = await submit(http, base, items, article)
    kept = [(cid, item) for cid, item in zip(ids, items, strict=True) if cid is not None]
    return [c for c, _ in kept], [i for _, i in kept]


async def decide(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], ids: list[str], items: list[Item]
) -> None:
    """One decision each, oldest comment first (decision time follows the dataset's order)."""
    for cid, item in zip(ids, items, strict=True):
        body: dict[str, Any] = {"action": "reject", "reason": "spam"} if item.spam else {"action": "approve"}
        async with http.post(f"{base}/v1/comments/{cid}/decision", json={**body, "version": 1}, headers=auth) as r:
            assert r.status == 200, await r.text()


async def scores(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], ids: list[str]
) -> tuple[list[float], list[bool], set[str]]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(cid: str) -> dict[str, Any]:
        async with gate, http.get(f"{base}/v1/comments/{cid}", headers=auth) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    got = await asyncio.gather(*(one(c) for c in ids))
    return (
        [float(g["spam_probability"]) for g in got],
        [g.get("verdict") == "spam" for g in got],
        {str(g.get("model_version")) for g in got},
    )


async def rescore(http: aiohttp.ClientSession, base: str, auth: dict[str, str], test: list[Item], r: Round) -> None:
    t = time.perf_counter()
    ids, accepted = await submit_all(http, base, test, f"youtube/test-round-{r.n}")
    proba, flagged, versions = await scores(http, base, auth, ids)
    r.phases["rescore"] = time.perf_counter() - t
    r.test_n = len(ids)
    y = np.asarray([i.spam for i in accepted], dtype=int)
    r.roc_auc = float(roc_auc_score(y, proba))
    r.macro_f1 = float(f1_score(y, np.asarray(flagged, dtype=int), average="macro"))
    r.test_version = ",".join(sorted(versions))


async def run(rounds: int, data: Path, keep: bool) -> tuple[list[Round], dict[str, Any]]:
    items = load_youtube(data)
    cut = int(len(items) * 0.7)
    train, test = items[:cut], items[cut:]
    batches = [train[i * len(train) // rounds : (i + 1) * len(train) // rounds] for i in range(rounds)]
    tmp = Path(tempfile.mkdtemp(prefix="duyet-loop-"))
    duyet = Duyet(tmp)
    info: dict[str, Any] = {"n_train": len(train), "n_test": len(test), "test_spam": sum(i.spam for i in test)}
    info["load_before"] = os.getloadavg()
    t = time.perf_counter()
    out: list[Round] = []
    try:
        duyet.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            base, auth = duyet.base, {"Authorization": f"Bearer {duyet.token}"}
            shipped = await _wait_ready(http, base)
            info["start_s"] = time.perf_counter() - t
            zero = Round(0, version=shipped)
            await rescore(http, base, auth, test, zero)
            out.append(zero)
            for n, batch in enumerate(batches, 1):
                r = Round(n)
                t = time.perf_counter()
                ids, accepted = await submit_all(http, base, batch, f"youtube/train-round-{n}")
                r.phases["submit"], r.submitted = time.perf_counter() - t, len(ids)
                t = time.perf_counter()
                await decide(http, base, auth, ids, accepted)
                r.phases["decide"], r.decided = time.perf_counter() - t, len(ids)
                before = await _wait_ready(http, base)
                t = time.perf_counter()
                code, stdout, stderr = await asyncio.to_thread(duyet.retrain)
                done = time.perf_counter()
                r.phases["retrain"] = done - t
                if code != 0 and "not promoted" not in stdout:
                    raise SystemExit(f"duyet retrain failed ({code}):\n{stdout}\n{stderr}")
                r.promoted = "\npromoted " in "\n" + stdout and "FORCED" not in stdout
                r.gate = [line.strip() for line in stdout.splitlines() if line.startswith("  ")]
                found = re.search(r"challenger (\S+)", stdout)
                r.version = found.group(1) if found else ""
                if r.promoted:
                    # `duyet retrain` promotes just before it exits: the time from its exit to the
                    # serving process answering with the new version bounds the reach from above
                    # by the command's own shutdown.
                    while (now := await _wait_ready(http, base)) == before or now != r.version:
                        await asyncio.sleep(0.02)
                        if time.perf_counter() - done > 60:
                            break
                    r.reach_s = time.perf_counter() - done
                await rescore(http, base, auth, test, r)
                out.append(r)
                print(_line(r), flush=True)
    finally:
        duyet.stop()
        info["load_after"] = os.getloadavg()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return out, info


def _line(r: Round) -> str:
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in r.phases.items())
    return (
        f"round {r.n}: ROC-AUC {r.roc_auc:.4f}, macro-F1 {r.macro_f1:.4f}, model {r.test_version}, "
        f"promoted {r.promoted}, reach {r.reach_s:.2f} s; {phases}"
    )


def markdown(rounds: list[Round], info: dict[str, Any]) -> str:
    rows = [
        "| round | decisions so far | promoted by the gate (no --force) | test ROC-AUC | test macro-F1 | "
        "submit | decide | retrain | promotion reached serving | rescore |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    total = 0
    for r in rounds:
        total += r.decided
        p = r.phases
        rows.append(
            f"| {r.n} | {total} | {'yes' if r.promoted else ('(seed model)' if r.n == 0 else 'NO')} | "
            f"{r.roc_auc:.4f} | {r.macro_f1:.4f} | {p.get('submit', 0):.1f} s | {p.get('decide', 0):.1f} s | "
            f"{p.get('retrain', 0):.1f} s | " + (f"{r.reach_s:.2f} s" if r.promoted else "-") + f" | "
            f"{p.get('rescore', 0):.1f} s |"
        )
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir")
    parser.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md table")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: no YouTube Spam Collection at {args.data}")
        return 0
    rounds, info = asyncio.run(run(args.rounds, args.data, args.keep))
    for r in rounds:
        print(_line(r))
        for line in r.gate:
            print(f"    {line}")
    print(info)
    if args.markdown:
        print(markdown(rounds, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
