"""`duyet train` and `duyet evaluate`: the seed model from the seed corpus."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from service.learning.corpus import DEFAULT_ARTIFACT, DEFAULT_CORPUS, DEFAULT_REPORT, SPAM_VALUES

# The training stack (scikit-learn) is imported inside the commands: `duyet --help` and every
# other sub-command start in well under a second.


def _data_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    p.add_argument(f"--{prefix}text-col", default="content", help="column with the comment text")
    p.add_argument(f"--{prefix}label-col", default="label", help="column with the label")
    p.add_argument(f"--{prefix}name-col", default=None, help="column with the author's name (optional)")
    p.add_argument(f"--{prefix}title-col", default=None, help="column with the title (optional)")


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "train", help="train the spam model from the seed corpus (artifact + card + report)"
    )
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="seed corpus JSONL")
    p.add_argument("--out", type=Path, default=DEFAULT_ARTIFACT, help="artifact path (.skops); card beside it")
    p.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="report path (.md or .html)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)
    return p


def _cmd_train(args: argparse.Namespace) -> int:
    from service.learning.training import train

    card = train(args.corpus, args.out, args.report, progress=not args.quiet)
    test = card["metrics"].get("test", {})
    print(f"model {card['version']} -> {args.out}")
    print(
        f"thresholds {card['thresholds']}; test MCC {test.get('mcc', float('nan')):.4f} "
        f"recall {test.get('recall', float('nan')):.4f} ham->spam {test.get('ham_flagged_spam', float('nan')):.4f}"
    )
    if args.report:
        print(f"report -> {args.report}")
    return 0


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate", help="evaluate a trained model, or train on A and test on B, on any labelled file"
    )
    p.add_argument("data", type=Path, help="labelled CSV, TSV or JSONL to test on")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", type=Path, default=None, help="trained artifact (default: the shipped model)")
    src.add_argument("--train-on", type=Path, default=None, help="labelled file to train a fresh pipeline on")
    _data_args(p)
    p.add_argument("--format", choices=["csv", "tsv", "jsonl"], default=None, help="default: by extension")
    p.add_argument("--no-header", action="store_true", help="no header row: columns are 0-based indexes")
    p.add_argument("--spam-values", default=",".join(SPAM_VALUES), help="label values meaning spam")
    p.add_argument("--dedupe", action="store_true", help="drop repeated texts")
    p.add_argument("--report", type=Path, default=None, help="write a report (.md or .html) with PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_evaluate)
    return p


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from service.learning.corpus import Labelled, read_labelled
    from service.learning.report import METRIC_ROWS, write_report
    from service.learning.training import fit, metrics, predict_proba

    def read(path: Path) -> Labelled:
        return read_labelled(
            path,
            text_col=args.text_col,
            label_col=args.label_col,
            name_col=args.name_col,
            title_col=args.title_col,
            spam_values=args.spam_values.split(","),
            fmt=args.format,
            no_header=args.no_header,
            dedupe=args.dedupe,
        )

    test = read(args.data)
    if args.train_on is not None:
        fitted = fit(read(args.train_on), progress=not args.quiet)
        proba = predict_proba(fitted.model, test, progress=not args.quiet)
        thresholds, source = fitted.thresholds, f"trained on `{args.train_on.name}`"
    else:
        from service.spam.model import SpamModel

        model = SpamModel.load(args.model or DEFAULT_ARTIFACT)
        proba = model.probabilities(test.rows)
        thresholds, source = model.thresholds, f"model {model.version}"
    m = metrics(test.y, proba, thresholds)
    print(f"{source}, tested on {args.data.name}: n={m['n']} spam={m['n_spam']}")
    for key, label in METRIC_ROWS:
        print(f"  {label:32s} {m[key]:.4f}")
    c = m["confusion"]
    print(f"  confusion: tn={c['tn']} fp={c['fp']} fn={c['fn']} tp={c['tp']}")
    if args.report:
        write_report(
            args.report,
            title=f"Evaluation on {args.data.name}",
            sections=[(args.data.name, m)],
            thresholds=thresholds,
            y=test.y,
            proba=proba,
            notes=[f"{source}."],
        )
        print(f"report -> {args.report}")
    return 0
