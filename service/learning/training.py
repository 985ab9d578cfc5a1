"""Train, evaluate, save and report on the spam model; the `duyet train` / `duyet evaluate` commands.

Never imported on the request path: serving needs only `service.spam.model` and `service.spam.features`.

The model: `CommentFeatures` (char n-grams of the folded text, word n-grams, name, cheap signals)
-> a linear SVM, calibrated by Platt scaling on 5-fold out-of-fold scores (sklearn's
`CalibratedClassifierCV` shape, one final estimator). The same out-of-fold probabilities choose the
`suspect` and `spam` thresholds, so thresholds never see the data they are judged on.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import json
import logging
import platform
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from tqdm import tqdm

from service.spam.features import CommentFeatures, records
from service.text import normalise

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = ROOT / "models" / "seed_corpus.jsonl"
DEFAULT_ARTIFACT = ROOT / "models" / "spam-model.skops"
DEFAULT_REPORT = ROOT / "models" / "training-report.md"
RANDOM_STATE = 0
FOLDS = 5
# Share of ham the `spam` verdict may take on validation data, and of spam `suspect` must catch.
MAX_HAM_AS_SPAM = 0.003
SUSPECT_RECALL = 0.98
SPAM_VALUES = ("spam", "1", "true", "yes")
# Candidate weights of the cheap-signal block, chosen per training set by out-of-fold MCC.
SIGNAL_WEIGHTS = (1.0, 0.3)

Record = tuple[str, str, str, bool]


# ----------------------------------------------------------------------------- data
@dataclass
class Labelled:
    """Normalised comment records with labels (1 = spam) and, when known, categories."""

    rows: list[Record]
    y: npt.NDArray[np.int_]
    categories: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index: Iterable[int]) -> Labelled:
        idx = list(index)
        cats = [self.categories[i] for i in idx] if self.categories else []
        return Labelled([self.rows[i] for i in idx], self.y[idx], cats)


def make_record(name: str, title: str, content: str) -> Record:
    """Normalise raw fields exactly as the validation layer does before scoring."""
    n = normalise(name)
    t = normalise(title)
    c = normalise(content, multiline=True)
    return (n.text, t.text, c.text, n.had_markup or t.had_markup or c.had_markup)


def load_corpus(path: Path, split: str | None = None) -> Labelled:
    """The seed corpus (JSONL: name, title, content, label, category, split), optionally one split."""
    rows: list[Record] = []
    labels: list[int] = []
    cats: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            item = json.loads(line)
            if split is not None and item.get("split") != split:
                continue
            rows.append(make_record(item.get("name", ""), item.get("title", ""), item["content"]))
            labels.append(1 if str(item["label"]).lower() in SPAM_VALUES else 0)
            cats.append(str(item.get("category", "")))
    return Labelled(rows, np.asarray(labels, dtype=int), cats)


def read_labelled(
    path: Path,
    *,
    text_col: str = "content",
    label_col: str = "label",
    name_col: str | None = None,
    title_col: str | None = None,
    spam_values: Sequence[str] = SPAM_VALUES,
    fmt: str | None = None,
    no_header: bool = False,
    dedupe: bool = False,
) -> Labelled:
    """Any labelled CSV, TSV or JSONL. Columns by name, or by 0-based index with `no_header`."""
    fmt = fmt or {".jsonl": "jsonl", ".json": "jsonl", ".tsv": "tsv", ".csv": "csv"}.get(path.suffix, "tsv")
    items: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        if fmt == "jsonl":
            items = [json.loads(line) for line in fh if line.strip()]
        else:
            delimiter = "\t" if fmt == "tsv" else ","
            if no_header:
                reader = csv.reader(fh, delimiter=delimiter, quoting=csv.QUOTE_NONE if fmt == "tsv" else 0)
                items = [{str(i): v for i, v in enumerate(row)} for row in reader if row]
            else:
                items = list(csv.DictReader(fh, delimiter=delimiter))
    wanted = {v.lower() for v in spam_values}
    rows: list[Record] = []
    labels: list[int] = []
    seen: set[tuple[str, str, str]] = set()
    for item in items:
        if text_col not in item or label_col not in item:
            raise ValueError(f"{path}: no column {text_col!r} or {label_col!r}; columns: {sorted(item)}")
        raw = (
            str(item.get(name_col, "") or "") if name_col else "",
            str(item.get(title_col, "") or "") if title_col else "",
            str(item[text_col] or ""),
        )
        if dedupe:
            if raw in seen:
                continue
            seen.add(raw)
        rows.append(make_record(*raw))
        labels.append(1 if str(item[label_col]).strip().lower() in wanted else 0)
    return Labelled(rows, np.asarray(labels, dtype=int))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- model
LINEAR = LinearSVC(C=1.0, random_state=RANDOM_STATE)


def build_pipeline(**feature_params: Any) -> Pipeline:
    """The uncalibrated pipeline: features -> linear SVM."""
    return Pipeline([("features", CommentFeatures(**feature_params)), ("linear", clone(LINEAR))])


@dataclass
class Fitted:
    model: CalibratedClassifierCV
    thresholds: dict[str, float]
    validation: dict[str, Any]


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
    X = records(data.rows)
    out = np.zeros(len(data), dtype=float)
    for start in tqdm(range(0, len(data), batch), desc="scoring", disable=not progress, leave=False):
        out[start : start + batch] = model.predict_proba(X[start : start + batch])[:, 1]
    return out


# ----------------------------------------------------------------------------- persistence
def _canonical_zip(data: bytes) -> bytes:
    """skops names array files and memo ids after `id()` and stamps the clock into the zip; give
    them stable names and a fixed date, so the same training makes the same bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(src.read("schema.json"))
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = ids.setdefault(value, len(ids) + 1)
                elif key == "file" and isinstance(value, str) and value in src.namelist():
                    suffix = Path(value).suffix
                    out[key] = files.setdefault(value, f"{len(files) + 1:05d}{suffix}")
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    schema = walk(schema)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as dst:
        for old, new in sorted(files.items(), key=lambda kv: kv[1]):
            dst.writestr(
                zipfile.ZipInfo(new, date_time=(1980, 1, 1, 0, 0, 0)), src.read(old), compress_type=zipfile.ZIP_DEFLATED
            )
        dst.writestr(
            zipfile.ZipInfo("schema.json", date_time=(1980, 1, 1, 0, 0, 0)),
            json.dumps(schema, indent=1, sort_keys=False),
            compress_type=zipfile.ZIP_DEFLATED,
        )
    return buffer.getvalue()


