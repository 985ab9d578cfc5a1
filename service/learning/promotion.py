"""The promotion gate: a challenger replaces the current model only if moderators' own decisions
say it is not worse.

The gate judges on **real decisions only**: the newest decisions the current model has not learned
from (see `retraining.split_by_time`). Both models score them; a paired bootstrap (the same
resampled comments for both, `BOOTSTRAP` rounds) gives a 90% interval of the difference
challenger - current in ROC-AUC and in spam recall at the policy's false-positive rate
(`DUYET_RETRAIN_FPR`; raised to the least rate the held-out ham can measure, `MIN_HAM_FLAGGED`
of them, when they are few). The challenger passes when the lower bound of each difference is above
minus its margin (`margin_auc`, `margin_recall`): few held-out decisions give wide intervals, and
a wide interval is not mistaken for a loss or a win.

The seed corpus's test split is a **separate guard**, never pooled with the decisions: the
challenger may not lose more than `guard_auc` of ROC-AUC on it (the generator's comments still
describe what a portal sees on day one).

With fewer than `min_real` held-out decisions (or fewer than `min_real_per_class` of a class) the
gate cannot judge: it says so and keeps the current model (`--force` promotes anyway, audited).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from service.learning.training import metrics
from service.settings import Settings

# The margins and minimums (DUYET_RETRAIN_MARGIN_RECALL sets the recall margin; its default is this).
MARGIN_AUC = 0.02
MARGIN_RECALL = 0.05
GUARD_AUC = 0.02
MIN_REAL = 40
MIN_REAL_PER_CLASS = 10
BOOTSTRAP = 1000
CONFIDENCE = 0.90
SEED = 0
# Thresholds are set from real held-out decisions when they hold at least this much ham (the
# `spam` threshold then flags `fpr` of it: 200 ham at 1% is 2 comments, the least that means much).
MIN_HAM_FOR_THRESHOLDS = 200
# The `suspect` band on real decisions: the score above which this share of real ham lies.
SUSPECT_HAM_SHARE = 0.10
# Recall at the policy's FPR is read where at least this many held-out ham may be flagged.
MIN_HAM_FLAGGED = 3
# The queue is ordered by score: precision among its top share is what a moderator feels.
TOP_SHARE = 0.10


@dataclass(frozen=True)
class Policy:
    """How the gate judges; see the module docstring."""

    fpr: float = 0.01
    margin_auc: float = MARGIN_AUC
    margin_recall: float = MARGIN_RECALL
    guard_auc: float = GUARD_AUC
    holdout_share: float = 0.2
    min_real: int = MIN_REAL
    min_real_per_class: int = MIN_REAL_PER_CLASS
    bootstrap: int = BOOTSTRAP
    confidence: float = CONFIDENCE

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            fpr=s.retrain_fpr,
            margin_recall=s.retrain_margin_recall,
            holdout_share=s.retrain_holdout_share,
        )


def recall_at_fpr(y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], fpr: float) -> float:
    """Share of spam scored above the strictest threshold that flags at most `fpr` of ham."""
    spam, ham = proba[y == 1], np.sort(proba[y == 0])[::-1]
    if not len(spam) or not len(ham):
        return float("nan")
    k = int(np.floor(fpr * len(ham)))
    if k >= len(ham):
        return 1.0
    return float((spam > ham[k]).mean())


def roc_auc(y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64]) -> float:
    """ROC-AUC by ranks (Mann-Whitney; ties count half): cheap enough for a thousand resamples."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(proba)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_top(y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], share: float = TOP_SHARE) -> float:
    """Share of spam among the `share` highest-scored comments: the top of the review queue."""
    if not len(y):
        return float("nan")
    k = max(1, round(share * len(y)))
    order = np.argsort(-proba, kind="stable")[:k]
    return float(y[order].mean())


