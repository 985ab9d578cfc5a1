"""Submissions side by side, in one run on the same cores: the aiohttp ceiling, Isso and duyet.

    .venv/bin/python bench/compare.py                      # 10 s per target, 3 runs (~20 minutes)
    .venv/bin/python bench/compare.py --seconds 2 --runs 1 --write /tmp/compare.md   # a short trial

Each server under test runs on core 0 (`taskset -c 0`, with every process it starts and the
Valkey it uses) and `wrk` on core 1, one target after the other within each run, so every ratio
compares figures taken minutes apart at most. Targets, each at 16 and 64 connections, after a
warm-up that is not counted:

- `hello`: an aiohttp app answering a small JSON object (bench/wrk/hello_app.py): the ceiling.
- `isso`: Isso (`pip install isso` into .bench-cache/isso-venv), SQLite, its guard (rate limit)
  and moderation off, `POST /new?uri=...` with the same comment text. Skipped, and said so,
  when it cannot be installed.
- `duyet`: `POST /v1/comments`, rate limits off; captchas pre-issued in test mode (sealed with
  the service's secret and stored as the service stores them), one per request, so each request is
  the whole path: captcha checked and consumed, validated, scored, stored and queued, with Valkey's
  AOF at `appendfsync always`.
- `duyet-limits`: the same with the default rate limits on; each request from its own reader
  address (X-Forwarded-For from a trusted proxy) and at most 100 per article, so the counters cost
  what they cost and nobody is refused.
- `duyet-flow`: the reader's whole flow chained in wrk (POST /v1/captchas, GET the image, POST
  /v1/comments), one connection per wrk thread; the captcha pool pre-filled before each run.
- `duyet-2w`: `--workers 2` on both cores (wrk then shares core 1 with a worker).

Reported per target: requests/s (median and min-max over the runs), p50/p99/p99.9 latency, errors,
CPU seconds per process (from /proc: the server with every process it started, and Valkey) per
request, the load average; then the ratios and the issue's targets. Writes the Markdown section
between `<!-- bench:compare:start -->` and `<!-- bench:compare:end -->` of BENCHMARKS.md (`--write`),
and every figure to bench/out/compare.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))  # after bench/ itself (served.py)

from redis import Redis
from served import SECRET, Server, free_port

from service.captcha.seals import Sealer
from service.store import embedded
from service.store.keys import Keys

CODE = "BENCH"
WRK_DIR = HERE / "wrk"
CACHE = ROOT / ".bench-cache"
ISSO_VENV = CACHE / "isso-venv"
OUT = HERE / "out"
SERVER_CPUS, LOAD_CPUS = "0", "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PER_ARTICLE = 100  # submissions per article in one measurement: under the default 120 per minute
MARKERS = ("<!-- bench:compare:start -->", "<!-- bench:compare:end -->")
NO_LIMITS = {"DUYET_SUBMIT_LIMIT_CLIENT": "0", "DUYET_SUBMIT_LIMIT_ARTICLE": "0", "DUYET_CAPTCHA_ISSUE_LIMIT": "0"}


# --------------------------------------------------------------------------- processes, from /proc
def _stats() -> dict[int, list[str]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                raw = Path(f"/proc/{entry}/stat").read_text()
                out[int(entry)] = raw[raw.rindex(")") + 2 :].split()
    return out


def tree(root: int) -> list[int]:
    """`root` and every process below it."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (children they reaped are not counted)."""
    stats = _stats()
    return sum((int(stats[p][11]) + int(stats[p][12])) / CLK_TCK for p in pids if p in stats)


def status_kb(pid: int, field_name: str) -> int:
    """A field of /proc/<pid>/status in kB (VmRSS, VmHWM), 0 when the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def pin(pids: list[int], cpus: str) -> None:
    """Move every thread of these processes to `cpus` (a process started before pinning)."""
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True, check=False)


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_http(url: str, proc: subprocess.Popen[bytes], within_s: float = 180, ok: tuple[int, ...] = (200,)) -> None:
    """Until `url` answers one of `ok`; an error at once if `proc` (the server) exits first."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status in ok:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {within_s:.0f} s")


