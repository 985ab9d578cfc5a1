"""The `duyet` command: serve, and the operator commands other modules register.

Every command reaches the same store: REDIS_URL if set, else the embedded server of the data
directory (attached to if the service runs, started and stopped around the command if not).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from service import embedded, logs
from service.settings import Settings, SettingsError, load, resolve

log = logging.getLogger("duyet")
T = TypeVar("T")

# Flags of `duyet serve`, each overriding its DUYET_* variable (None = not given).
SERVE_FLAGS: list[tuple[str, dict[str, Any]]] = [
    ("--host", {"help": "listen address (DUYET_HOST)"}),
    ("--port", {"type": int, "help": "listen port (DUYET_PORT)"}),
    ("--workers", {"type": int, "help": "processes sharing the port (DUYET_WORKERS)"}),
    ("--env", {"help": "development or production (DUYET_ENV)"}),
    ("--log-level", {"help": "DEBUG, INFO, WARNING, ERROR (DUYET_LOG_LEVEL)"}),
    ("--log-format", {"help": "text or json (DUYET_LOG_FORMAT)"}),
    ("--model-path", {"help": "spam model artifact (DUYET_MODEL_PATH)"}),
    ("--captcha-test-code", {"help": "fix every captcha code (test mode; DUYET_CAPTCHA_TEST_CODE)"}),
]


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
    with embedded.running(settings.data_dir) as url:
        yield url


def run_with_redis(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(redis)` against the command's store, for operator commands of other modules."""
    from service import store

    async def main(url: str) -> T:
        redis = store.connect(url, settings)
        try:
            return await fn(redis)
        finally:
            await redis.aclose()

    with store_url(settings) as url:
        return asyncio.run(main(url))


# --------------------------------------------------------------------------- serve
def _serve_one(settings: Settings, reuse_port: bool) -> None:
    from aiohttp import web

    from service.app import create_app

    logs.setup(settings.log_level, settings.effective_log_format.value)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        shutdown_timeout=settings.shutdown_timeout,
        print=None,
        access_log=None,
        handle_signals=True,
    )


def _banner(settings: Settings) -> str:
    base = settings.base_url()
    lines = [
        "",
        f"  duyet is running ({settings.env.value}, {settings.workers} worker(s))",
        f"  service        {base}/",
        f"  health         {base}/healthz  {base}/readyz",
        f"  API docs       {base}/docs   (OpenAPI: {base}/openapi.json)",
        f"  moderator UI   {base}/moderate",
        f"  demo page      {base}/demo",
        f"  metrics        {base}/metrics",
    ]
    if settings.captcha_test_code:
        lines.append(f"  WARNING: captcha test mode, every code is {settings.captcha_test_code!r}")
    return "\n".join(lines) + "\n"


def cmd_serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    logs.setup(settings.log_level, settings.effective_log_format.value)
    with store_url(settings) as url:
        settings = settings.model_copy(update={"redis_url": url})
        notes = [note for hook in SERVE_HOOKS if (note := hook(settings))]
        print(_banner(settings) + "".join(notes), flush=True)
        if settings.workers == 1:
            _serve_one(settings, reuse_port=False)
            return 0
        return _serve_many(settings)


def _serve_many(settings: Settings) -> int:
    """N processes on one port (SO_REUSEPORT): the kernel spreads connections between them."""
    metrics_dir = tempfile.mkdtemp(prefix="duyet-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_serve_one, args=(settings, True), daemon=False) for _ in range(settings.workers)]
    for proc in procs:
        proc.start()

    def stop(signum: int, frame: object) -> None:
        for proc in procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    for proc in procs:
        proc.join()
        code = code or (proc.exitcode or 0)
    return code


# Functions called with the resolved settings before serving (e.g. creating the dev admin).
# A hook may return text to print under the banner (e.g. the dev admin's log-in).
def _dev_admin(settings: Settings) -> str | None:
    from service.moderators import dev_admin_hook

    return dev_admin_hook(settings)


SERVE_HOOKS: list[Callable[[Settings], str | None]] = [_dev_admin]


# --------------------------------------------------------------------------- parser
def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None, help="data directory (DUYET_DATA_DIR)")
    parser.add_argument("--redis-url", default=None, help="Redis URL (REDIS_URL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duyet", description="Comment moderation for news portals.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service")
    add_common(serve)
    for flag, opts in SERVE_FLAGS:
        serve.add_argument(flag, default=None, **opts)
    serve.set_defaults(func=cmd_serve)
    # Other modules' commands. Imported here, never on the request path.
    register_commands(sub)
    return parser


def register_commands(sub: Any) -> None:
    """Subcommands owned by other modules; each adds its parsers and sets `func`."""
    for module_name, fn_names in COMMAND_MODULES:
        try:
            module = __import__(module_name, fromlist=["_"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        for fn_name in fn_names:
            getattr(module, fn_name)(sub)


COMMAND_MODULES: list[tuple[str, list[str]]] = [
    ("service.training", ["add_train_parser", "add_evaluate_parser"]),
    ("service.moderators", ["add_moderators_parser"]),
    ("service.bans", ["add_bans_parser"]),
    ("service.retention", ["add_retention_parser"]),
    ("service.portals", ["add_portals_parser"]),
    ("service.retraining", ["add_retrain_parser"]),  # retraining issue
    ("service.registry", ["add_model_parser"]),  # retraining issue
]


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
