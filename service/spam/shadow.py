"""Shadow mode: the current model answers; a candidate scores the same comments beside it.

`ShadowingScorer` answers with the current model and, when a shadow version is set, scores the
same input with the candidate in the background (its own micro-batches and thread), counting
verdict agreement; the answer and its latency are unaffected.
"""

from __future__ import annotations

import asyncio
from typing import Any

from service.metrics import Metrics
from service.spam.model import SpamInput, SpamModel, SpamScore
from service.spam.scorer import SpamScorer

OUTCOMES = ("agree", "disagree", "error")


class ShadowingScorer(SpamScorer):
    """The app's scorer: the current model answers; a shadow candidate, if any, scores beside it."""

    def __init__(self, model: SpamModel | None = None, metrics: Metrics | None = None, **kwargs: Any) -> None:
        super().__init__(model, metrics=metrics, **kwargs)
        self._shadow: SpamScorer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.shadow_counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)

    @property
    def shadow_version(self) -> str | None:
        return self._shadow.version if self._shadow is not None else None

    async def set_shadow(self, model: SpamModel | None) -> None:
        """Start shadowing with `model` (counts restart from zero), or stop (None)."""
        old, self._shadow = self._shadow, (SpamScorer(model) if model is not None else None)
        self.shadow_counts = dict.fromkeys(OUTCOMES, 0)
        if old is not None:
            await old.close()

    async def score(self, inp: SpamInput) -> SpamScore:
        result = await super().score(inp)
        shadow = self._shadow
        if shadow is not None:
            task = asyncio.get_running_loop().create_task(self._compare(shadow, inp, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return result

    async def _compare(self, shadow: SpamScorer, inp: SpamInput, current: SpamScore) -> None:
        try:
            candidate = await shadow.score(inp)
            outcome = "agree" if candidate.verdict == current.verdict else "disagree"
        except Exception:  # the shadow must never matter to anyone but its counters
            outcome = "error"
        if shadow is not self._shadow:
            return  # shadowing changed meanwhile: these counts belong to the old candidate
        self.shadow_counts[outcome] += 1
        if self._metrics is not None:
            self._metrics.shadow.labels(outcome).inc()

    async def drain_shadow(self) -> None:
        """Wait for shadow scores still in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def shadow_report(self) -> dict[str, Any]:
        counts = dict(self.shadow_counts)
        return {"version": self.shadow_version, **counts, "total": sum(counts.values())}

    async def close(self) -> None:
        await self.drain_shadow()
        await super().close()
        if self._shadow is not None:
            await self._shadow.close()