# --------------------------------------------------------------------------- captchas, pre-issued
def preissue(redis_url: str, path: Path, n: int, tag: str, base: int) -> None:
    """`n` captchas as the service issues them in test mode (sealed with its secret, answer CODE),
    stored as its issue path stores them; one line each in `path`: id, article, reader address.
    At most PER_ARTICLE per article; every line's address distinct (`base` offsets them)."""
    sealer, keys = Sealer(SECRET.encode()), Keys()
    client = Redis.from_url(redis_url)
    lines = []
    try:
        for start in range(0, n, 5000):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(n, start + 5000)):
                seal = sealer.seal(CODE)
                article = f"bench/{tag}/{i // PER_ARTICLE}"
                pipe.hset(keys.captcha(seal), "h", sealer.digest(seal, CODE))
                pipe.expire(keys.captcha(seal), 3600)
                a = base + i
                address = f"10.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"
                lines.append(f"{sealer.issue(seal, article, pooled=False)}\t{article}\t{address}")
            pipe.execute()
    finally:
        client.close()
    path.write_text("\n".join(lines) + "\n")


def metric(url: str, name: str, label: str = "") -> float:
    """A sample of the server's /metrics (summed over its label sets containing `label`), 0 if absent."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.split("{")[0].split(" ")[0] == name and label in line
    )


def pool_size(url: str) -> int:
    """Pre-rendered captchas waiting, as the service reports it (its keys are its own business)."""
    return int(metric(url, "duyet_captcha_pool_size"))


def rendered_on_demand(url: str) -> int:
    """Captchas the server issued by rendering on the request path (its pool was dry)."""
    return int(metric(url, "duyet_captchas_issued_total", 'source="render"'))


# --------------------------------------------------------------------------- wrk
def wrk(
    url: str,
    script: str,
    connections: int,
    seconds: float,
    env: dict[str, str],
    threads: int = 1,
    cpus: str = LOAD_CPUS,
) -> dict[str, Any]:
    """One wrk run; its figures from bench/wrk/common.lua's JSON (p99.9 included)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        result = Path(out.name)
    full = {**os.environ, **env, "BENCH_WRK_DIR": str(WRK_DIR), "BENCH_OUT": str(result), "BENCH_THREADS": str(threads)}
    pin_cmd = ["taskset", "-c", cpus] if cpus else []
    command = [*pin_cmd, "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    run = subprocess.run(
        [*command, "-s", str(WRK_DIR / script), url], env=full, capture_output=True, text=True, timeout=seconds + 60
    )
    try:
        if run.returncode != 0 or not result.stat().st_size:
            raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr or run.stdout}")
        data: dict[str, Any] = json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)
    seconds_run = data["duration_us"] / 1e6
    e = data["errors"]
    data.update(
        rate=data["requests"] / seconds_run,
        seconds=seconds_run,
        non2xx=e["status"],
        socket_errors=e["connect"] + e["read"] + e["write"] + e["timeout"],
    )
    flows = data.pop("flow_us")
    if flows:
        flows.sort()
        data["flows"] = {
            "rate": len(flows) / seconds_run,
            "p50": flows[len(flows) // 2] / 1000,
            "p99": flows[min(len(flows) - 1, int(0.99 * len(flows)))] / 1000,
        }
    return data


# --------------------------------------------------------------------------- systems under test
@dataclass
class System:
    """A server under test: its URL, the processes whose CPU counts, and what to feed wrk."""

    url: str
    server_pid: int
    valkey_pid: int | None = None
    redis_url: str | None = None
    notes: list[str] = field(default_factory=list)

    def cpu(self) -> dict[str, float]:
        out = {"server": cpu_seconds(tree(self.server_pid))}
        if self.valkey_pid:
            out["valkey"] = cpu_seconds([self.valkey_pid])
        return out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def hello() -> Iterator[System]:
    port = free_port()
    cmd = ["taskset", "-c", SERVER_CPUS, sys.executable, str(WRK_DIR / "hello_app.py"), str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc, 30)
        yield System(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        _stop(proc)


def isso_installed() -> Path | None:
    """Isso's command, installing it into its own virtualenv first if needed; None if that fails."""
    isso = ISSO_VENV / "bin" / "isso"
    if not isso.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(ISSO_VENV)], check=True, capture_output=True)
            pip = [str(ISSO_VENV / "bin" / "pip"), "install", "-q", "isso"]
            subprocess.run(pip, check=True, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"Isso could not be installed ({type(exc).__name__}); going on without it", file=sys.stderr)
            return None
    return isso if isso.exists() else None


