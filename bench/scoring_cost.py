"""What scoring a comment costs with the shipped spam model (BENCHMARKS.md, "Spam model").

- amortised: `SpamModel.score_batch` on batches of 64, and `SpamScorer.score` with 256 concurrent
  callers (micro-batched, in a worker thread, then in the scoring process), µs per comment, and
  the CPU the event loop's process spent per comment;
- one comment: `score_batch([c])` and an awaited `SpamScorer.score(c)` with nothing else running,
  p50 / p99 / max over many calls;
- event-loop lag: the longest a 1 ms ticker waited while the scorer was under load, and while a
  scoring process started and loaded the model.

Wall time and CPU time are both printed: on a shared machine the wall time also measures the
other jobs (a loaded 2-core box stretches it 1.5-3x), the CPU time much less so.

Comments: the seed corpus (both splits, normalised as validation does), so lengths are realistic.

    .venv/bin/python bench/scoring_cost.py [--model models/spam-model.skops] [--rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: bench/ is not a package; import `service` from the checkout.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import statistics
import time

from service.learning.corpus import load_corpus
from service.spam.model import SpamInput, SpamModel
from service.spam.scorer import SpamScorer


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def scorer_load(
    model: SpamModel, inputs: list[SpamInput], concurrency: int, process: bool
) -> tuple[float, float, float, float]:
    """µs per comment (wall), µs of this process's CPU per comment, the longest event-loop lag
    (ms) and the mean batch, with `concurrency` callers scoring `inputs` through a SpamScorer."""
    scorer = SpamScorer(model, max_batch=64, max_wait_ms=2.0, process=process)
    if process:  # let the scoring process load the model first (the thread scores meanwhile)
        await asyncio.gather(*(scorer.score(i) for i in inputs[:128]))
        for _ in range(1200):  # up to two minutes
            if model.version in scorer.process_versions:
                break
            await asyncio.sleep(0.1)
    scorer.batches = scorer.scored = 0
    lag = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal lag
        loop = asyncio.get_running_loop()
        while not stop:
            before = loop.time()
            await asyncio.sleep(0.001)
            lag = max(lag, loop.time() - before - 0.001)

    async def worker(chunk: list[SpamInput]) -> None:
        for inp in chunk:
            await scorer.score(inp)

    tick = asyncio.create_task(ticker())
    chunks = [inputs[i::concurrency] for i in range(concurrency)]
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(c) for c in chunks))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    stop = True
    await tick
    mean_batch = scorer.scored / max(scorer.batches, 1)
    await scorer.close()
    return elapsed / len(inputs) * 1e6, cpu / len(inputs) * 1e6, lag * 1e3, mean_batch


async def process_start_lag(model: SpamModel, inputs: list[SpamInput]) -> tuple[float, float]:
    """Seconds until a new scoring process has loaded the model after the first burst, and the
    longest event-loop lag (ms) meanwhile (no other traffic: what starting the process costs the loop)."""
    scorer = SpamScorer(model, max_batch=64, max_wait_ms=2.0, process=True)
    await asyncio.gather(*(scorer.score(i) for i in inputs[:128]))  # scored in the thread; starts the process
    loop = asyncio.get_running_loop()
    lag, start = 0.0, loop.time()
    while model.version not in scorer.process_versions and loop.time() - start < 120:
        before = loop.time()
        await asyncio.sleep(0.001)
        lag = max(lag, loop.time() - before - 0.001)
    took = loop.time() - start
    await scorer.close()
    return took, lag * 1e3


async def scorer_single(model: SpamModel, inputs: list[SpamInput]) -> tuple[list[float], list[float]]:
    """Wall and CPU µs of each awaited call. A lone short comment is scored on the event loop's
    thread, so that thread's CPU time is the call's (a comment sent to the worker would not be)."""
    scorer = SpamScorer(model)
    await scorer.score(inputs[0])  # start the scorer's task outside the measurement
    times, cpu_times = [], []
    for inp in inputs:
        start, cpu = time.perf_counter(), time.thread_time()
        await scorer.score(inp)
        times.append((time.perf_counter() - start) * 1e6)
        cpu_times.append((time.thread_time() - cpu) * 1e6)
    await scorer.close()
    return times, cpu_times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "spam-model.skops")
    parser.add_argument("--rounds", type=int, default=3, help="repeat the amortised runs, keep the best")
    args = parser.parse_args()
    model = SpamModel.load(args.model)
    data = load_corpus(ROOT / "models" / "seed_corpus.jsonl")
    inputs = [SpamInput(n, t, c, had_markup=m) for n, t, c, m in data.rows]
    chars = statistics.mean(len(i.title) + len(i.content) for i in inputs)
    print(f"model {model.version}; {len(inputs)} comments, mean {chars:.0f} characters (title + content)")

    model.score_batch(inputs[:64])  # warm up
    best = best_cpu = float("inf")
    for _ in range(args.rounds):
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(inputs), 64):
            model.score_batch(inputs[i : i + 64])
        best = min(best, (time.perf_counter() - start) / len(inputs) * 1e6)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / len(inputs) * 1e6)
    print(f"score_batch, batches of 64: {best:.0f} µs per comment, CPU {best_cpu:.0f} µs (best of {args.rounds})")

    for process, where in ((False, "a worker thread"), (True, "the scoring process")):
        runs = [asyncio.run(scorer_load(model, inputs, 256, process)) for _ in range(args.rounds)]
        per, cpu, _lag, mean_batch = min(runs)
        print(
            f"SpamScorer, 256 concurrent callers, batches in {where}: {per:.0f} µs per comment amortised "
            f"(best of {args.rounds}), event-loop process CPU {cpu:.0f} µs per comment, mean batch {mean_batch:.1f}, "
            f"max event-loop lag {max(r[2] for r in runs):.1f} ms"
        )

    took, start_lag = asyncio.run(process_start_lag(model, inputs))
    print(f"scoring process start and model load: {took:.1f} s, max event-loop lag meanwhile {start_lag:.1f} ms")

    sample = inputs[::3][:1500]
    single, single_cpu = [], []
    for inp in sample:
        start, cpu = time.perf_counter(), time.thread_time()
        model.score_batch([inp])
        single.append((time.perf_counter() - start) * 1e6)
        single_cpu.append((time.thread_time() - cpu) * 1e6)
    print(
        f"score_batch, one comment: p50 {pct(single, 0.5):.0f} µs, p99 {pct(single, 0.99):.0f} µs, "
        f"max {max(single):.0f} µs; CPU p50 {pct(single_cpu, 0.5):.0f} µs, p99 {pct(single_cpu, 0.99):.0f} µs"
    )
    awaited, awaited_cpu = asyncio.run(scorer_single(model, sample))
    print(
        f"SpamScorer.score, one comment at a time: p50 {pct(awaited, 0.5):.0f} µs, "
        f"p99 {pct(awaited, 0.99):.0f} µs, max {max(awaited):.0f} µs; "
        f"CPU p50 {pct(awaited_cpu, 0.5):.0f} µs, p99 {pct(awaited_cpu, 0.99):.0f} µs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
