"""Zero-shot quality on the hand-written Vietnamese set (models/eval/handwritten_vi.jsonl).

The set is written by hand and never trained on (models/eval/README.md): it measures how a model
does on comments its generator never produced. This script only scores it.

Two ways to get a model:

- `--artifact PATH` (default: the shipped models/spam-model.skops): loaded exactly as serving loads
  it (`SpamModel.load`, verified), scored with its own thresholds;
- `--fit CORPUS.jsonl`: a fresh pipeline fitted on that corpus's `train` split (`training.fit`,
  as `duyet train` does), optionally with the English real sets from ../shared/data added to the
  training data (`--with youtube`, `--with sms`), to measure whether they help.

Prints ROC-AUC, PR-AUC, macro-F1, spam recall and ham flagged at the model's own `spam`
threshold, the same at `suspect` (what reaches a moderator's closer look), and per kind: the share
of each spam kind caught and of each ham kind flagged.

    .venv/bin/python bench/handwritten_eval.py [--artifact PATH | --fit CORPUS [--with youtube --with sms]]
                                              [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: bench/ is not a package; import `service` from the checkout.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse
import csv
import json
from collections import defaultdict
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from service.learning.corpus import Labelled, load_corpus, make_record

HANDWRITTEN = ROOT / "models" / "eval" / "handwritten_vi.jsonl"
DEFAULT_ARTIFACT = ROOT / "models" / "spam-model.skops"
DATA = ROOT.parent / "shared" / "data"


def read_handwritten(path: Path = HANDWRITTEN) -> tuple[Labelled, list[str]]:
    rows, labels, kinds = [], [], []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                item = json.loads(line)
                rows.append(make_record(item["name"], item["title"], item["content"]))
                labels.append(1 if item["label"] == "spam" else 0)
                kinds.append(f"{item['label']}/{item['kind']}")
    return Labelled(rows, np.asarray(labels, dtype=int)), kinds


def english(which: list[str]) -> Labelled:
    """The English real sets, read only from ../shared/data (never copied into the repository)."""
    parts: list[Labelled] = []
    if "youtube" in which:
        for f in sorted((DATA / "youtube-spam-collection").glob("Youtube0*.csv")):
            with f.open(encoding="utf-8", newline="") as fh:
                items = list(csv.DictReader(fh))
            parts.append(
                Labelled(
                    [make_record(r["AUTHOR"], "", r["CONTENT"]) for r in items],
                    np.asarray([int(r["CLASS"]) for r in items], dtype=int),
                )
            )
    if "sms" in which:
        from model_quality import read_sms  # this folder is on sys.path when a bench script runs

        parts.append(read_sms())
    return Labelled([r for p in parts for r in p.rows], np.concatenate([p.y for p in parts]))


def evaluate(
    y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], thresholds: dict[str, float], kinds: list[str]
) -> dict[str, Any]:
    spam = proba >= thresholds["spam"]
    closer = proba >= thresholds["suspect"]
    pos, neg = y == 1, y == 0
    per_kind: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(kinds):
        per_kind[k].append(i)
    return {
        "n": len(y),
        "n_spam": int(pos.sum()),
        "thresholds": thresholds,
        "roc_auc": float(roc_auc_score(y, proba)),
        "pr_auc": float(average_precision_score(y, proba)),
        "macro_f1": float(f1_score(y, spam.astype(int), average="macro", zero_division=0)),
        "spam_recall": float(spam[pos].mean()),
        "ham_flagged": float(spam[neg].mean()),
        "macro_f1_suspect": float(f1_score(y, closer.astype(int), average="macro", zero_division=0)),
        "spam_recall_suspect": float(closer[pos].mean()),
        "ham_flagged_suspect": float(closer[neg].mean()),
        "median_proba": {"ham": float(np.median(proba[neg])), "spam": float(np.median(proba[pos]))},
        # Per kind: the share flagged `spam` (for spam kinds that is recall, for ham the error).
        "per_kind": {
            k: {"n": len(idx), "spam": float(spam[idx].mean()), "suspect_or_spam": float(closer[idx].mean())}
            for k, idx in sorted(per_kind.items())
        },
    }


def print_result(r: dict[str, Any], label: str) -> None:
    print(f"\n{label}: n={r['n']} ({r['n_spam']} spam), thresholds {r['thresholds']}")
    print(
        f"ROC-AUC {r['roc_auc']:.3f}  PR-AUC {r['pr_auc']:.3f}  median p ham {r['median_proba']['ham']:.4f} "
        f"spam {r['median_proba']['spam']:.4f}"
    )
    print(
        f"at spam:    macro-F1 {r['macro_f1']:.3f}  spam recall {r['spam_recall']:.3f}  "
        f"ham flagged {r['ham_flagged']:.3f}"
    )
    print(
        f"at suspect: macro-F1 {r['macro_f1_suspect']:.3f}  spam recall {r['spam_recall_suspect']:.3f}  "
        f"ham flagged {r['ham_flagged_suspect']:.3f}"
    )
    print("| kind | n | flagged spam | suspect or spam |")
    print("|---|---|---|---|")
    for k, v in r["per_kind"].items():
        print(f"| {k} | {v['n']} | {v['spam']:.2f} | {v['suspect_or_spam']:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--artifact", type=Path, default=None, help="trained artifact (default: the shipped model)")
    src.add_argument("--fit", type=Path, default=None, help="fit a fresh pipeline on this corpus's train split")
    parser.add_argument("--with", dest="extra", action="append", choices=["youtube", "sms"], default=[])
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    args = parser.parse_args()
    data, kinds = read_handwritten()
    if args.fit is not None:
        from service.learning import training

        train = load_corpus(args.fit, "train")
        if args.extra:
            if not DATA.exists():
                print(f"no data at {DATA}: cannot add {args.extra}")
                return 1
            more = english(args.extra)
            train = Labelled(train.rows + more.rows, np.concatenate([train.y, more.y]))
        fitted = training.fit(train, progress=False)
        proba = training.predict_proba(fitted.model, data, progress=False)
        thresholds = fitted.thresholds
        label = f"fit on {args.fit.name} train ({len(train)})" + (f" + {'+'.join(args.extra)}" if args.extra else "")
    else:
        from service.spam.model import SpamModel

        path = args.artifact or DEFAULT_ARTIFACT
        model = SpamModel.load(path)
        proba = model.probabilities(data.rows)
        thresholds = model.thresholds
        label = f"{path.name} (version {model.version})"
    result = evaluate(data.y, proba, thresholds, kinds)
    print_result(result, label)
    if args.json:
        args.json.write_text(json.dumps({"model": label, **result}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
