"""Typed application keys: every shared resource of the app, and nothing as a module global."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from redis.asyncio import Redis

from service.metrics import Metrics
from service.settings import Settings
from service.store.keys import Keys
from service.store.scripts import Scripts
from service.tasks import Background

if TYPE_CHECKING:
    from service.captcha.captchas import Captchas
    from service.spam.loading import ModelCache
    from service.spam.reload import ModelFollower
    from service.spam.scorer import SpamScorer

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
KEYS = web.AppKey("keys", Keys)
METRICS = web.AppKey("metrics", Metrics)
SCRIPTS = web.AppKey("scripts", Scripts)
SCORER: web.AppKey[SpamScorer] = web.AppKey("scorer")
CAPTCHAS: web.AppKey[Captchas] = web.AppKey("captchas")
MODEL_FOLLOWER: web.AppKey[ModelFollower] = web.AppKey("model_follower")
MODEL_CACHE: web.AppKey[ModelCache] = web.AppKey("model_cache")
# Why the model is not ready (e.g. an artifact that failed to load); empty when it is.
MODEL_ERROR: web.AppKey[list[str]] = web.AppKey("model_error")
# Open server-sent event streams (their handler tasks), ended on shutdown (service.review.events).
EVENT_STREAMS = web.AppKey("event_streams", Background)

# Per-request values set once by the edge middleware (service.http.web.edge_middleware).
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT = web.RequestKey("client", str)  # the client address, honouring trusted proxies only
LANG = web.RequestKey("lang", str)  # "vi" (default) or "en", from Accept-Language
# The portal whose API key a server-to-server request carried (service.http.auth.portal_reader).
PORTAL = web.RequestKey("portal", str)