def library_versions() -> dict[str, str]:
    import scipy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def save(
    fitted: Fitted,
    artifact: Path,
    *,
    data_sha256: str,
    test: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the artifact (skops, canonical bytes) and its card next to it; return the card."""
    import skops.io as sio

    from service.spam.model import TRUSTED, card_path

    blob = _canonical_zip(sio.dumps(fitted.model))
    untrusted = sio.get_untrusted_types(data=blob)
    unexpected = sorted(set(untrusted) - set(TRUSTED))
    if unexpected:
        raise RuntimeError(f"the model contains types the loader does not trust: {unexpected}")
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    features = fitted.model.calibrated_classifiers_[0].estimator.named_steps["features"]
    card: dict[str, Any] = {
        "name": "duyet spam model",
        "version": f"{dt.date.today():%Y.%m.%d}-{sha[:10]}",
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "artifact": artifact.name,
        "artifact_sha256": sha,
        "data_sha256": data_sha256,
        "libraries": library_versions(),
        "trusted_types": list(TRUSTED),
        "model": {
            "features": {k: list(v) if isinstance(v, tuple) else v for k, v in features.get_params().items()},
            "classifier": "LinearSVC(C=1.0), Platt sigmoid fitted on its 5-fold out-of-fold scores",
        },
        "thresholds": fitted.thresholds,
        "metrics": {"validation_out_of_fold": fitted.validation, **({"test": test} if test else {})},
        **(extra or {}),
    }
    card_path(artifact).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return card


# ----------------------------------------------------------------------------- report
def _plots(
    y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], thresholds: dict[str, float], out_dir: Path, stem: str
) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    meta = {"Software": None}

    fig, ax = plt.subplots(figsize=(5, 4))
    prec, rec, _ = precision_recall_curve(y, proba)
    ax.plot(rec, prec)
    ax.set(xlabel="recall (spam)", ylabel="precision (spam)", title="Precision-recall", xlim=(0, 1.01), ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    p = out_dir / f"{stem}-pr.png"
    fig.tight_layout()
    fig.savefig(p, dpi=90, metadata=meta)
    plt.close(fig)
    paths["Precision-recall curve"] = p.name

    fig, ax = plt.subplots(figsize=(5, 4))
    bins = [i / 40 for i in range(41)]
    ax.hist(proba[y == 0], bins=bins, alpha=0.6, label="ham", color="tab:blue")
    ax.hist(proba[y == 1], bins=bins, alpha=0.6, label="spam", color="tab:red")
    for name, t in thresholds.items():
        ax.axvline(t, ls="--", color="k", lw=1)
        ax.text(t, ax.get_ylim()[1] * 0.9, f" {name}", fontsize=8)
    ax.set(xlabel="spam probability", ylabel="comments", title="Scores by class", yscale="log")
    ax.legend()
    p = out_dir / f"{stem}-scores.png"
    fig.tight_layout()
    fig.savefig(p, dpi=90, metadata=meta)
    plt.close(fig)
    paths["Score histogram by class"] = p.name

    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    cm = confusion_matrix(y, (proba >= thresholds["spam"]).astype(int), labels=[0, 1])
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["ham", "spam"],
        yticklabels=["ham", "spam"],
        xlabel="verdict spam?",
        ylabel="true label",
        title="Confusion matrix",
    )
    p = out_dir / f"{stem}-confusion.png"
    fig.tight_layout()
    fig.savefig(p, dpi=90, metadata=meta)
    plt.close(fig)
    paths["Confusion matrix"] = p.name
    return paths


METRIC_ROWS = [
    ("precision", "Precision (spam)"),
    ("recall", "Recall (spam)"),
    ("f1", "F1 (spam)"),
    ("macro_f1", "Macro-F1"),
    ("mcc", "MCC"),
    ("accuracy", "Accuracy"),
    ("ham_flagged_spam", "Ham flagged spam"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("suspect_or_spam_recall", "Spam caught as suspect or spam"),
    ("ham_suspect_or_spam", "Ham sent to suspect or spam"),
]


def write_report(
    path: Path,
    *,
    title: str,
    sections: list[tuple[str, dict[str, Any]]],
    thresholds: dict[str, float],
    y: npt.NDArray[np.int_] | None = None,
    proba: npt.NDArray[np.float64] | None = None,
    notes: Sequence[str] = (),
    per_category: dict[str, dict[str, float]] | None = None,
) -> Path:
    """A Markdown (`.md`) or HTML (`.html`) report, with PNG plots beside it."""
    plots = _plots(y, proba, thresholds, path.parent, path.stem) if y is not None and proba is not None else {}
    as_html = path.suffix.lower() in (".html", ".htm")
    lines = [f"# {title}", ""]
    lines += list(notes) + ([""] if notes else [])
    lines += [f"Thresholds: suspect >= {thresholds['suspect']:.4f}, spam >= {thresholds['spam']:.4f}.", ""]
    head = "| metric | " + " | ".join(name for name, _ in sections) + " |"
    lines += [head, "|---" * (len(sections) + 1) + "|"]
    for key, label in METRIC_ROWS:
        vals = [m.get(key, float("nan")) for _, m in sections]
        lines.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    for _, m in sections[-1:]:
        c = m["confusion"]
        lines += [
            "",
            f"Confusion matrix ({sections[-1][0]}, verdict `spam` vs the rest):",
            "",
            "| | predicted ham | predicted spam |",
            "|---|---|---|",
            f"| ham | {c['tn']} | {c['fp']} |",
            f"| spam | {c['fn']} | {c['tp']} |",
        ]
    if per_category:
        lines += [
            "",
            "Per category (test): share sent to `spam` / to `suspect` or `spam`:",
            "",
            "| category | n | spam | suspect or spam |",
            "|---|---|---|---|",
        ]
        for cat, row in sorted(per_category.items()):
            lines.append(f"| {cat} | {int(row['n'])} | {row['spam']:.3f} | {row['flagged']:.3f} |")
    for caption, name in plots.items():
        lines += ["", f"![{caption}]({name})"]
    text = "\n".join(lines) + "\n"
    if as_html:
        text = _markdown_to_html(text, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _markdown_to_html(md: str, title: str) -> str:
    """Just enough Markdown (headings, tables, images, paragraphs) for our own reports."""
    out = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}</style>",
    ]
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            if set(line) <= set("|-"):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            out.append(f"<p><img alt='{html.escape(alt)}' src='{html.escape(src.rstrip(')'))}'></p>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out) + "\n"


def per_category(
    data: Labelled, proba: npt.NDArray[np.float64], thresholds: dict[str, float]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for cat in sorted(set(data.categories)):
        mask = np.asarray([c == cat for c in data.categories])
        out[cat] = {
            "n": float(mask.sum()),
            "spam": float((proba[mask] >= thresholds["spam"]).mean()),
            "flagged": float((proba[mask] >= thresholds["suspect"]).mean()),
        }
    return out


# ----------------------------------------------------------------------------- commands
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
