"""What every sub-command shares: its settings, and the store it talks to.

Every command reaches the same store: REDIS_URL if set, else the embedded server of the data
directory (attached to if the service runs, started and stopped around the command if not).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from service.settings import Settings, load, resolve
from service.store import embedded

T = TypeVar("T")


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "redis_url", None) is not None:
        overrides["redis_url"] = args.redis_url
    return resolve(load(**overrides))


@contextmanager
def store_url(settings: Settings) -> Iterator[str]:
    """The Redis URL a command should use; the embedded server is started if it isn't running."""
    if settings.redis_url:
        yield settings.redis_url
        return
    with embedded.running(settings.data_dir) as store:
        yield store.url


def run_with_redis(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(redis)` against the command's store, for operator commands of other modules."""
    from service.store import connection as store

    async def main(url: str) -> T:
        redis = store.connect(url, settings)
        try:
            return await fn(redis)
        finally:
            await redis.aclose()

    with store_url(settings) as url:
        return asyncio.run(main(url))


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None, help="data directory (DUYET_DATA_DIR)")
    parser.add_argument("--redis-url", default=None, help="Redis URL (REDIS_URL)")