def evaluate(
    y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], thresholds: dict[str, float], fpr: float
) -> dict[str, Any]:
    m = metrics(y, proba, thresholds)
    m["recall_at_fpr"] = recall_at_fpr(y, proba, fpr)
    m["fpr"] = fpr
    m["precision_top10"] = precision_at_top(y, proba)
    return m


def measurable_fpr(fpr: float, n_ham: int) -> float:
    """The policy's FPR, or the smallest rate `n_ham` held-out ham can measure (`MIN_HAM_FLAGGED`
    of them): with 60 ham, "1%" would be the single highest-scored ham, one outlier's verdict."""
    return max(fpr, MIN_HAM_FLAGGED / n_ham) if n_ham else fpr


def _interval(values: npt.NDArray[np.float64], confidence: float) -> list[float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return [float("nan"), float("nan")]
    tail = (1 - confidence) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def paired_bootstrap(
    y: npt.NDArray[np.int_],
    current: npt.NDArray[np.float64],
    challenger: npt.NDArray[np.float64],
    policy: Policy,
) -> dict[str, Any]:
    """Both models' ROC-AUC and recall at the policy's FPR with intervals, and the intervals of the
    differences (challenger - current), from the same resamples of the held-out decisions."""
    rng = np.random.default_rng(SEED)
    n = len(y)
    fpr = measurable_fpr(policy.fpr, n - int(y.sum()))
    draws = np.full((policy.bootstrap, 4), np.nan)
    for b in range(policy.bootstrap):
        idx = rng.integers(0, n, n)
        yb = y[idx]
        if yb.min() == yb.max():
            continue
        draws[b] = (
            roc_auc(yb, current[idx]),
            roc_auc(yb, challenger[idx]),
            recall_at_fpr(yb, current[idx], fpr),
            recall_at_fpr(yb, challenger[idx], fpr),
        )
    c = policy.confidence
    out: dict[str, Any] = {"n": n, "n_spam": int(y.sum()), "resamples": policy.bootstrap, "confidence": c, "fpr": fpr}
    for name, ci, hi in (("roc_auc", 0, 1), ("recall_at_fpr", 2, 3)):
        point_c = roc_auc(y, current) if name == "roc_auc" else recall_at_fpr(y, current, fpr)
        point_h = roc_auc(y, challenger) if name == "roc_auc" else recall_at_fpr(y, challenger, fpr)
        out[name] = {
            "current": point_c,
            "current_interval": _interval(draws[:, ci], c),
            "challenger": point_h,
            "challenger_interval": _interval(draws[:, hi], c),
            "difference": point_h - point_c,
            "difference_interval": _interval(draws[:, hi] - draws[:, ci], c),
        }
    return out


@dataclass
class Gate:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    #: what the verdict rests on, for the card: the paired comparison, the guard, the policy
    evidence: dict[str, Any] = field(default_factory=dict)


def enough_real(y: npt.NDArray[np.int_], policy: Policy) -> bool:
    n_spam = int(y.sum())
    return len(y) >= policy.min_real and min(n_spam, len(y) - n_spam) >= policy.min_real_per_class


def gate(
    y_real: npt.NDArray[np.int_],
    current_real: npt.NDArray[np.float64] | None,
    challenger_real: npt.NDArray[np.float64],
    guard: tuple[float, float] | None,
    policy: Policy,
) -> Gate:
    """The verdict. `guard`: (current, challenger) ROC-AUC on the seed test split, or None."""
    evidence: dict[str, Any] = {"policy": asdict(policy), "n_real_holdout": len(y_real)}
    reasons: list[str] = []
    ok = True
    if guard is not None:
        cur_g, ch_g = guard
        evidence["guard"] = {"metric": "roc_auc on the seed test split", "current": cur_g, "challenger": ch_g}
        if np.isnan(ch_g) or (not np.isnan(cur_g) and ch_g < cur_g - policy.guard_auc - 1e-12):
            ok = False
            reasons.append(
                f"seed guard: ROC-AUC {ch_g:.4f} on the seed test split loses more than {policy.guard_auc:g} "
                f"to the current {cur_g:.4f}"
            )
        else:
            reasons.append(f"seed guard: ROC-AUC {ch_g:.4f} vs current {cur_g:.4f} (may lose {policy.guard_auc:g})")
    if current_real is None:  # nothing in use to lose to (no model, or one that cannot score)
        evidence["verdict"] = "passed (no current model to compare)"
        return Gate(ok, ["no current model could be evaluated", *reasons], evidence)
    if not enough_real(y_real, policy):
        n_spam = int(y_real.sum())
        evidence["verdict"] = "not enough real decisions"
        reasons.insert(
            0,
            f"only {len(y_real)} new real decisions held out ({n_spam} spam, {len(y_real) - n_spam} ham); the gate "
            f"needs {policy.min_real} with {policy.min_real_per_class} of each class: keeping the current model",
        )
        return Gate(False, reasons, evidence)
    paired = paired_bootstrap(y_real, current_real, challenger_real, policy)
    evidence["paired"] = paired
    pct = f"{policy.confidence:.0%}"
    for key, margin, label in (
        ("roc_auc", policy.margin_auc, "ROC-AUC"),
        ("recall_at_fpr", policy.margin_recall, f"spam recall at FPR {paired['fpr']:.3g}"),
    ):
        p = paired[key]
        low, high = p["difference_interval"]
        line = (
            f"{label} on {len(y_real)} real decisions: challenger {p['challenger']:.4f} vs current "
            f"{p['current']:.4f}, difference {p['difference']:+.4f} ({pct} interval {low:+.4f} to {high:+.4f})"
        )
        if np.isnan(low) or low <= -margin:
            ok = False
            reasons.insert(0, f"{line}: lower bound not above -{margin:g}")
        else:
            reasons.insert(0, f"{line}: lower bound above -{margin:g}")
    evidence["verdict"] = "passed" if ok else "failed"
    return Gate(ok, reasons, evidence)


def real_thresholds(
    y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], policy: Policy, fallback: dict[str, float]
) -> tuple[dict[str, float], dict[str, Any]]:
    """`spam` at the policy's ham-flag rate measured on real held-out decisions (with the bootstrap
    interval of that threshold), `suspect` where `SUSPECT_HAM_SHARE` of real ham lies above; the
    training thresholds (`fallback`) when the decisions hold too little ham to measure a rate."""
    ham = proba[y == 0]
    if len(ham) < MIN_HAM_FOR_THRESHOLDS:
        return dict(fallback), {
            "source": "training data (out-of-fold)",
            "why": f"{len(ham)} real ham held out; thresholds from real decisions need {MIN_HAM_FOR_THRESHOLDS}",
        }

    def at_rate(scores: npt.NDArray[np.float64], rate: float) -> float:
        top = np.sort(scores)[::-1]
        k = int(np.floor(rate * len(top)))
        return float(np.nextafter(top[k], np.inf)) if k < len(top) else 0.0

    t_spam = at_rate(ham, policy.fpr)
    t_suspect = min(at_rate(ham, SUSPECT_HAM_SHARE), t_spam)
    rng = np.random.default_rng(SEED)
    draws = np.asarray([at_rate(ham[rng.integers(0, len(ham), len(ham))], policy.fpr) for _ in range(policy.bootstrap)])
    info = {
        "source": "real held-out decisions",
        "n_ham": len(ham),
        "ham_flag_rate": policy.fpr,
        "spam_interval": _interval(draws, policy.confidence),
        "suspect_ham_share": SUSPECT_HAM_SHARE,
    }
    return {"suspect": _up(t_suspect), "spam": _up(t_spam)}, info


def _up(t: float) -> float:
    """Rounded up to 6 places: a threshold just above a ham score stays above it."""
    return float(np.ceil(t * 1e6) / 1e6)
