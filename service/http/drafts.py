"""What a reader without JavaScript typed, kept across the redirect after a failed comment post.

A plain form post that fails answers 303 back to the article page, and a fresh page would show an
empty form: the reader's comment lost to a mistyped captcha. Their words must not ride in the
redirect URL either (it lands in history, logs and Referer headers, and the phone is personal data).
So they wait in Redis for a few minutes under an opaque random id, the only thing the URL carries,
and the page that shows the form again takes them once (read and deleted in one command).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.store import availability
from service.store.keys import Keys

# Only what the reader typed and will want back; never the captcha answer (single use), the
# honeypot or the form token (the page issues fresh ones).
FIELDS = ("name", "phone", "title", "content")
TTL_SECONDS = 600  # long enough to come back from the redirect, short enough not to keep anyone's words
DRAFT_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
MAX_CHARS = 20_000  # per field: far above any field's limit, a bound on what a bad post can park


async def save(redis: Redis, keys: Keys, fields: Mapping[str, Any], ttl: int = TTL_SECONDS) -> str:
    """Keep the typed fields of a failed post; their id for the redirect, "" when there was nothing
    to keep or the store is not answering (the reader then retypes, as before: no error for that)."""
    kept = {name: value[:MAX_CHARS] for name in FIELDS if isinstance(value := fields.get(name), str) and value.strip()}
    if not kept:
        return ""
    draft_id = secrets.token_urlsafe(16)
    try:
        await redis.set(keys.form_draft(draft_id), json.dumps(kept, ensure_ascii=False), ex=ttl)
    except Exception as exc:  # a store error, or a write on a connection the store just cut
        if isinstance(exc, RedisError) or availability.is_unavailable(exc):
            return ""
        raise
    return draft_id


async def take(redis: Redis, keys: Keys, draft_id: str | None) -> dict[str, str]:
    """The fields kept under `draft_id`, deleted as they are read; {} when unknown, expired or used."""
    if not draft_id or not DRAFT_ID.fullmatch(draft_id):
        return {}
    try:
        raw = await redis.getdel(keys.form_draft(draft_id))
    except RedisError:
        return {}
    if raw is None:
        return {}
    try:
        stored = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(stored, dict):
        return {}
    return {name: value for name in FIELDS if isinstance(value := stored.get(name), str)}
