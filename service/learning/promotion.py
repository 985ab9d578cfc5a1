"""The promotion gate: a challenger replaces the current model only if it is not worse.

Both models are judged on the same held-out data. A challenger passes only if it is not worse
than the current model on macro-F1 and on spam recall at a fixed false-positive rate, each within
a configurable margin (`DUYET_RETRAIN_MARGIN_F1`, `DUYET_RETRAIN_MARGIN_RECALL`, `DUYET_RETRAIN_FPR`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from service.learning.training import metrics
from service.settings import Settings


@dataclass(frozen=True)
class Policy:
    """The promotion gate: how much worse a challenger may be (0 = not worse at all)."""

    fpr: float = 0.01
    margin_f1: float = 0.0
    margin_recall: float = 0.0
    holdout_share: float = 0.2

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(s.retrain_fpr, s.retrain_margin_f1, s.retrain_margin_recall, s.retrain_holdout_share)


def recall_at_fpr(y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], fpr: float) -> float:
    """Share of spam scored above the strictest threshold that flags at most `fpr` of ham."""
    spam, ham = proba[y == 1], np.sort(proba[y == 0])[::-1]
    if not len(spam):
        return float("nan")
    k = int(np.floor(fpr * len(ham)))
    if k >= len(ham):
        return 1.0
    return float((spam > ham[k]).mean())


def evaluate(
    y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], thresholds: dict[str, float], fpr: float
) -> dict[str, Any]:
    m = metrics(y, proba, thresholds)
    m["recall_at_fpr"] = recall_at_fpr(y, proba, fpr)
    m["fpr"] = fpr
    return m


@dataclass
class Gate:
    passed: bool
    reasons: list[str] = field(default_factory=list)


def gate(current: dict[str, Any] | None, challenger: dict[str, Any], policy: Policy) -> Gate:
    """Not worse on macro-F1 and on spam recall at the configured false-positive rate."""
    if current is None:
        return Gate(True, ["no current model could be evaluated"])
    reasons: list[str] = []
    ok = True
    for key, margin, label in (
        ("macro_f1", policy.margin_f1, "macro-F1"),
        ("recall_at_fpr", policy.margin_recall, f"spam recall at FPR {policy.fpr:g}"),
    ):
        c, n = float(current[key]), float(challenger[key])
        if np.isnan(n) or (not np.isnan(c) and n < c - margin - 1e-12):
            ok = False
            reasons.append(f"{label} {n:.4f} is worse than the current {c:.4f} (margin {margin:g})")
        else:
            reasons.append(f"{label} {n:.4f} vs current {c:.4f}: not worse (margin {margin:g})")
    return Gate(ok, reasons)
