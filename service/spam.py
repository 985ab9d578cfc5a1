"""INTERIM placeholder with the agreed interface; the spam-model work replaces this file.

Until a real model artifact exists, loading fails cleanly and the service stays not ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SpamInput:
    name: str
    title: str
    content: str
    had_markup: bool = False
    seconds_to_submit: float | None = None


@dataclass(frozen=True)
class Reason:
    code: str
    vi: str
    en: str
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpamScore:
    probability: float
    verdict: str
    reasons: tuple[Reason, ...]
    model_version: str


class ModelNotReady(Exception):
    pass


class ModelLoadError(Exception):
    pass


class SpamModel:
    version = "none"
    card: dict[str, Any] = {}

    @classmethod
    def load(cls, path: Path) -> SpamModel:
        raise ModelLoadError(f"no model artifact at {path} yet")

    def score_batch(self, inputs: list[SpamInput]) -> list[SpamScore]:
        raise ModelNotReady("no model")


class SpamScorer:
    def __init__(self, model: SpamModel | None = None, max_batch: int = 64, max_wait_ms: float = 2.0) -> None:
        self._model = model

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def version(self) -> str | None:
        return self._model.version if self._model else None

    def swap(self, model: SpamModel) -> None:
        self._model = model

    async def score(self, inp: SpamInput) -> SpamScore:
        if self._model is None:
            raise ModelNotReady("the spam model is not loaded")
        return self._model.score_batch([inp])[0]

    async def close(self) -> None:
        return None


def load_model_safely(path: Path) -> tuple[SpamModel | None, str | None]:
    try:
        return SpamModel.load(path), None
    except ModelLoadError as exc:
        return None, str(exc)
