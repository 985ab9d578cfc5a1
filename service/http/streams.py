"""Queue events streamed to live moderator UIs as server-sent events, one pub/sub connection each."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from redis.exceptions import RedisError

from service.http import appkeys

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
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    if task is not None:
        streams.track(task)
    try:
        await pubsub.subscribe(keys.events_channel())
        await resp.prepare(request)
        await resp.write(b": connected\n\nretry: 3000\n\n")
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while streams.running:
            # A short wait, so a shutdown ends the stream within a second (never by cancelling it).
            message = await pubsub.get_message(timeout=1.0)
            if message is None:  # a timeout, or a subscribe confirmation (ignored)
                if loop.time() - quiet_since >= HEARTBEAT_S:
                    await resp.write(b": keep-alive\n\n")
                    quiet_since = loop.time()
                continue
            quiet_since = loop.time()
            data = message["data"]
            kind = json.loads(data).get("type", "message")
            await resp.write(f"event: {kind}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client left, or the app is shutting down
    finally:
        try:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        except RedisError:
            pass
    return resp


async def close_streams(app: web.Application) -> None:
    """on_shutdown: end every open event stream so graceful shutdown does not wait for them."""
    await app[appkeys.EVENT_STREAMS].stop(within_s=2)
