"""Moderator UI sessions: a random cookie value -> a Redis hash with a sliding TTL, and CSRF tokens.

The cookie holds 256 random bits; the store keeps only their sha256 (keys.session), so a copy of
the store logs nobody in. Each session has its own CSRF token, required on every state-changing
request: as the `X-CSRF-Token` header (fetch) or the `csrf_token` form field (plain forms).
SameSite=Strict already keeps other sites' requests from carrying the cookie; the token is the
second lock, for browsers or proxies that get SameSite wrong.

The log-in form itself is protected too (against log-in CSRF): before a session exists, a
random nonce cookie and an HMAC of it in the form must match.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from service import errors
from service.http import appkeys
from service.store.keys import Keys

COOKIE = "duyet_session"
LOGIN_COOKIE = "duyet_login"  # nonce for the log-in form's CSRF token
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_AGE_S = 7 * 86400  # a session ends a week after log-in, however busy


class CsrfFailed(errors.Forbidden):
    code = "csrf_failed"


@dataclass(frozen=True, slots=True)
class Session:
    digest: str  # sha256 of the cookie value: the store's key
    moderator: str
    csrf: str
    created_at_ms: int


SESSION = web.RequestKey("session", Session)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def create(redis: Redis, keys: Keys, moderator: str, ttl_s: int) -> tuple[str, Session]:
    """A new session for `moderator`; returns the cookie value (shown only to the browser) and the session."""
    value = secrets.token_urlsafe(32)
    session = Session(_digest(value), moderator, secrets.token_urlsafe(32), int(time.time() * 1000))
    key = keys.session(session.digest)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"moderator": moderator, "csrf": session.csrf, "created_at": session.created_at_ms})
        pipe.expire(key, ttl_s)
        await pipe.execute()
    return value, session


async def load(redis: Redis, keys: Keys, value: str, ttl_s: int) -> Session | None:
    """The session a cookie value stands for (its idle TTL restarted), or None."""
    if not value or len(value) > 100:
        return None
    digest = _digest(value)
    key = keys.session(digest)
    raw: Any = await redis.hgetall(key)
    if not raw or "moderator" not in raw:
        return None
    created = int(raw.get("created_at", 0))
    if time.time() * 1000 - created > MAX_AGE_S * 1000:
        await redis.delete(key)
        return None
    await redis.expire(key, ttl_s)
    return Session(digest, str(raw["moderator"]), str(raw["csrf"]), created)


async def destroy(redis: Redis, keys: Keys, session: Session) -> None:
    await redis.delete(keys.session(session.digest))


def is_secure(request: web.Request) -> bool:
    """https to the browser: our own TLS, or X-Forwarded-Proto from a trusted proxy only."""
    if request.scheme == "https":
        return True
    forwarded = request.headers.get("X-Forwarded-Proto")
    if not forwarded or request.remote is None:
        return False
    try:
        peer = ipaddress.ip_address(request.remote)
    except ValueError:
        return False
    trusted = request.app[appkeys.SETTINGS].trusted_networks
    if not any(peer in net for net in trusted):
        return False
    return forwarded.split(",")[-1].strip().lower() == "https"


def set_cookie(response: web.StreamResponse, request: web.Request, value: str) -> None:
    response.set_cookie(
        COOKIE, value, path="/", httponly=True, samesite="Strict", secure=is_secure(request), max_age=MAX_AGE_S
    )


def clear_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=is_secure(request))


async def current(request: web.Request) -> Session | None:
    """The request's session (from its cookie), loaded once per request."""
    if SESSION in request:
        return request[SESSION]
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    app = request.app
    session = await load(app[appkeys.REDIS], app[appkeys.KEYS], value, app[appkeys.SETTINGS].session_seconds)
    if session is not None:
        request[SESSION] = session
    return session


def check_csrf(session: Session, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(submitted.encode(), session.csrf.encode()):
        raise CsrfFailed("a valid CSRF token is required for this request")


async def moderator_name(request: web.Request) -> str | None:
    """Who the session cookie says is asking, or None; on a state-changing request the
    `X-CSRF-Token` header must match the session's token (CsrfFailed otherwise).

    This is the moderator API's fallback when a request has no Bearer token (moderators.require).
    """
    session = await current(request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        check_csrf(session, request.headers.get(CSRF_HEADER))
    return session.moderator


# --------------------------------------------------------------------------- log-in form
def login_nonce(request: web.Request) -> str | None:
    value = request.cookies.get(LOGIN_COOKIE)
    return value if value and len(value) <= 64 else None


def login_token(secret: bytes, nonce: str) -> str:
    """The log-in form's CSRF token: bound to the nonce cookie, unforgeable without the secret."""
    return hmac.new(secret, b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def set_login_cookie(response: web.StreamResponse, request: web.Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE, nonce, path="/moderate", httponly=True, samesite="Strict", secure=is_secure(request)
    )


def check_login_token(request: web.Request, submitted: str | None) -> None:
    nonce = login_nonce(request)
    if nonce is None or not submitted:
        raise CsrfFailed("the log-in form expired; reload the page")
    expected = login_token(request.app[appkeys.SETTINGS].secret_bytes, nonce)
    if not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfFailed("the log-in form expired; reload the page")
