"""Moderator and admin routes: the review queue, decisions, stats, live events, bans, accounts.

Every handler starts with `auth.require(request, role)` (401 without a valid token, 403
without the role). Comments are answered with personal data masked; an admin reading a single
comment sees it in full.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from service import errors
from service import tasks as background
from service.http import appkeys, auth, streams
from service.review import bans, moderators, queue, retention
from service.review.moderators import Role

routes = web.RouteTableDef()
LIST_DEFAULT, LIST_MAX = 20, 100
NOTE_MAX = 1000


# --------------------------------------------------------------------------- helpers
async def _body(request: web.Request) -> dict[str, Any]:
    """A JSON object body ({} when empty); 400 for anything else."""
    if not request.body_exists:
        return {}
    try:
        data = json.loads(await request.read() or b"{}")
    except ValueError:
        raise errors.BadRequest("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise errors.BadRequest("the body must be a JSON object", code="invalid_json")
    return data


def _int(value: Any, name: str, *, lo: int, hi: int, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise errors.BadRequest(f"{name} is required", code="invalid_parameter", field=name)
        return default
    try:
        n = int(value)
        if isinstance(value, bool) or str(n) != str(value).strip():
            raise ValueError(value)
    except (TypeError, ValueError):
        raise errors.BadRequest(f"{name} must be an integer", code="invalid_parameter", field=name) from None
    if not lo <= n <= hi:
        raise errors.BadRequest(f"{name} must be {lo}-{hi}", code="invalid_parameter", field=name)
    return n


def _optional_version(data: dict[str, Any]) -> int | None:
    if data.get("version") is None:
        return None
    return _int(data["version"], "version", lo=1, hi=2**53)


def _float(value: str | None, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise errors.BadRequest(f"{name} must be a number", code="invalid_parameter", field=name) from None


def _enum(kind: Any, value: Any, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise errors.BadRequest(f"{name} must be one of: {allowed}", code="invalid_parameter", field=name) from None


def _note(data: dict[str, Any]) -> str:
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > NOTE_MAX:
        raise errors.BadRequest(f"note must be text of at most {NOTE_MAX} characters", code="invalid_parameter")
    return note


def _outcome(o: queue.Outcome) -> dict[str, Any]:
    return {"id": o.id, "state": o.state.value, "version": o.version, "at": queue.iso_ms(o.at_ms)}


def _ctx(request: web.Request) -> tuple[Any, Any, Any]:
    app = request.app
    return app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SCRIPTS]


# --------------------------------------------------------------------------- the queue
@routes.get("/v1/queue")
async def list_queue(request: web.Request) -> web.Response:
    """A page of the queue: filter by state, article and score range; order by priority or age."""
    await auth.require(request)
    redis, keys, _ = _ctx(request)
    q = request.query
    flt = queue.QueueFilter(
        state=_enum(queue.State, q.get("state", "pending"), "state"),
        order=_enum(queue.Order, q.get("order", "priority"), "order"),
        article_id=q.get("article_id") or None,
        min_score=_float(q.get("min_score"), "min_score"),
        max_score=_float(q.get("max_score"), "max_score"),
    )
    limit = _int(q.get("limit"), "limit", lo=1, hi=LIST_MAX, default=LIST_DEFAULT)
    items, cursor = await queue.list_queue(redis, keys, flt, limit, q.get("cursor"))
    return web.json_response({"items": [queue.present(i) for i in items], "next_cursor": cursor})


@routes.post("/v1/queue/claim")
async def claim(request: web.Request) -> web.Response:
    """Claim up to `limit` of the most urgent pending comments, each with a lease."""
    mod = await auth.require(request)
    redis, keys, scripts = _ctx(request)
    settings = request.app[appkeys.SETTINGS]
    data = await _body(request)
    limit = _int(data.get("limit"), "limit", lo=1, hi=settings.max_claim, default=1)
    claimed, expired = await queue.claim(redis, keys, scripts, mod.name, limit, settings.lease_seconds * 1000)
    if expired:
        request.app[appkeys.METRICS].lease_expiries.inc(len(expired))
    async with redis.pipeline(transaction=False) as pipe:
        for c in claimed:
            pipe.hgetall(keys.comment(keys.partition_of(c.id), c.id))
        rows = await pipe.execute() if claimed else []
    items = []
    for c, row in zip(claimed, rows, strict=True):
        item = queue.present(row)
        item.update(version=c.version, lease_until=c.lease_until_ms, lease_until_iso=queue.iso_ms(c.lease_until_ms))
        items.append(item)
    return web.json_response({"items": items, "lease_seconds": settings.lease_seconds})


@routes.get("/v1/comments/{id}")
async def get_comment(request: web.Request) -> web.Response:
    """One comment with its full history; admins see personal data unmasked."""
    mod = await auth.require(request)
    redis, keys, _ = _ctx(request)
    cid = request.match_info["id"]
    raw = await queue.get(redis, keys, cid)
    body = queue.present(raw, full_pii=mod.is_admin)
    body["history"] = await queue.history(redis, keys, cid, raw)
    return web.json_response(body)


def _decision_args(data: dict[str, Any]) -> tuple[queue.Action, queue.RejectReason | None, int, str]:
    action = _enum(queue.Action, data.get("action"), "action")
    reason = None
    if action is queue.Action.REJECT:
        if not data.get("reason"):
            raise errors.BadRequest("a rejection needs a reason", code="reason_required", field="reason")
        reason = _enum(queue.RejectReason, data.get("reason"), "reason")
    version = _int(data.get("version"), "version", lo=1, hi=2**53)
    return action, reason, version, _note(data)


async def _decide_one(request: web.Request, mod: moderators.Moderator, cid: str, data: dict[str, Any]) -> queue.Outcome:
    redis, keys, scripts = _ctx(request)
    action, reason, version, note = _decision_args(data)
    outcome = await queue.decide(redis, keys, scripts, cid, mod.name, version, action, reason, note)
    request.app[appkeys.METRICS].decisions.labels(action.value, reason.value if reason else "").inc()
    return outcome


@routes.post("/v1/comments/{id}/decision")
async def decide(request: web.Request) -> web.Response:
    """Approve or reject: {action, reason (to reject), version, note?}; 409 with the current state if stale."""
    mod = await auth.require(request)
    outcome = await _decide_one(request, mod, request.match_info["id"], await _body(request))
    return web.json_response(_outcome(outcome))


@routes.post("/v1/queue/decisions")
async def decide_bulk(request: web.Request) -> web.Response:
    """Up to `bulk_limit` decisions at once: {decisions: [{id, action, reason, version, note?}]}; a result each."""
    mod = await auth.require(request)
    limit = request.app[appkeys.SETTINGS].bulk_limit
    data = await _body(request)
    items = data.get("decisions")
    if not isinstance(items, list) or not items or len(items) > limit:
        raise errors.BadRequest(f"decisions must be a list of 1-{limit} objects", code="invalid_parameter")

    async def one(item: Any) -> dict[str, Any]:
        cid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(cid, str):
            return {"id": cid, "status": 400, "error": {"code": "invalid_parameter", "message": "id is required"}}
        try:
            return {"status": 200, **_outcome(await _decide_one(request, mod, cid, item))}
        except errors.DuyetError as exc:
            from service.http.web import status_of

            return {
                "id": cid,
                "status": status_of(exc),
                "error": {"code": exc.code, "message": exc.message, **exc.details},
            }

    results = await asyncio.gather(*(one(item) for item in items))
    return web.json_response({"results": results})


@routes.post("/v1/comments/{id}/release")
async def release(request: web.Request) -> web.Response:
    """Give a claimed comment back to the queue (admins may release anyone's claim)."""
    mod = await auth.require(request)
    redis, keys, scripts = _ctx(request)
    data = await _body(request)
    outcome = await queue.release(
        redis, keys, scripts, request.match_info["id"], mod.name, _optional_version(data), force=mod.is_admin
    )
    return web.json_response(_outcome(outcome))


@routes.post("/v1/comments/{id}/renew")
async def renew(request: web.Request) -> web.Response:
    """Extend your lease on a claimed comment by the configured lease length."""
    mod = await auth.require(request)
    redis, keys, scripts = _ctx(request)
    settings = request.app[appkeys.SETTINGS]
    data = await _body(request)
    o = await queue.renew(
        redis, keys, scripts, request.match_info["id"], mod.name, settings.lease_seconds * 1000, _optional_version(data)
    )
    return web.json_response(
        {
            "id": o.id,
            "state": o.state.value,
            "version": o.version,
            "lease_until": o.at_ms,
            "lease_until_iso": queue.iso_ms(o.at_ms),
        }
    )


@routes.post("/v1/comments/{id}/reopen")
async def reopen(request: web.Request) -> web.Response:
    """Admin: put a decided comment back in the queue (audited)."""
    mod = await auth.require(request, Role.ADMIN)
    redis, keys, scripts = _ctx(request)
    data = await _body(request)
    outcome = await queue.reopen(
        redis, keys, scripts, request.match_info["id"], mod.name, _optional_version(data), _note(data)
    )
    return web.json_response(_outcome(outcome))


@routes.get("/v1/stats")
async def stats(request: web.Request) -> web.Response:
    """Depth per state, oldest waiting age, claims held, decisions per moderator, score distribution."""
    await auth.require(request)
    redis, keys, _ = _ctx(request)
    body = await queue.stats(redis, keys)
    metrics = request.app[appkeys.METRICS]
    for state, n in body["depth"].items():
        metrics.queue_depth.labels(state).set(n)
    metrics.queue_oldest.set(body["oldest_pending_seconds"] or 0)
    return web.json_response(body)


@routes.get("/v1/events")
async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events of queue changes (submitted, claimed, released, lease_expired, decided, reopened)."""
    await auth.require(request)
    return await streams.serve_sse(request)


# --------------------------------------------------------------------------- bans (admin)
@routes.get("/v1/bans")
async def list_bans(request: web.Request) -> web.Response:
    """Admin: active bans."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    return web.json_response({"items": [b.public() for b in await bans.list_active(redis, keys)]})


@routes.post("/v1/bans")
async def add_ban(request: web.Request) -> web.Response:
    """Admin: ban {kind: client|phone, value | comment_id, ttl_seconds, reason?}."""
    mod = await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    secret = request.app[appkeys.SETTINGS].secret_bytes
    data = await _body(request)
    kind = _enum(bans.BanKind, data.get("kind"), "kind")
    ttl = _int(data.get("ttl_seconds"), "ttl_seconds", lo=1, hi=bans.MAX_TTL_S)
    reason = data.get("reason") or ""
    if not isinstance(reason, str):
        raise errors.BadRequest("reason must be text", code="invalid_parameter", field="reason")
    if data.get("comment_id"):
        # Ban the author of a comment without the admin having to copy personal data around.
        raw = await queue.get(redis, keys, str(data["comment_id"]))
        source = raw.get("client" if kind is bans.BanKind.CLIENT else "phone") or ""
        if not source:
            raise errors.BadRequest(f"that comment has no {kind.value} (none given, or erased)", code="invalid_ban")
        value = bans.normalise_client(source) if kind is bans.BanKind.CLIENT else bans.phone_hash(secret, source)
    elif isinstance(data.get("value"), str):
        value = bans.resolve_value(kind, data["value"], secret)
    else:
        raise errors.BadRequest("give value or comment_id", code="invalid_parameter", field="value")
    ban = await bans.add(redis, keys, kind, value, ttl, mod.name, reason)
    return web.json_response(ban.public(), status=201)


@routes.delete("/v1/bans/{kind}/{value:.+}")
async def remove_ban(request: web.Request) -> web.Response:
    """Admin: lift a ban (value as listed)."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    kind = _enum(bans.BanKind, request.match_info["kind"], "kind")
    await bans.remove(redis, keys, kind, request.match_info["value"])
    return web.json_response({"status": "lifted"})


# --------------------------------------------------------------------------- moderators (admin)
@routes.get("/v1/moderators")
async def list_moderators(request: web.Request) -> web.Response:
    """Admin: every moderator account (never tokens)."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    return web.json_response({"items": [m.public() for m in await moderators.list_all(redis, keys)]})


@routes.post("/v1/moderators")
async def add_moderator(request: web.Request) -> web.Response:
    """Admin: create a moderator {name, role}; the answer shows its token, once."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    data = await _body(request)
    role = _enum(Role, data.get("role", "moderator"), "role")
    mod, token = await moderators.add(redis, keys, str(data.get("name", "")), role)
    return web.json_response({**mod.public(), "token": token}, status=201, headers={"Cache-Control": "no-store"})


@routes.post("/v1/moderators/{name}/rotate")
async def rotate_moderator(request: web.Request) -> web.Response:
    """Admin: give a moderator a new token (shown once); the old one stops working."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    token = await moderators.rotate(redis, keys, request.match_info["name"])
    return web.json_response(
        {"name": request.match_info["name"], "token": token}, headers={"Cache-Control": "no-store"}
    )


@routes.delete("/v1/moderators/{name}")
async def remove_moderator(request: web.Request) -> web.Response:
    """Admin: delete a moderator; its token stops working."""
    admin = await auth.require(request, Role.ADMIN)
    if request.match_info["name"] == admin.name:
        raise errors.BadRequest("you cannot remove yourself", code="invalid_parameter")
    redis, keys, _ = _ctx(request)
    await moderators.remove(redis, keys, request.match_info["name"])
    return web.json_response({"status": "removed"})


# --------------------------------------------------------------------------- wiring
async def queue_ctx(app: web.Application) -> AsyncIterator[None]:
    """Background work of the queue: expired leases back to pending, gauges, retention of personal data."""
    settings = app[appkeys.SETTINGS]
    redis, keys, scripts = app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SCRIPTS]
    bg = background.Background()
    bg.start(
        queue.maintenance_loop(redis, keys, scripts, app[appkeys.METRICS], settings.lease_sweep_seconds, bg),
        name="queue-maintenance",
    )
    bg.start(
        retention.loop(redis, keys, scripts, settings.retention_days, settings.retention_sweep_seconds, bg),
        name="retention",
    )
    yield
    await bg.stop()


def install(app: web.Application) -> None:
    """Add the moderation routes, the queue's background tasks and the event streams' shutdown."""
    app[appkeys.EVENT_STREAMS] = background.Background()
    app.cleanup_ctx.append(queue_ctx)  # after redis_ctx: it needs the pool
    app.on_shutdown.append(streams.close_streams)
    app.add_routes(routes)
