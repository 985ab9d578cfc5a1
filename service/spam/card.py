"""The model card: the JSON file beside an artifact that vouches for it (version, SHA-256 of the
artifact, thresholds, metrics). Reading it needs no scikit-learn, so the registry and the
`duyet model` command use it without loading the training stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ModelLoadError(Exception):
    """The artifact is missing, corrupt, tampered with, or holds types we do not trust."""


def card_path(artifact: Path) -> Path:
    """The model card lives beside the artifact: `spam-model.skops` -> `spam-model.card.json`."""
    return artifact.with_suffix(".card.json")


def read_card(path: Path) -> dict[str, Any]:
    card_file = card_path(path)
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model card {card_file} is missing; refusing an artifact nobody vouched for") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"model card {card_file} is unreadable: {exc}") from exc
    if not isinstance(card, dict):
        raise ModelLoadError(f"model card {card_file} is not a JSON object")
    return card


def thresholds(card: dict[str, Any], where: Path) -> dict[str, float]:
    try:
        t = {"suspect": float(card["thresholds"]["suspect"]), "spam": float(card["thresholds"]["spam"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"model card {card_path(where)} has no valid thresholds: {exc!r}") from exc
    if not 0.0 <= t["suspect"] <= t["spam"] <= 1.0:
        raise ModelLoadError(f"model card {card_path(where)}: expected 0 <= suspect <= spam <= 1, got {t}")
    return t
