"""The README's command lines work as written, pasted into a shell after `make run`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def readme_commands() -> list[str]:
    """Every line of a shell block of the README that runs the `duyet` command of the virtualenv."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if ".venv/bin/duyet" in line]


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dy-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_readme_shows_commands() -> None:
    """The check below has something to check: the README lists the operator commands."""
    assert len(readme_commands()) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("line", readme_commands())
def test_a_readme_command_runs_as_written(line: str, data_dir: Path) -> None:
    """Each line, run by a shell from the project directory (its own data dir, no REDIS_URL), exits 0."""
    if not (ROOT / ".venv" / "bin" / "duyet").exists():
        pytest.skip("no .venv: run `make install` first")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["DUYET_DATA_DIR"] = str(data_dir)
    began = time.monotonic()
    done = subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    if "retrain" not in line:  # a command that does not train starts and ends quickly
        assert time.monotonic() - began < 30
