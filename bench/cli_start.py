"""How long the `duyet` command takes to start, for commands that do not train.

    .venv/bin/python bench/cli_start.py [--runs 5]

Each command runs in a fresh process against a fresh data directory (so `moderators list` also
starts and stops the embedded Valkey, as it does when the service is not running). Prints the
median and the slowest of the runs, and the load average, for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DUYET = ROOT / ".venv" / "bin" / "duyet"
COMMANDS = [["--help"], ["model", "--help"], ["retrain", "--help"], ["moderators", "list"], ["bans", "list"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    data = Path(tempfile.mkdtemp(prefix="dy-"))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {"DUYET_DATA_DIR": str(data)}
    try:
        for command in COMMANDS:
            times = []
            for _ in range(args.runs):
                began = time.perf_counter()
                subprocess.run([str(DUYET), *command], env=env, check=True, capture_output=True)
                times.append(time.perf_counter() - began)
            print(f"duyet {' '.join(command):<20} median {statistics.median(times):.2f} s, slowest {max(times):.2f} s")
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
