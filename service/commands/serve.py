"""`duyet serve`: the HTTP service, in one process or several sharing the port."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import tempfile
from collections.abc import Callable
from typing import Any

from service import logs
from service.commands.common import add_common, settings_from_args, store_url
from service.settings import EventLoop, Settings

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


def add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the HTTP service")
    add_common(serve)
    for flag, opts in SERVE_FLAGS:
        serve.add_argument(flag, default=None, **opts)
    serve.set_defaults(func=cmd_serve)


def _serve_one(settings: Settings, reuse_port: bool) -> None:
    from aiohttp import web

    from service.http.app import create_app

    logs.setup(settings.log_level, settings.effective_log_format.value)
    web.run_app(
        create_app(settings),
        loop=_event_loop(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        shutdown_timeout=settings.shutdown_timeout,
        print=None,
        access_log=None,
        handle_signals=True,
    )


def _event_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """uvloop when asked for and installed (it is a dependency where it builds), else asyncio's."""
    if settings.event_loop is EventLoop.UVLOOP:
        try:
            import uvloop
        except ImportError:
            logging.getLogger(__name__).info("uvloop is not installed: the asyncio event loop serves")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


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


def _dev_admin(settings: Settings) -> str | None:
    from service.review.moderators import dev_admin_hook

    return dev_admin_hook(settings)


# Functions called with the resolved settings before serving (e.g. creating the dev admin).
# A hook may return text to print under the banner (e.g. the dev admin's log-in).
SERVE_HOOKS: list[Callable[[Settings], str | None]] = [_dev_admin]
