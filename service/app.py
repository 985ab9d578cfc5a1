"""The application factory. Every resource is opened and closed by a `cleanup_ctx` generator."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from aiohttp import web

from service import appkeys, captcha, cors, embedded, hot_reload, portals, store
from service.keys import Keys
from service.metrics import Metrics
from service.scripts import Scripts
from service.settings import Settings
from service.spam import load_model_safely
from service.views import captchas as captcha_views
from service.views import comments as comment_views
from service.views import docs, ops
from service.views import model as model_views
from service.views import moderate as moderate_views
from service.views import moderation as moderation_views
from service.views import portal as portal_views
from service.web import MIDDLEWARES, error_middleware

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # comments are at most a few KB; anything bigger is refused early (413)


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """One Redis pool per process; the embedded Valkey server when no REDIS_URL is given."""
    settings = app[appkeys.SETTINGS]
    async with AsyncExitStack() as stack:
        url = settings.redis_url
        if url is None:
            url = stack.enter_context(embedded.running(settings.data_dir))
        redis = store.connect(url, settings)
        stack.push_async_callback(redis.aclose)
        app[appkeys.REDIS] = redis
        app[appkeys.SCRIPTS] = Scripts(redis)
        yield


async def model_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the spam model; a bad artifact leaves the service running but not ready."""
    settings = app[appkeys.SETTINGS]
    model, error = load_model_safely(settings.model_path)
    if error:
        log.error("spam model not loaded: %s", error)
    # Retraining issue: a SpamScorer that can also run a shadow candidate (service.hot_reload).
    scorer = hot_reload.ShadowingScorer(model, app[appkeys.METRICS], process=settings.spam_score_process)
    app[appkeys.SCORER] = scorer
    app[appkeys.MODEL_ERROR] = [f"model: {error}"] if error else []
    yield
    await scorer.close()


def create_app(settings: Settings) -> web.Application:
    """Build the app for resolved settings (see `settings.resolve`)."""
    middlewares = list(MIDDLEWARES)
    # CORS outside the error middleware, so error answers (422, 429...) carry CORS headers too.
    middlewares.insert(middlewares.index(error_middleware), cors.cors_middleware)
    # Innermost: a valid portal key swaps in the reader's address before any handler reads it.
    middlewares.append(portals.portal_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app[appkeys.SETTINGS] = settings
    app[appkeys.KEYS] = Keys(settings.key_prefix, settings.partitions)
    app[appkeys.METRICS] = Metrics()
    if settings.captcha_test_code:
        log.warning(
            "CAPTCHA TEST MODE IS ON: every captcha code is %r. Never use this in production.",
            settings.captcha_test_code,
        )
    app.cleanup_ctx.extend([redis_ctx, model_ctx, hot_reload.cleanup_ctx, captcha.cleanup_ctx])
    moderation_views.install(app)
    moderate_views.install(app)  # the moderator UI (pages, static files)
    app.add_routes(ops.routes)
    app.add_routes(model_views.routes)  # retraining issue: GET /v1/model, POST /v1/model/reload
    app.add_routes(captcha_views.routes)
    app.add_routes(comment_views.routes)
    portal_views.install(app)  # /widget.js and /demo
    docs.install(app)
    return app
