"""The application factory. Every resource is opened and closed by a `cleanup_ctx` generator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from aiohttp import web
from redis.exceptions import RedisError

from service import tasks as background
from service.captcha import captchas
from service.captcha import workers as captcha_workers
from service.http import appkeys, auth, cors
from service.http.views import captchas as captcha_views
from service.http.views import comments as comment_views
from service.http.views import docs, home, ops
from service.http.views import model as model_views
from service.http.views import moderate as moderate_views
from service.http.views import moderation as moderation_views
from service.http.views import portal as portal_views
from service.http.web import MAX_BODY, edge_middleware
from service.metrics import Metrics
from service.settings import Settings
from service.spam import registry, reload
from service.spam.loading import ModelCache
from service.spam.shadow import ShadowingScorer
from service.store import connection as store
from service.store import embedded
from service.store.keys import Keys
from service.store.scripts import Scripts

log = logging.getLogger(__name__)


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """One Redis pool per process; the embedded Valkey server when no REDIS_URL is given."""
    settings = app[appkeys.SETTINGS]
    async with AsyncExitStack() as stack:
        url = settings.redis_url
        if url is None:
            url = stack.enter_context(embedded.running(settings.data_dir)).url
        redis = store.connect(url, settings)
        stack.push_async_callback(redis.aclose)
        await store.prepare(redis)
        app[appkeys.REDIS] = redis
        app[appkeys.SCRIPTS] = Scripts(redis)
        yield


async def model_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the spam model; a bad artifact leaves the service running but not ready."""
    settings = app[appkeys.SETTINGS]
    model, error = app[appkeys.MODEL_CACHE].load_safely(settings.model_path)
    if error:
        log.error("spam model not loaded: %s", error)
    # A scorer that can also score beside it with a shadow candidate (service.spam.shadow).
    scorer = ShadowingScorer(model, app[appkeys.METRICS], process=settings.spam_score_process)
    app[appkeys.SCORER] = scorer
    scorer.warm()  # the scoring process loads the model now, not on the first burst
    app[appkeys.MODEL_ERROR] = [f"model: {error}"] if error else []
    yield
    await scorer.close()


async def reload_ctx(app: web.Application) -> AsyncIterator[None]:
    """Score with the registry's current model and follow promotions; the N-labels retraining
    schedule when it is on (only then is the training code imported)."""
    settings = app[appkeys.SETTINGS]
    redis, keys = app[appkeys.REDIS], app[appkeys.KEYS]
    follower = reload.ModelFollower(
        redis,
        keys,
        app[appkeys.SCORER],
        settings.model_path,
        registry.cache_dir_for(settings.data_dir),
        app[appkeys.MODEL_ERROR],
        secret=settings.secret_bytes,
    )
    app[appkeys.MODEL_FOLLOWER] = follower
    try:
        await follower.sync()
    except RedisError as exc:
        log.warning("model registry not reachable at start-up (%s); the shipped model serves", exc)
    bg = background.Background()
    bg.start(follower.follow(bg), name="model-reload")
    if settings.retrain_every_labels > 0:
        from service.learning import schedule

        bg.start(schedule.schedule_loop(redis, keys, settings, bg), name="retrain-schedule")
    yield
    await bg.stop()


async def captcha_ctx(app: web.Application) -> AsyncIterator[None]:
    """The captcha rendering process pools (readers' renders; the pool refill at idle priority)
    and the background refill, for the app's lifetime."""
    settings = app[appkeys.SETTINGS]
    workers = captcha_workers.render_workers(settings)
    pools = [captcha_workers.start_workers(settings, workers, idle=False)]
    if settings.captcha_pool_target > 0:
        pools.append(captcha_workers.start_workers(settings, workers, idle=True))
    issuer = captchas.Captchas(
        settings,
        app[appkeys.REDIS],
        app[appkeys.SCRIPTS],
        app[appkeys.KEYS],
        app[appkeys.METRICS],
        pools[0][0],
        workers,
        refill_executor=pools[-1][0],
    )
    app[appkeys.CAPTCHAS] = issuer
    issuer.start()
    try:
        yield
    finally:
        await issuer.stop()
        await asyncio.gather(
            *(
                background.stop_pool(ex, started, captcha_workers.SHUTDOWN_TIMEOUT, "captcha render workers")
                for ex, started in pools
            )
        )


def create_app(settings: Settings, models: ModelCache | None = None) -> web.Application:
    """Build the app for resolved settings (see `settings.resolve`). `models` may be shared by
    apps of one process (tests start hundreds): a loaded model is immutable."""
    # A valid portal key swaps in the reader's address before any handler reads it; CORS headers
    # go on error answers (422, 429...) too.
    edge = edge_middleware(steps=[cors.preflight, auth.portal_reader], finishes=[cors.add_headers])
    app = web.Application(middlewares=[edge], client_max_size=MAX_BODY)
    app[appkeys.SETTINGS] = settings
    app[appkeys.MODEL_CACHE] = models or ModelCache()
    app[appkeys.KEYS] = Keys(settings.key_prefix, settings.partitions)
    app[appkeys.METRICS] = Metrics()
    if settings.captcha_test_code:
        log.warning(
            "CAPTCHA TEST MODE IS ON: every captcha code is %r. Never use this in production.",
            settings.captcha_test_code,
        )
    app.cleanup_ctx.extend([redis_ctx, model_ctx, reload_ctx, captcha_ctx])
    moderation_views.install(app)
    moderate_views.install(app)  # the moderator UI (pages, static files)
    app.add_routes(ops.routes)
    app.add_routes(model_views.routes)  # GET /v1/model, POST /v1/model/reload
    app.add_routes(captcha_views.routes)
    app.add_routes(comment_views.routes)
    portal_views.install(app)  # /widget.js and /demo
    app.add_routes(home.routes)  # / (the landing page; after portal_views, which sets up the templates)
    docs.install(app)
    return app