def isso_version() -> str:
    run = subprocess.run([str(ISSO_VENV / "bin" / "isso"), "--version"], capture_output=True, text=True, check=False)
    return (run.stdout or run.stderr).strip().split()[-1] if run.returncode == 0 else "?"


@contextlib.contextmanager
def isso(command: Path) -> Iterator[System]:
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="dy-isso"))
    conf = work / "isso.cfg"
    conf.write_text(
        f"[general]\ndbpath = {work / 'comments.db'}\nhost = http://127.0.0.1:{port}/\n"
        f"[server]\nlisten = http://127.0.0.1:{port}\n[guard]\nenabled = false\n[moderation]\nenabled = false\n"
    )
    cmd = ["taskset", "-c", SERVER_CPUS, str(command), "-c", str(conf), "run"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/?uri=%2Fnone", proc, 60, ok=(200, 404))
        yield System(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        _stop(proc)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def duyet(env: dict[str, str], cpus: str = SERVER_CPUS, pool: int = 0) -> Iterator[System]:
    """`duyet serve` in captcha test mode on its own embedded Valkey (AOF, appendfsync always),
    both pinned to `cpus`; with `pool`, started unpinned until that many captchas are pre-rendered
    (rendering the pool is set-up, not the measurement), then pinned."""
    data_dir = Path(tempfile.mkdtemp(prefix="dy-c"))
    valkey = embedded.start(data_dir / "store")
    redis_url = embedded.url_for(data_dir / "store")
    valkey_pid = embedded.server_pid(data_dir / "store")
    if valkey_pid:
        pin([valkey_pid], cpus)
    full = {
        "DUYET_CAPTCHA_TEST_CODE": CODE,
        "DUYET_TRUSTED_PROXIES": "127.0.0.1",
        "DUYET_CAPTCHA_POOL_TARGET": str(pool),
        **env,
    }
    server = Server(redis_url, data_dir / "svc", full, cpus=None if pool else cpus)
    try:
        wait_http(server.url + "/readyz", server.proc, 180)
        if pool:
            deadline = time.monotonic() + 600
            while pool_size(server.url) < pool:
                if time.monotonic() > deadline or server.proc.poll() is not None:
                    raise RuntimeError(f"captcha pool stuck at {pool_size(server.url)} of {pool}")
                time.sleep(1)
            pin(tree(server.proc.pid), cpus)
        yield System(server.url, server.proc.pid, valkey_pid, redis_url)
    finally:
        server.stop()
        valkey.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# --------------------------------------------------------------------------- measuring
@dataclass
class Plan:
    seconds: float
    warmup: float
    runs: int
    connections: tuple[int, ...]
    captcha_rate: int  # captchas pre-issued per second of run (more than any run reaches)
    flow_pool: int
    targets: tuple[str, ...]
    measurements: int = 0  # so every measurement's reader addresses and articles are its own


def measure(plan: Plan, system: System, target: str, connections: int, run: int) -> dict[str, Any]:
    """A warm-up, then the measured wrk run of `target` against `system`."""
    script, threads, env, path = {"hello": ("hello.lua", 1, {}, "/"), "isso": ("isso_new.lua", 1, {}, "/")}.get(
        target, ("post_comments.lua", 1, {"BENCH_CODE": CODE}, "/v1/comments")
    )
    cpus = LOAD_CPUS
    if target == "duyet-flow":
        script, threads, path = "reader_flow.lua", connections, "/"  # one reader per thread
    if target == "duyet-2w":
        threads, cpus = 2, ""  # the server has both cores; wrk floats between them
    total = 0.0
    for phase, seconds in (("warm-up", plan.warmup), ("measured", plan.seconds)):
        if target.startswith("duyet") and target != "duyet-flow" and system.redis_url:
            plan.measurements += 1
            captchas = Path(tempfile.mkstemp(prefix="dy-captchas", suffix=".tsv")[1])
            n = int(plan.captcha_rate * seconds) + 1000
            preissue(system.redis_url, captchas, n, f"m{plan.measurements}", plan.measurements * 1_000_000)
            env = {**env, "BENCH_CAPTCHAS": str(captchas)}
        load0, cpu0 = loadavg(), system.cpu()
        rendered0 = rendered_on_demand(system.url) if target == "duyet-flow" else 0
        result = wrk(system.url + path, script, connections, seconds, env, threads, cpus)
        cpu1 = system.cpu()
        if "BENCH_CAPTCHAS" in env:
            Path(env["BENCH_CAPTCHAS"]).unlink(missing_ok=True)
        total += result["rate"]
        if phase == "measured":
            result.update(
                target=target,
                connections=connections,
                run=run,
                cpu={k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1},
                load=(load0, loadavg()),
            )
            if target == "duyet-flow":
                result["rendered"] = rendered_on_demand(system.url) - rendered0
            print(
                f"run {run} {target:13s} c={connections:<3d} {result['rate']:8.0f} req/s  p50 "
                f"{result['latency_us']['p50'] / 1000:6.1f}  p99 {result['latency_us']['p99'] / 1000:6.1f}  p99.9 "
                f"{result['latency_us']['p999'] / 1000:6.1f} ms  non-2xx {result['non2xx']}  "
                f"socket errors {result['socket_errors']}  cpu {result['cpu']}",
                flush=True,
            )
            return result
    raise AssertionError("unreachable")


def system_for(target: str, plan: Plan, isso_cmd: Path | None) -> contextlib.AbstractContextManager[System] | None:
    if target == "hello":
        return hello()
    if target == "isso":
        return isso(isso_cmd) if isso_cmd else None
    if target == "duyet":
        return duyet(NO_LIMITS)
    if target == "duyet-limits":
        return duyet({})
    if target == "duyet-flow":
        return duyet(NO_LIMITS, pool=plan.flow_pool)
    if target == "duyet-2w":
        return duyet({**NO_LIMITS, "DUYET_WORKERS": "2"}, cpus=f"{SERVER_CPUS},{LOAD_CPUS}")
    raise ValueError(target)


def run_all(plan: Plan) -> dict[str, Any]:
    isso_cmd = isso_installed() if "isso" in plan.targets else None
    os.sched_setaffinity(0, {int(LOAD_CPUS)})  # the bench itself (pre-issuing captchas) stays off core 0
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    if "isso" in plan.targets and isso_cmd is None:
        notes.append("Isso could not be installed (`pip install isso` failed): measured without it.")
    started = time.time()
    for run in range(1, plan.runs + 1):
        for target in plan.targets:
            # One server for both connection counts; the flow gets a fresh one (a full pool) for each.
            groups = [(c,) for c in plan.connections] if target == "duyet-flow" else [plan.connections]
            for group in groups:
                ctx = system_for(target, plan, isso_cmd)
                if ctx is None:
                    break
                with ctx as system:
                    rows.extend(measure(plan, system, target, c, run) for c in group)
    return {
        "started": started,
        "finished": time.time(),
        "plan": {k: v for k, v in plan.__dict__.items() if k != "measurements"},
        "isso_version": isso_version() if isso_cmd else None,
        "cpus": os.cpu_count(),
        "rows": rows,
        "notes": notes,
    }


# --------------------------------------------------------------------------- the report
LABELS = {
    "hello": "aiohttp hello JSON (the ceiling)",
    "isso": "Isso `POST /new` (SQLite, guard off)",
    "duyet": "duyet `POST /v1/comments`, rate limits off",
    "duyet-limits": "duyet `POST /v1/comments`, rate limits on (default)",
    "duyet-flow": "duyet reader's flow: captcha + image + submit",
    "duyet-2w": "duyet `POST /v1/comments`, `--workers 2`, both cores",
}


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _rows(result: dict[str, Any], target: str, connections: int) -> list[dict[str, Any]]:
    return [r for r in result["rows"] if r["target"] == target and r["connections"] == connections]


def ratios(result: dict[str, Any], top: str, bottom: str, connections: int) -> list[float]:
    """top/bottom req/s within each run (the figures minutes apart), one per run having both."""
    out = []
    for run in range(1, result["plan"]["runs"] + 1):
        a = [r["rate"] for r in _rows(result, top, connections) if r["run"] == run]
        b = [r["rate"] for r in _rows(result, bottom, connections) if r["run"] == run]
        if a and b and b[0] > 0:
            out.append(a[0] / b[0])
    return out


def judge(values: list[float], goal: float, higher: bool, unit: str, fmt: str = "{:.1f}") -> str:
    """Met or not on the median, and by how much."""
    if not values:
        return "not measured"
    mid = statistics.median(values)
    met = mid >= goal if higher else mid <= goal
    word = "**met**" if met else "**not met**"
    how = (mid / goal) if higher else (goal / mid if mid else float("inf"))
    margin = f"{how:.2f}x the target" if met else f"{(1 - how) * 100:.0f}% short"
    return f"{word}: {_spread(values, fmt)}{unit} against {fmt.format(goal)}{unit} ({margin})"


def markdown(result: dict[str, Any], command: str) -> str:
    plan = result["plan"]
    loads = [x for r in result["rows"] for x in r["load"]]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(result["started"]))
    minutes = (result["finished"] - result["started"]) / 60
    targets = plan["targets"]
    method = [
        f"`{command}`: run of {when}, {minutes:.0f} minutes, {result['cpus']} vCPU, load average "
        f"{min(loads):.2f}-{max(loads):.2f} during the measurements. Each server under test (with every process "
        "it starts, and its Valkey) on core 0, `wrk` on core 1; the targets one after the other within each run; "
        f"{plan['runs']} run(s) of {plan['seconds']:.0f} s per target and connection count, each after "
        f"{plan['warmup']:.0f} s of warm-up. The same ~300-character Vietnamese comment everywhere.",
        "duyet: its own embedded Valkey, AOF `appendfsync always`; captchas pre-issued in test mode (one per "
        "request), so every 202 was captcha-checked and consumed, validated, scored, stored and queued durably.",
    ]
    if "isso" in targets:
        method.append(
            f"Isso {result['isso_version']}: its own virtualenv, SQLite, guard and moderation off, werkzeug's "
            "threaded server as `isso run` starts it."
            if result["isso_version"]
            else "Isso: not installed, so not measured."
        )
    if "duyet-limits" in targets:
        method.append(
            "Rate limits on: each request from its own reader address (X-Forwarded-For from a trusted proxy), at "
            f"most {PER_ARTICLE} per article, so the counters cost what they cost and none is refused."
        )
    if "duyet-flow" in targets:
        method.append(
            "The reader's flow (rate limits off) is chained in wrk (one connection per thread, so each thread is "
            "one reader); "
            f"a fresh server with {plan['flow_pool']:,} captchas pre-rendered in its pool for each connection count."
        )
    if "duyet-2w" in targets:
        method.append("With 2 workers the server has both cores and wrk (2 threads) shares them.")
    method.append("CPU per request from /proc: the server with every process it started, and Valkey.")
    lines = [
        "### Side by side: the aiohttp ceiling, Isso and duyet, one run, same cores",
        "",
        " ".join(method),
        "",
        "| target | conns | req/s: median (min-max) | p50 ms | p99 ms | p99.9 ms | errors | server CPU ms/req "
        "| Valkey CPU ms/req |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for target in plan["targets"]:
        for c in plan["connections"]:
            rows = _rows(result, target, c)
            if not rows:
                continue
            lat = {q: [r["latency_us"][q] / 1000 for r in rows] for q in ("p50", "p99", "p999")}
            errors = sum(r["non2xx"] + r["socket_errors"] for r in rows)
            exhausted = sum(r["counters"].get("exhausted", 0) for r in rows)
            per_req = {
                k: [r["cpu"].get(k, 0.0) * 1000 / max(r["requests"], 1) for r in rows] for k in ("server", "valkey")
            }
            valkey = _spread(per_req["valkey"], "{:.2f}") if target.startswith("duyet") else "-"
            lines.append(
                f"| {LABELS[target]} | {c} | {_spread([r['rate'] for r in rows])} | {_spread(lat['p50'], '{:.1f}')} | "
                f"{_spread(lat['p99'], '{:.1f}')} | {_spread(lat['p999'], '{:.1f}')} | {errors:,}"
                + (f" (captchas ran out {exhausted}x)" if exhausted else "")
                + f" | {_spread(per_req['server'], '{:.2f}')} | {valkey} |"
            )
    flows = [r for r in result["rows"] if r["target"] == "duyet-flow" and "flows" in r]
    if flows:
        lines += ["", "| reader's flow | conns | flows/s | flow p50 ms | flow p99 ms | captchas rendered on demand |"]
        lines.append("|---|---|---|---|---|---|")
        for c in plan["connections"]:
            rows = [r for r in flows if r["connections"] == c]
            if rows:
                lines.append(
                    f"| issue + image + submit | {c} | {_spread([r['flows']['rate'] for r in rows])} | "
                    f"{_spread([r['flows']['p50'] for r in rows], '{:.1f}')} | "
                    f"{_spread([r['flows']['p99'] for r in rows], '{:.1f}')} | "
                    f"{sum(r.get('rendered', 0) for r in rows)} |"
                )
    lines += ["", "| ratio, within each run | " + " | ".join(f"{c} conns" for c in plan["connections"]) + " |"]
    lines.append("|---|" + "---|" * len(plan["connections"]))
    for label, top, bottom, fmt in (
        ("duyet / Isso", "duyet", "isso", "{:.1f}x"),
        ("duyet / ceiling", "duyet", "hello", "{:.1%}"),
        ("duyet, rate limits on / off", "duyet-limits", "duyet", "{:.2f}x"),
        ("duyet, 2 workers / 1", "duyet-2w", "duyet", "{:.2f}x"),
    ):
        cells = [ratios(result, top, bottom, c) for c in plan["connections"]]
        if any(cells):
            lines.append(f"| {label} | " + " | ".join(_spread(v, fmt) if v else "-" for v in cells) + " |")
    lines += ["", "Targets (issue 21), on the median of the runs:"]
    for c in plan["connections"]:
        lines.append(
            f"- duyet >= 10x Isso at {c} connections: " + judge(ratios(result, "duyet", "isso", c), 10, True, "x")
        )
    for c in plan["connections"]:
        share = [100 * v for v in ratios(result, "duyet", "hello", c)]
        lines.append(f"- duyet >= 10% of the ceiling at {c} connections: " + judge(share, 10, True, "%"))
    p99 = [r["latency_us"]["p99"] / 1000 for r in _rows(result, "duyet", 16)]
    lines.append("- p99 <= 25 ms at 16 connections (rate limits off): " + judge(p99, 25, False, " ms"))
    p99_on = [r["latency_us"]["p99"] / 1000 for r in _rows(result, "duyet-limits", 16)]
    if p99_on:
        lines.append("- the same with rate limits on: " + judge(p99_on, 25, False, " ms"))
    lines += [f"- {note}" for note in result["notes"]]
    return "\n".join(lines) + "\n"


def write_section(path: Path, markers: tuple[str, str], body: str, heading: str = "## Submission") -> None:
    """Replace the text between `markers` in `path` (added at the end of `heading`'s section when absent)."""
    text = path.read_text()
    start, end = markers
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        after = text.index(heading + "\n") + len(heading)
        at = text.find("\n## ", after) + 1 or len(text)
        text = text[:at] + block + "\n\n" + text[at:]
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per target and connection count")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up before each (not counted)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--targets", default=",".join(LABELS), help="comma-separated: " + ", ".join(LABELS))
    parser.add_argument("--captcha-rate", type=int, default=6000, help="captchas pre-issued per second of a run")
    parser.add_argument("--flow-pool", type=int, default=8000, help="captchas pre-rendered for each flow run")
    parser.add_argument("--write", default=str(ROOT / "BENCHMARKS.md"), help="the Markdown file to update ('-': none)")
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("taskset"):
        sys.exit("compare.py needs wrk and taskset (Debian: apt-get install wrk util-linux)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("compare.py needs 2 cores: the server on one, wrk on the other")
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    unknown = [t for t in targets if t not in LABELS]
    if unknown:
        sys.exit(f"unknown target(s) {unknown}; choose from {', '.join(LABELS)}")
    plan = Plan(
        seconds=args.seconds,
        warmup=args.warmup,
        runs=args.runs,
        connections=tuple(int(c) for c in args.connections.split(",")),
        captcha_rate=args.captcha_rate,
        flow_pool=args.flow_pool,
        targets=targets,
    )
    result = run_all(plan)
    OUT.mkdir(exist_ok=True)
    (OUT / "compare.json").write_text(json.dumps(result, indent=1))
    text = markdown(result, " ".join([".venv/bin/python bench/compare.py", *sys.argv[1:]]))
    print("\n" + text)
    if args.write != "-":
        write_section(Path(args.write), MARKERS, text)
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
