"""Helpers shared by the submission tests: issue a captcha (test mode), build a form, read a record."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from service.http import appkeys
from service.review import intake

Client = TestClient[Any, Any]
CODE = "TEST1"  # captcha test mode: every code is this
ARTICLE = "ha-noi/2024:12345"


async def new_captcha(client: Client, article_id: str = ARTICLE) -> str:
    """A fresh captcha id from the real captcha route."""
    resp = await client.post("/v1/captchas", json={"article_id": article_id})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


def comment(captcha_id: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "article_id": ARTICLE,
        "name": "Nguyễn Văn An",
        "phone": "0912 345 678",
        "title": "Ý kiến về dự án cầu mới",
        "content": "Tôi thấy dự án này rất cần thiết cho người dân quận Long Biên.",
        "captcha_id": captcha_id,
        "captcha_answer": CODE,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


async def stored(client: Client, comment_id: str) -> dict[str, Any]:
    """The stored record of a comment, JSON fields decoded."""
    app = client.app
    assert app is not None
    keys = app[appkeys.KEYS]
    raw: dict[str, str] = await app[appkeys.REDIS].hgetall(keys.comment(keys.partition_of(comment_id), comment_id))
    out: dict[str, Any] = dict(raw)
    for name in ("raw", "signals", "reasons"):
        if name in out:
            out[name] = json.loads(out[name])
    out["signals"] = intake.signals_of(out.get("signals", {}))  # stored: only the signals that fired
    return out


async def comment_count(client: Client) -> int:
    """How many comments are stored (every partition's open set)."""
    app = client.app
    assert app is not None
    keys = app[appkeys.KEYS]
    redis = app[appkeys.REDIS]
    return sum([int(await redis.zcard(keys.open(p))) for p in range(keys.partitions)])
