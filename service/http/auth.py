"""Who is asking: moderators (a bearer token, or the UI's session cookie) and portals (an API key)."""

from __future__ import annotations

from aiohttp import web

from service import errors
from service.http import appkeys, sessions
from service.review import moderators, portals
from service.review.moderators import Role

# The moderator a request was authenticated as (set once per request by `require`).
MODERATOR = web.RequestKey("moderator", moderators.Moderator)


async def require(request: web.Request, role: Role = Role.MODERATOR) -> moderators.Moderator:
    """The moderator making this request: 401 without valid credentials, 403 without the role."""
    mod = request.get(MODERATOR)
    redis, keys = request.app[appkeys.REDIS], request.app[appkeys.KEYS]
    if mod is None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            # Moderator UI: no Bearer token, so the session cookie (+ X-CSRF-Token on changes) may speak.
            name = await sessions.moderator_name(request)
            if name is not None:
                try:
                    mod = await moderators.get(redis, keys, name)
                except moderators.ModeratorNotFound:
                    raise errors.Unauthorized("the session's moderator no longer exists") from None
        if mod is None:
            if scheme.lower() != "bearer" or not token.strip():
                raise errors.Unauthorized("a moderator token is required (Authorization: Bearer <token>)")
            mod = await moderators.authenticate_token(
                request.app[appkeys.REDIS], request.app[appkeys.KEYS], token.strip()
            )
            if mod is None:
                raise errors.Unauthorized("the token is not valid")
        request[MODERATOR] = mod
    if role is Role.ADMIN and not mod.is_admin:
        raise errors.Forbidden("this needs the admin role")
    return mod


def presented_key(request: web.Request) -> str | None:
    """The portal key a request carries: X-Duyet-Portal-Key, or a Bearer token shaped like one.

    Moderator tokens (another prefix) pass through untouched for `require`."""
    key = request.headers.get(portals.KEY_HEADER, "").strip()
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(portals.KEY_PREFIX):
        return token
    return None


async def portal_reader(request: web.Request) -> web.StreamResponse | None:
    """The edge's step: with a valid portal key, the reader's address is the one the portal passed on.

    Runs after the edge set the peer's address, inside its error handling (a bad key is a JSON
    401). A wrong key is refused rather than ignored: a misconfigured portal should learn it at
    once, not have all its readers share one rate limit."""
    key = presented_key(request)
    if key is None:
        return None
    portal = await portals.authenticate(request.app[appkeys.REDIS], request.app[appkeys.KEYS], key)
    if portal is None:
        raise portals.InvalidPortalKey("the portal key is not valid")
    request[appkeys.CLIENT] = portals.reader_address(request.headers.get(portals.CLIENT_IP_HEADER))
    request[appkeys.PORTAL] = portal.name
    return None
