"""The `duyet` command: one sub-command module per area, registered here.

Every command reaches the same store: REDIS_URL if set, else the embedded server of the data
directory (attached to if the service runs, started and stopped around the command if not).
"""

from __future__ import annotations

import argparse
import sys

from service.commands import bans, model, moderators, portals, retention, retrain, serve, train
from service.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duyet", description="Comment moderation for news portals.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve.add_serve_parser(sub)
    train.add_train_parser(sub)
    train.add_evaluate_parser(sub)
    moderators.add_moderators_parser(sub)
    bans.add_bans_parser(sub)
    retention.add_retention_parser(sub)
    portals.add_portals_parser(sub)
    retrain.add_retrain_parser(sub)
    model.add_model_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except SettingsError as exc:
        print(f"duyet: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
