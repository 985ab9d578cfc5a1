"""`duyet retrain`: a challenger from moderators' decisions, promoted if it passes the gate."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from service.learning.corpus import DEFAULT_CORPUS
from service.store.keys import Keys


# --------------------------------------------------------------------------- CLI
def add_retrain_parser(sub: Any) -> None:
    from service.commands.common import add_common

    p = sub.add_parser("retrain", help="train a challenger from seed corpus + moderators' labels; promote if not worse")
    add_common(p)
    p.add_argument("--dry-run", action="store_true", help="train, evaluate and report; change nothing")
    p.add_argument("--force", action="store_true", help="promote even if the gate fails (audited)")
    p.add_argument("--seed", type=Path, default=DEFAULT_CORPUS, help="seed corpus JSONL")
    p.add_argument("--no-seed", action="store_true", help="train on the labels only")
    p.add_argument("--report", type=Path, default=None, help="report path (default: <data_dir>/reports/...)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stages and a progress bar on stderr (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cmd_retrain)


def cmd_retrain(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from service.commands.common import run_with_redis, settings_from_args
    from service.learning.retraining import retrain  # scikit-learn: only when this command runs

    settings = settings_from_args(args)
    keys = Keys(settings.key_prefix, settings.partitions)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = args.report or settings.data_dir / "reports" / f"retrain-{stamp}.md"

    async def main(redis: Redis) -> int:
        try:
            out = await retrain(
                redis,
                keys,
                settings,
                seed=None if args.no_seed else args.seed,
                dry_run=args.dry_run,
                force=args.force,
                by=f"cli:{getpass.getuser()}",
                report=report,
                progress=sys.stderr.isatty() if args.progress is None else args.progress,
            )
        except ValueError as exc:
            print(f"duyet retrain: {exc}")
            return 1
        c = out.challenge
        print(f"challenger {c.card['version']} vs current {c.current_version or '(none)'}; data {c.counts}")
        print(f"  judged on {c.card['retraining']['n_real_holdout']} real held-out decisions")
        for reason in c.gate.reasons:
            print(f"  {reason}")
        t = c.card["retraining"]["thresholds"]
        print(
            f"  thresholds {t['values']} from {t['source']}"
            + (f" (spam {t['spam_interval']})" if "spam_interval" in t else "")
        )
        for name, m in (("current", c.current), ("challenger", c.challenger)):
            if m and m.get("n"):
                print(
                    f"  {name}: ROC-AUC {m['roc_auc']:.4f}, precision in the top 10% {m['precision_top10']:.4f}, "
                    f"macro-F1 {m['macro_f1']:.4f} on real decisions"
                )
        if out.dry_run:
            print("dry run: nothing registered or promoted")
        elif out.promoted:
            print(f"promoted {c.card['version']}" + (" (FORCED past a failed gate; audited)" if out.forced else ""))
        else:
            print(f"not promoted; registered as {c.card['version']} (promote it with `duyet model promote`)")
        print(f"report -> {c.report}")
        return 0 if (out.promoted or out.dry_run or not c.gate.passed) else 1

    return run_with_redis(settings, main)
