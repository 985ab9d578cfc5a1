"""Moderator and admin routes: the review queue, decisions, stats, live events, bans, accounts.

Every handler starts with `auth.require(request, role)` (401 without a valid token, 403
without the role). Comments are answered with personal data masked; an admin reading a single
comment sees it in full.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from service import errors
from service import tasks as background
from service.http import appkeys, auth, bodies, openapi, presentation, streams
from service.http.views import moderation_models as m
from service.review import bans, moderators, queue_stats, reading, retention, transitions
from service.review.moderators import Role
from service.review.states import Action

routes = web.RouteTableDef()
MOD, ADMIN = openapi.Access.MODERATOR, openapi.Access.ADMIN
CONFLICT = {409: openapi.Response("The comment changed (stale version, claimed by another)", openapi.ERROR)}


def _ctx(request: web.Request) -> tuple[Any, Any, Any]:
    app = request.app
    return app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SCRIPTS]


# --------------------------------------------------------------------------- the queue
@routes.get("/v1/queue")
@openapi.operation(tags=("queue",), access=MOD, query=m.QueueQuery, responses=openapi.ok(m.Page))
async def list_queue(request: web.Request) -> web.Response:
    """A page of the queue: filter by state, article and score range; order by priority or age."""
    await auth.require(request)
    redis, keys, _ = _ctx(request)
    q = bodies.query(request, m.QueueQuery)
    flt = reading.QueueFilter(q.state, q.order, q.article_id, q.min_score, q.max_score)
    items, cursor = await reading.list_queue(redis, keys, flt, q.limit, q.cursor)
    return web.json_response({"items": [presentation.moderator_comment(i) for i in items], "next_cursor": cursor})


def _claim_request(app: web.Application) -> type[m.ClaimRequest]:
    return m.claim_request(app[appkeys.SETTINGS].max_claim)


@routes.post("/v1/queue/claim")
@openapi.operation(
    tags=("queue",), access=MOD, request_body=_claim_request, body_required=False, responses=openapi.ok(m.Claimed)
)
async def claim(request: web.Request) -> web.Response:
    """Claim up to `limit` of the most urgent pending comments, each with a lease."""
    mod = await auth.require(request)
    redis, keys, scripts = _ctx(request)
    settings = request.app[appkeys.SETTINGS]
    limit = (await bodies.body(request, _claim_request(request.app))).limit
    claimed, expired = await transitions.claim(redis, keys, scripts, mod.name, limit, settings.lease_seconds * 1000)
    if expired:
        request.app[appkeys.METRICS].lease_expiries.inc(len(expired))
    async with redis.pipeline(transaction=False) as pipe:
        for c in claimed:
            pipe.hgetall(keys.comment(keys.partition_of(c.id), c.id))
        rows = await pipe.execute() if claimed else []
    items = []
    for c, row in zip(claimed, rows, strict=True):
        item = presentation.moderator_comment(row)
        item.update(
            version=c.version, lease_until=c.lease_until_ms, lease_until_iso=presentation.iso_ms(c.lease_until_ms)
        )
        items.append(item)
    return web.json_response({"items": items, "lease_seconds": settings.lease_seconds})


@routes.get("/v1/comments/{id}")
@openapi.operation(tags=("queue",), access=MOD, responses=openapi.ok({"type": "object"}))
async def get_comment(request: web.Request) -> web.Response:
    """One comment with its full history; admins see personal data unmasked."""
    mod = await auth.require(request)
    redis, keys, _ = _ctx(request)
    cid = request.match_info["id"]
    raw = await reading.get(redis, keys, cid)
    body = presentation.moderator_comment(raw, full_pii=mod.is_admin)
    body["history"] = presentation.audit_trail(await reading.history(redis, keys, cid, raw))
    return web.json_response(body)


async def _decide_one(
    request: web.Request, mod: moderators.Moderator, cid: str, decision: m.Decision
) -> transitions.TransitionOutcome:
    redis, keys, scripts = _ctx(request)
    action, version, note = decision.action, decision.version, decision.note
    reason = decision.reason if action is Action.REJECT else None
    outcome = await transitions.decide(redis, keys, scripts, cid, mod.name, version, action, reason, note)
    request.app[appkeys.METRICS].decisions.labels(action.value, reason.value if reason else "").inc()
    return outcome


@routes.post("/v1/comments/{id}/decision")
@openapi.operation(
    tags=("queue",), access=MOD, request_body=m.Decision, responses={**openapi.ok(m.Outcome), **CONFLICT}
)
async def decide(request: web.Request) -> web.Response:
    """Approve or reject: {action, reason (to reject), version, note?}; 409 with the current state if stale."""
    mod = await auth.require(request)
    decision = await bodies.body(request, m.Decision)
    outcome = await _decide_one(request, mod, request.match_info["id"], decision)
    return web.json_response(presentation.outcome(outcome))


def _decisions_request(app: web.Application) -> type[m.DecisionsRequest]:
    return m.decisions_request(app[appkeys.SETTINGS].bulk_limit)


@routes.post("/v1/queue/decisions")
@openapi.operation(tags=("queue",), access=MOD, request_body=_decisions_request, responses=openapi.ok(m.Results))
async def decide_bulk(request: web.Request) -> web.Response:
    """Up to `bulk_limit` decisions at once: {decisions: [{id, action, reason, version, note?}]}; a result each."""
    mod = await auth.require(request)
    items = (await bodies.body(request, _decisions_request(request.app))).decisions

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        cid = item.get("id")
        if not isinstance(cid, str):
            return {"id": cid, "status": 400, "error": {"code": "invalid_parameter", "message": "id is required"}}
        try:
            decision = bodies.validate(m.DecisionItem, item)
            return {"status": 200, **presentation.outcome(await _decide_one(request, mod, cid, decision))}
        except errors.DuyetError as exc:
            from service.http.web import status_of

            return {
                "id": cid,
                "status": status_of(exc),
                "error": {"code": exc.code, "message": exc.message, **exc.details},
            }

    results = await asyncio.gather(*(one(item) for item in items))
    return web.json_response({"results": results})


VERSION_ONLY: dict[str, Any] = {"request_body": m.VersionRequest, "body_required": False}


@routes.post("/v1/comments/{id}/release")
@openapi.operation(tags=("queue",), access=MOD, **VERSION_ONLY, responses={**openapi.ok(m.Outcome), **CONFLICT})
async def release(request: web.Request) -> web.Response:
    """Give a claimed comment back to the queue (admins may release anyone's claim)."""
    mod = await auth.require(request)
    redis, keys, scripts = _ctx(request)
    version = (await bodies.body(request, m.VersionRequest)).version
    outcome = await transitions.release(
        redis, keys, scripts, request.match_info["id"], mod.name, version, force=mod.is_admin
    )
    return web.json_response(presentation.outcome(outcome))


@routes.post("/v1/comments/{id}/renew")
@openapi.operation(tags=("queue",), access=MOD, **VERSION_ONLY, responses={**openapi.ok(m.Renewed), **CONFLICT})
async def renew(request: web.Request) -> web.Response:
    """Extend your lease on a claimed comment by the configured lease length."""
    mod = await auth.require(request)
    redis, keys, scripts = _ctx(request)
    lease_ms = request.app[appkeys.SETTINGS].lease_seconds * 1000
    version = (await bodies.body(request, m.VersionRequest)).version
    o = await transitions.renew(redis, keys, scripts, request.match_info["id"], mod.name, lease_ms, version)
    return web.json_response(
        {
            "id": o.id,
            "state": o.state.value,
            "version": o.version,
            "lease_until": o.at_ms,
            "lease_until_iso": presentation.iso_ms(o.at_ms),
        }
    )


@routes.post("/v1/comments/{id}/reopen")
@openapi.operation(
    tags=("queue",),
    access=ADMIN,
    request_body=m.ReopenRequest,
    body_required=False,
    responses={**openapi.ok(m.Outcome), **CONFLICT},
)
async def reopen(request: web.Request) -> web.Response:
    """Admin: put a decided comment back in the queue (audited)."""
    mod = await auth.require(request, Role.ADMIN)
    redis, keys, scripts = _ctx(request)
    body = await bodies.body(request, m.ReopenRequest)
    outcome = await transitions.reopen(
        redis, keys, scripts, request.match_info["id"], mod.name, body.version, body.note
    )
    return web.json_response(presentation.outcome(outcome))


@routes.get("/v1/stats")
@openapi.operation(tags=("queue",), access=MOD, responses=openapi.ok({"type": "object", "required": ["depth"]}))
async def stats(request: web.Request) -> web.Response:
    """Depth per state, oldest waiting age, claims held, decisions per moderator, score distribution."""
    await auth.require(request)
    redis, keys, _ = _ctx(request)
    body = await queue_stats.stats(redis, keys)
    metrics = request.app[appkeys.METRICS]
    for state, n in body["depth"].items():
        metrics.queue_depth.labels(state).set(n)
    metrics.queue_oldest.set(body["oldest_pending_seconds"] or 0)
    return web.json_response(body)


@routes.get("/v1/events")
@openapi.operation(
    tags=("queue",),
    access=MOD,
    responses={200: openapi.Response("An event stream", {"type": "string"}, content_type="text/event-stream")},
)
async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events of queue changes (submitted, claimed, released, lease_expired, decided, reopened)."""
    await auth.require(request)
    return await streams.serve_sse(request)


# --------------------------------------------------------------------------- bans (admin)
@routes.get("/v1/bans")
@openapi.operation(tags=("admin",), access=ADMIN, responses=openapi.ok(m.Items))
async def list_bans(request: web.Request) -> web.Response:
    """Admin: active bans."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    return web.json_response({"items": [b.public() for b in await bans.list_active(redis, keys)]})


@routes.post("/v1/bans")
@openapi.operation(
    tags=("admin",),
    access=ADMIN,
    request_body=m.BanRequest,
    # 404: the `comment_id` to ban the author of does not exist
    responses={**openapi.ok({"type": "object"}, 201), 404: openapi.Response("No such comment", openapi.ERROR)},
)
async def add_ban(request: web.Request) -> web.Response:
    """Admin: ban {kind: client|phone, value | comment_id, ttl_seconds, reason?}."""
    mod = await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    secret = request.app[appkeys.SETTINGS].secret_bytes
    body = await bodies.body(request, m.BanRequest)
    kind = body.kind
    if body.comment_id is not None:
        # Ban the author of a comment without the admin having to copy personal data around.
        raw = await reading.get(redis, keys, body.comment_id)
        source = raw.get("client" if kind is bans.BanKind.CLIENT else "phone") or ""
        if not source:
            raise errors.BadRequest(f"that comment has no {kind.value} (none given, or erased)", code="invalid_ban")
        value = bans.normalise_client(source) if kind is bans.BanKind.CLIENT else bans.phone_hash(secret, source)
    else:
        assert body.value is not None  # BanRequest holds one or the other
        value = bans.resolve_value(kind, body.value, secret, request.app[appkeys.SETTINGS].phone_region)
    ban = await bans.add(redis, keys, kind, value, body.ttl_seconds, mod.name, body.reason)
    return web.json_response(ban.public(), status=201)


@routes.delete("/v1/bans/{kind}/{value:.+}")
@openapi.operation(tags=("admin",), access=ADMIN, path=m.BanPath, responses=openapi.ok(m.Done))
async def remove_ban(request: web.Request) -> web.Response:
    """Admin: lift a ban (value as listed)."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    ban = bodies.validate(m.BanPath, dict(request.match_info))
    await bans.remove(redis, keys, ban.kind, ban.value)
    return web.json_response({"status": "lifted"})


# --------------------------------------------------------------------------- moderators (admin)
@routes.get("/v1/moderators")
@openapi.operation(tags=("admin",), access=ADMIN, responses=openapi.ok(m.Items))
async def list_moderators(request: web.Request) -> web.Response:
    """Admin: every moderator account (never tokens)."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    return web.json_response({"items": [m.public() for m in await moderators.list_all(redis, keys)]})


@routes.post("/v1/moderators")
@openapi.operation(
    tags=("admin",),
    access=ADMIN,
    request_body=m.ModeratorRequest,
    responses={**openapi.ok({"type": "object", "required": ["token"]}, 201), **CONFLICT},
)
async def add_moderator(request: web.Request) -> web.Response:
    """Admin: create a moderator {name, role}; the answer shows its token, once."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    body = await bodies.body(request, m.ModeratorRequest)
    mod, token = await moderators.add(redis, keys, body.name, body.role)
    return web.json_response({**mod.public(), "token": token}, status=201, headers={"Cache-Control": "no-store"})


@routes.post("/v1/moderators/{name}/rotate")
@openapi.operation(tags=("admin",), access=ADMIN, responses=openapi.ok(m.Token))
async def rotate_moderator(request: web.Request) -> web.Response:
    """Admin: give a moderator a new token (shown once); the old one stops working."""
    await auth.require(request, Role.ADMIN)
    redis, keys, _ = _ctx(request)
    token = await moderators.rotate(redis, keys, request.match_info["name"])
    return web.json_response(
        {"name": request.match_info["name"], "token": token}, headers={"Cache-Control": "no-store"}
    )


@routes.delete("/v1/moderators/{name}")
@openapi.operation(tags=("admin",), access=ADMIN, responses=openapi.ok(m.Done))
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
        queue_stats.maintenance_loop(redis, keys, scripts, app[appkeys.METRICS], settings.lease_sweep_seconds, bg),
        name="queue-maintenance",
    )
    bg.start(
        retention.loop(
            redis,
            keys,
            scripts,
            settings.retention_days,
            settings.retention_sweep_seconds,
            bg,
            audit_days=settings.audit_retention_days,
        ),
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
