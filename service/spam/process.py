"""The scoring process: a process of its own that loads the same verified artifact and scores
batches there, so scoring never holds the GIL the event loop needs.

Everything here but `start_pool` runs inside that process.
"""

from __future__ import annotations

import os
from pathlib import Path

from service import tasks as background
from service.spam.card import ModelLoadError
from service.spam.model import SpamInput, SpamModel, SpamScore

# The models the scoring process has loaded, by version (the current one, a shadow, the one
# before a swap; older ones are dropped).
_WORKER_MODELS: dict[str, SpamModel] = {}
WORKER_KEEP = 3


class NotInProcess(Exception):
    """The scoring process does not hold the model asked for (it was replaced, or dropped it)."""


def start_pool() -> tuple[background.WorkerPool, int]:
    """Start the scoring process and wait until it runs (in a thread: forking takes tens of ms).
    forkserver: the process never inherits the event loop, sockets or threads of this one."""
    pool = background.WorkerPool(1, "forkserver")
    try:
        return pool, pool.submit(os.getpid).result(timeout=60)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def load_in_worker(path: str, version: str) -> None:
    """Scoring process: verify and load the artifact the parent scores with (the same checks)."""
    if version in _WORKER_MODELS:
        return
    model = SpamModel.load(Path(path))
    if model.version != version:
        raise ModelLoadError(f"{path} now holds model {model.version}, not {version}")
    _WORKER_MODELS[version] = model
    while len(_WORKER_MODELS) > WORKER_KEEP:
        del _WORKER_MODELS[next(iter(_WORKER_MODELS))]


def score_in_worker(version: str, inputs: list[SpamInput]) -> list[SpamScore]:
    # Never loads here: a load takes ~1 s, and would hold every batch queued behind this one.
    model = _WORKER_MODELS.get(version)
    if model is None:
        raise NotInProcess(version)
    return model.score_batch(inputs)
