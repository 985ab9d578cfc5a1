"""Every non-public route refuses a request without a valid moderator token (401), and admin routes
refuse moderators (403). The walk covers whatever the router holds, so a new route is checked too."""

from __future__ import annotations

import re

from aiohttp import web
from redis.asyncio import Redis

from service.http import openapi
from service.store.keys import Keys
from tests.clients import MakeClient
from tests.queue_helpers import auth, token_for

# Routes anyone may call: (method or "*", path prefix). Add a public route here deliberately.
PUBLIC: tuple[tuple[str, str], ...] = (
    ("*", "/healthz"),
    ("*", "/readyz"),
    ("*", "/metrics"),
    ("*", "/v1/captchas"),
    ("POST", "/v1/comments"),
    ("GET", "/"),  # the home page
    ("OPTIONS", "/v1/"),  # CORS preflight
    ("*", "/v1/articles"),
    ("*", "/openapi.json"),
    ("*", "/docs"),
    ("*", "/demo"),
    ("*", "/widget.js"),
    ("*", "/moderate"),  # the UI's log-in page; its data comes from the guarded API
    ("*", "/static"),
    ("*", "/v1/session"),  # the UI's log-in/out (session issue)
    ("*", "/v1/form-token"),
)
ADMIN_ONLY = (
    ("POST", "/v1/comments/{id}/reopen"),
    ("GET", "/v1/bans"),
    ("POST", "/v1/bans"),
    ("DELETE", "/v1/bans/{kind}/{value}"),
    ("GET", "/v1/moderators"),
    ("POST", "/v1/moderators"),
    ("POST", "/v1/moderators/{name}/rotate"),
    ("DELETE", "/v1/moderators/{name}"),
    ("GET", "/v1/model"),
    ("POST", "/v1/model/reload"),
)
SAMPLE = {"id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "kind": "client", "value": "192.0.2.1", "name": "someone"}


# Public as exactly this path, not as a prefix: POST /v1/comments is the reader's form, while
# POST /v1/comments/{id}/... are the moderators' decisions; "/" is the home page.
EXACT = frozenset({"/", "/v1/comments"})


def _is_public(method: str, path: str) -> bool:
    return any((m in ("*", method)) and (path == p or (p not in EXACT and path.startswith(p))) for m, p in PUBLIC)


def _concrete(template: str) -> str:
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: SAMPLE.get(m.group(1), "x1"), template)


def _guarded_routes(app: web.Application) -> list[tuple[str, str, str]]:
    out = []
    for route in app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if template is None:  # static directories
            continue
        if not _is_public(route.method, template):
            out.append((route.method, template, _concrete(template)))
    return out


async def test_every_non_public_route_needs_a_token(make_client: MakeClient, redis: Redis) -> None:
    """Without a token, or with a wrong one, every non-public route answers 401 and says Bearer."""
    client = await make_client()
    guarded = _guarded_routes(client.app)  # type: ignore[arg-type]
    assert ("POST", "/v1/queue/claim", "/v1/queue/claim") in guarded  # the walk sees our routes
    assert len(guarded) >= 15
    for method, template, path in guarded:
        for headers in ({}, {"Authorization": "Bearer dyt_not-a-real-token"}, {"Authorization": "Basic eDp5"}):
            resp = await client.request(method, path, headers=headers, json={})
            assert resp.status == 401, f"{method} {template} answered {resp.status} with {headers}"
            assert resp.headers.get("WWW-Authenticate") == "Bearer"
            assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_admin_routes_refuse_moderators(make_client: MakeClient, redis: Redis) -> None:
    """A moderator's valid token gets 403 on every admin route."""
    client = await make_client()
    token = await token_for(redis, Keys(), "alice")
    for method, template in ADMIN_ONLY:
        resp = await client.request(method, _concrete(template), headers=auth(token), json={})
        assert resp.status == 403, f"{method} {template} answered {resp.status}"


def _declared(app: web.Application, access: openapi.Access) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route whose operation declares `access`."""
    out = set()
    for method, path, handler in openapi.operations(app):
        op = getattr(handler, openapi.ATTR, None)
        if op is not None and op.access is access:
            out.add((method.upper(), path))
    return out


async def test_every_admin_route_refuses_every_other_caller(make_client: MakeClient, redis: Redis) -> None:
    """Every route the router holds that declares admin access (not a hand-kept sample) refuses a
    missing token and a wrong one (401) and a moderator's token or UI session (403); and the
    declared set is exactly ADMIN_ONLY, so a new admin route cannot be left out of these checks."""
    client = await make_client()
    assert client.app is not None
    declared = _declared(client.app, openapi.Access.ADMIN)
    assert declared == set(ADMIN_ONLY)
    token = await token_for(redis, Keys(), "alice")
    for method, template in sorted(declared):
        path = _concrete(template)
        for headers, status in (
            ({}, 401),
            ({"Authorization": "Bearer dyt_not-a-real-token"}, 401),
            ({"Authorization": f"Bearer {token}x"}, 401),
            (auth(token), 403),
        ):
            resp = await client.request(method, path, headers=headers, json={})
            assert resp.status == status, f"{method} {template} answered {resp.status} with {headers}"
            assert (await resp.json())["error"]["code"] in ("unauthorized", "forbidden")


async def test_moderator_routes_are_all_guarded(make_client: MakeClient, redis: Redis) -> None:
    """Every route declaring moderator or admin access is in the guarded walk above (none is
    hidden by the PUBLIC list)."""
    client = await make_client()
    assert client.app is not None
    guarded = {(m, t) for m, t, _ in _guarded_routes(client.app)}
    for access in (openapi.Access.MODERATOR, openapi.Access.ADMIN):
        for method, template in _declared(client.app, access):
            plain = re.sub(r"\{([^}:]+):[^}]*\}", r"{\1}", template)
            assert any(m == method and re.sub(r"\{([^}:]+):[^}]*\}", r"{\1}", t) == plain for m, t in guarded), (
                method,
                template,
            )


async def test_public_routes_stay_public(make_client: MakeClient, redis: Redis) -> None:
    """Operations routes answer without a token (the walk's PUBLIC list is not an escape hatch for all)."""
    client = await make_client()
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/metrics")).status == 200
