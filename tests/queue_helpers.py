"""Helpers shared by the review-queue tests: building comments, moderators and authorised clients."""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from service.review import comment_ids, intake, moderators
from service.store.keys import Keys
from service.store.scripts import Scripts


def make_comment(**overrides: Any) -> intake.NewComment:
    values: dict[str, Any] = {
        "id": comment_ids.new_comment_id(),
        "article_id": "bai-viet-1",
        "name": "Nguyễn Văn A",
        "phone": "+84912345678",
        "title": "Ý kiến",
        "content": "Bài viết rất hay, cảm ơn tác giả.",
        "raw": {"name": "Nguyễn Văn A", "phone": "0912345678", "title": "Ý kiến", "content": "Bài viết rất hay"},
        "client": "203.0.113.7",
        "user_agent": "Mozilla/5.0 test",
        "created_at_ms": int(time.time() * 1000),
        "spam_probability": 0.2,
        "verdict": "ham",
        "reasons": [{"code": "none", "vi": "", "en": "", "terms": []}],
        "model_version": "test-model-1",
        "signals": {"had_markup": False, "seconds_to_submit": 12.5},
        "lang": "vi",
    }
    values.update(overrides)
    return intake.NewComment(**values)


async def enqueue_many(redis: Redis, keys: Keys, n: int, **overrides: Any) -> list[str]:
    scripts = Scripts(redis)
    ids = []
    for _ in range(n):
        cid, _created = await intake.enqueue(redis, keys, scripts, make_comment(**overrides))
        ids.append(cid)
    return ids


async def token_for(redis: Redis, keys: Keys, name: str, role: moderators.Role = moderators.Role.MODERATOR) -> str:
    _, token = await moderators.add(redis, keys, name, role)
    return token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
