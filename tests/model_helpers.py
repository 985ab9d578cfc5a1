"""Tiny spam models for the retraining tests, trained once per test process in a temp directory."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from service.learning import training

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "models" / "seed_corpus.jsonl"


def small_corpus(target: Path, start: int, step: int = 20) -> Path:
    """Every `step`-th line of the seed corpus (both splits), ~230 examples."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    target.write_text("\n".join(lines[start::step]) + "\n", encoding="utf-8")
    return target


@functools.cache
def tiny_models() -> tuple[Path, Path]:
    """Two different small models (A, B), each with its card beside it."""
    tmp = Path(tempfile.mkdtemp(prefix="dy-models-"))
    out = []
    for name, start in (("a", 0), ("b", 7)):
        (tmp / name).mkdir()
        corpus = small_corpus(tmp / name / "corpus.jsonl", start)
        artifact = tmp / name / "spam-model.skops"
        training.train(corpus, artifact, None, progress=False)
        out.append(artifact)
    return out[0], out[1]
