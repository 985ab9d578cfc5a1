"""Queue events streamed to live moderator UIs as server-sent events, one subscription each (to every
partition's shard channel: one connection per shard holding some on a cluster, see service.store.channels)."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from redis.exceptions import RedisError

from service.http import appkeys
from service.http.web import secure_headers
from service.store.channels import ShardSubscription

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0


async def serve_sse(request: web.Request) -> web.StreamResponse:
    """Stream queue events to one client over its own pub/sub connection, until it or the app goes.

    The handler's task is tracked in the app so shutdown can end it (an open stream must never
    hold up a graceful shutdown); the pub/sub connection is closed on every way out.
    """
    app = request.app
    redis, keys = app[appkeys.REDIS], app[appkeys.KEYS]
    streams = app[appkeys.EVENT_STREAMS]
    task = asyncio.current_task()
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    subscription = ShardSubscription(redis, keys.events_channels())
    await subscription.__aenter__()  # a store that is away: a 503 from the edge, as for any request
    if task is not None:
        streams.track(task)
    try:
        # A stream sends its headers here, before the outermost middleware sees the response: it
        # adds the headers every answer carries (nosniff, Server) itself.
        secure_headers(request, resp.headers)
        await resp.prepare(request)
        await resp.write(b": connected\n\nretry: 3000\n\n")
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while streams.running:
            # A short wait, so a shutdown ends the stream within a second (never by cancelling it).
            data = await subscription.get(1.0)
            if data is None:
                if loop.time() - quiet_since >= HEARTBEAT_S:
                    await resp.write(b": keep-alive\n\n")
                    quiet_since = loop.time()
                continue
            quiet_since = loop.time()
            kind = json.loads(data).get("type", "message")
            await resp.write(f"event: {kind}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client left, or the app is shutting down
    except (RedisError, OSError) as exc:
        # The store went away (a failover, say): end the stream; the page's EventSource reconnects
        # after `retry` and re-reads the queue, so nothing it shows stays stale.
        log.warning("event stream ended: %s", type(exc).__name__)
    finally:
        await subscription.aclose()
    return resp


async def close_streams(app: web.Application) -> None:
    """on_shutdown: end every open event stream so graceful shutdown does not wait for them."""
    await app[appkeys.EVENT_STREAMS].stop(within_s=2)
