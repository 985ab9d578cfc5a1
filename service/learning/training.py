"""Train and evaluate the spam model; `train` makes the shipped seed model (`duyet train`).

Never imported on the request path: serving needs only `service.spam`. The training data is in
`corpus`, writing the artifact and its card in `persistence`, the report in `report`.

The model: `CommentFeatures` (char n-grams of the folded text, word n-grams, name, cheap signals)
-> a linear SVM, calibrated by Platt scaling on 5-fold out-of-fold scores (sklearn's
`CalibratedClassifierCV` shape, one final estimator). The same out-of-fold probabilities choose the
`suspect` and `spam` thresholds, so thresholds never see the data they are judged on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV, _CalibratedClassifier, _SigmoidCalibration
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from service.learning.corpus import Labelled, file_sha256, load_corpus
from service.learning.persistence import Fitted, save
from service.learning.report import per_category, write_report
from service.spam.features import CommentFeatures, records

RANDOM_STATE = 0
FOLDS = 5
# Share of ham the `spam` verdict may take on validation data, and of spam `suspect` must catch.
MAX_HAM_AS_SPAM = 0.003
SUSPECT_RECALL = 0.98
# Candidate weights of the cheap-signal block, chosen per training set by out-of-fold MCC.
SIGNAL_WEIGHTS = (1.0, 0.3)

LINEAR = LinearSVC(C=1.0, random_state=RANDOM_STATE)


def build_pipeline(**feature_params: Any) -> Pipeline:
    """The uncalibrated pipeline: features -> linear SVM."""
    return Pipeline([("features", CommentFeatures(**feature_params)), ("linear", clone(LINEAR))])


def _folds(y: npt.NDArray[np.int_]) -> StratifiedKFold:
    n_min = int(min(np.bincount(y, minlength=2)))
    return StratifiedKFold(n_splits=max(2, min(FOLDS, n_min)), shuffle=True, random_state=RANDOM_STATE)


def _weigh(matrix: sparse.csr_matrix, start: int, weight: float) -> sparse.csr_matrix:
    """`matrix` with its signal columns (from `start`) scaled by `weight`: the very numbers
    `CommentFeatures(signal_weight=weight)` gives (the same float32 product)."""
    out = matrix.copy()
    out.data[out.indices >= start] *= np.float32(weight)
    return out


def fit(
    data: Labelled, *, progress: bool = True, max_ham_as_spam: float = MAX_HAM_AS_SPAM, **feature_params: Any
) -> Fitted:
    """Fit the calibrated model; choose thresholds on out-of-fold probabilities.

    Unless `signal_weight` is given, it is chosen among `SIGNAL_WEIGHTS` by out-of-fold MCC on the
    training data (how much the cheap signals should count depends on the traffic: links decide a
    lot on a news portal, little where every comment quotes a video link).

    The out-of-fold decision scores of the chosen weight serve twice: the Platt sigmoid is fitted on
    them (what `CalibratedClassifierCV(cv=..., ensemble=False)` does, without fitting every fold
    again), and so are the thresholds. The base pipeline is then fitted once on all the data.
    """
    from tqdm import tqdm  # only here: the `duyet` command starts without it

    if len(set(data.y.tolist())) < 2:
        raise ValueError("training data needs both ham and spam examples")
    X = records(data.rows)
    y = data.y
    cv = _folds(y)
    splits = list(cv.split(X, y))
    weights = [feature_params.pop("signal_weight")] if "signal_weight" in feature_params else list(SIGNAL_WEIGHTS)
    best: tuple[float, float, npt.NDArray[np.float64]] | None = None
    steps = len(splits) * (1 + len(weights))
    with tqdm(total=steps, desc="validation folds", disable=not progress, leave=False) as bar:
        # The features are fitted without labels and the weight only scales the signal columns:
        # one feature fit per fold serves every candidate weight.
        folds = []
        for train_idx, test_idx in splits:
            features = CommentFeatures(**feature_params).fit(X[train_idx])
            start = int(features.block_starts_[3])
            train_m, test_m = features.transform(X[train_idx]), features.transform(X[test_idx])
            folds.append((train_idx, test_idx, train_m, test_m, start))
            bar.update()
        for weight in weights:
            oof = np.zeros(len(data), dtype=float)
            for train_idx, test_idx, train_m, test_m, start in folds:
                linear = clone(LINEAR).fit(_weigh(train_m, start, weight), y[train_idx])
                oof[test_idx] = linear.decision_function(_weigh(test_m, start, weight))
                bar.update()
            score = float(_mcc_at(np.sort(oof[y == 1]), np.sort(oof[y == 0]), np.unique(oof)).max())
            if best is None or score > best[0] + 1e-9:
                best = (score, weight, oof)
    assert best is not None
    _, weight, oof = best
    with tqdm(total=1, desc="final model", disable=not progress, leave=False) as bar:
        base = build_pipeline(signal_weight=weight, **feature_params).fit(X, y)
        bar.update()
    calibrator = _SigmoidCalibration().fit(oof, y)
    classes = np.unique(y)
    # The artifact keeps sklearn's CalibratedClassifierCV shape (one base estimator, one sigmoid),
    # so `predict_proba` and the serving loader read it as before.
    unfitted = build_pipeline(signal_weight=weight, **feature_params)
    model = CalibratedClassifierCV(unfitted, method="sigmoid", cv=cv, ensemble=False)
    model.classes_ = classes
    model.calibrated_classifiers_ = [_CalibratedClassifier(base, [calibrator], classes=classes, method="sigmoid")]
    oof_proba = np.asarray(calibrator.predict(oof), dtype=float)
    thresholds = choose_thresholds(y, oof_proba, max_ham_as_spam=max_ham_as_spam)
    validation = metrics(y, oof_proba, thresholds)
    return Fitted(model, thresholds, validation)


def choose_thresholds(
    y: npt.NDArray[np.int_],
    proba: npt.NDArray[np.float64],
    *,
    max_ham_as_spam: float = MAX_HAM_AS_SPAM,
    suspect_recall: float = SUSPECT_RECALL,
) -> dict[str, float]:
    """Thresholds from validation probabilities.

    `spam`: the best MCC among thresholds that flag at most `max_ham_as_spam` of ham, a budget
    enforced only when validation holds enough ham to measure it (budget x ham >= 5); when several
    thresholds tie (a clean gap between the classes), the middle of the tie, not its edge.
    `suspect`: the highest threshold that still catches `suspect_recall` of spam; if that is not
    below `spam` (separable validation data), halfway between `spam` and the 98th percentile of
    ham, so there is always a band for a closer look.
    """
    ham = np.sort(proba[y == 0])[::-1]
    spam = np.sort(proba[y == 1])
    # Enforce the ham budget only where validation can measure it (5 or more ham within budget);
    # on a small set "at most 0.3%" would mean "no ham at all" and chase a single outlier.
    budget = max_ham_as_spam * len(ham)
    allowed = int(budget) if budget >= 5 else len(ham)
    floor = float(ham[allowed]) if len(ham) > allowed else 0.0
    # Candidate thresholds: midpoints between consecutive distinct scores above the floor.
    scores = np.unique(np.concatenate([proba, [floor, 1.0]]))
    mids = (scores[:-1] + scores[1:]) / 2
    mids = mids[mids > floor]
    if not len(mids):
        mids = np.asarray([1.0])
    mccs = _mcc_at(np.sort(proba[y == 1]), np.sort(proba[y == 0]), mids)
    best = np.flatnonzero(mccs >= mccs.max() - 1e-12)
    t_spam = float((mids[best[0]] + mids[best[-1]]) / 2)
    k = int(np.floor((1.0 - suspect_recall) * len(spam)))
    t_suspect = float(spam[k]) if len(spam) else t_spam
    if t_suspect >= t_spam:
        t_suspect = (t_spam + float(np.quantile(ham, 0.98))) / 2 if len(ham) else t_spam / 2
    return {"suspect": round(min(t_suspect, t_spam), 6), "spam": round(t_spam, 6)}


def _mcc_at(
    spam: npt.NDArray[np.float64], ham: npt.NDArray[np.float64], thresholds: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """MCC of `score >= t` for every t at once (both score arrays sorted ascending)."""
    tp = len(spam) - np.searchsorted(spam, thresholds, side="left").astype(np.float64)
    fp = len(ham) - np.searchsorted(ham, thresholds, side="left").astype(np.float64)
    fn, tn = len(spam) - tp, len(ham) - fp
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        mcc = np.where(den > 0, (tp * tn - fp * fn) / np.where(den > 0, den, 1.0), 0.0)
    return np.asarray(mcc, dtype=np.float64)


def metrics(y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], thresholds: dict[str, float]) -> dict[str, Any]:
    """Binary metrics of the `spam` verdict, ranking metrics of the probability."""
    pred = (proba >= thresholds["spam"]).astype(int)
    both = len(set(y.tolist())) == 2
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel())
    suspect_or_spam = proba >= thresholds["suspect"]
    return {
        "n": len(y),
        "n_spam": int(y.sum()),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "mcc": float(matthews_corrcoef(y, pred)),
        "accuracy": float(accuracy_score(y, pred)),
        "ham_flagged_spam": fp / max(tn + fp, 1),
        "roc_auc": float(roc_auc_score(y, proba)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, proba)) if both else float("nan"),
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "suspect_or_spam_recall": float(suspect_or_spam[y == 1].mean()) if y.sum() else float("nan"),
        "ham_suspect_or_spam": float(suspect_or_spam[y == 0].mean()) if (y == 0).any() else float("nan"),
    }


def predict_proba(
    model: CalibratedClassifierCV, data: Labelled, *, progress: bool = True, batch: int = 512
) -> npt.NDArray[np.float64]:
    from tqdm import tqdm

    X = records(data.rows)
    out = np.zeros(len(data), dtype=float)
    for start in tqdm(range(0, len(data), batch), desc="scoring", disable=not progress, leave=False):
        out[start : start + batch] = model.predict_proba(X[start : start + batch])[:, 1]
    return out


# ----------------------------------------------------------------------------- the seed model
def train(corpus: Path, artifact: Path, report: Path | None, *, progress: bool = True) -> dict[str, Any]:
    """Corpus -> artifact + card + report. The model is trained on the `train` split only, so the
    test metrics in its card describe the very artifact that ships."""
    train_set = load_corpus(corpus, "train")
    test_set = load_corpus(corpus, "test")
    fitted = fit(train_set, progress=progress)
    test_proba = predict_proba(fitted.model, test_set, progress=progress) if len(test_set) else None
    test_metrics = metrics(test_set.y, test_proba, fitted.thresholds) if test_proba is not None else None
    card = save(
        fitted,
        artifact,
        data_sha256=file_sha256(corpus),
        test=test_metrics,
        extra={
            "data": {
                "corpus": corpus.name,
                "n_train": len(train_set),
                "n_test": len(test_set),
                "split": "whole generator families held out for test (models/CORPUS.md)",
            }
        },
    )
    if report is not None:
        sections = [("validation (out-of-fold, train)", fitted.validation)]
        if test_metrics:
            sections.append(("test (held-out families)", test_metrics))
        write_report(
            report,
            title=f"Spam model {card['version']}: training report",
            sections=sections,
            thresholds=fitted.thresholds,
            y=test_set.y if test_proba is not None else None,
            proba=test_proba,
            notes=[
                f"Corpus `{corpus.name}` (sha256 `{card['data_sha256'][:16]}…`): "
                f"{len(train_set)} train, {len(test_set)} test examples.",
                f"Artifact `{artifact.name}` sha256 `{card['artifact_sha256']}`.",
                f"Libraries: {', '.join(f'{k} {v}' for k, v in card['libraries'].items())}.",
            ],
            per_category=per_category(test_set, test_proba, fitted.thresholds) if test_proba is not None else None,
        )
    return card
