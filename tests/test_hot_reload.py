"""Hot reload: promotions and rollbacks switch the running app's model with no failed request; shadow counts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from service.http import appkeys
from service.review import moderators
from service.spam import registry
from service.spam.shadow import ShadowingScorer
from tests.conftest import TEST_SECRET
from tests.model_helpers import tiny_models
from tests.submission_helpers import CODE, comment, new_captcha, stored

Client = TestClient[Any, Any]
# A promotion reaches the replica and its scoring process within 2 s on an idle machine; the two
# loads are CPU-bound, so on a shared, oversubscribed one the bound stretches by the load per core.
REACH_S = 2.0 * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
OPEN_LIMITS: dict[str, Any] = {
    "captcha_test_code": CODE,
    "captcha_pool_target": 0,
    "captcha_issue_limit": 0,
    "submit_limit_client": 0,
    "submit_limit_article": 0,
}

SECRET = TEST_SECRET.encode()  # the registry signs with the service secret: the test apps' one


async def _app_client(make_client: Callable[..., Awaitable[Client]]) -> tuple[Client, dict[str, str]]:
    a, _ = tiny_models()
    client = await make_client(model_path=a, **OPEN_LIMITS)
    app = client.app
    assert app is not None
    _, token = await moderators.add(app[appkeys.REDIS], app[appkeys.KEYS], "boss", moderators.Role.ADMIN)
    return client, {"Authorization": f"Bearer {token}"}


async def _wait_for(check: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + 10.0
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "the app did not switch models in time"
        await asyncio.sleep(0.02)


async def _submit(client: Client, captcha: str, i: int) -> tuple[int, str]:
    resp = await client.post(
        "/v1/comments", json=comment(captcha, content=f"Ý kiến số {i} về dự án cầu mới ở Long Biên.")
    )
    body = await resp.json()
    return resp.status, str(body.get("id", body))


async def test_promote_and_rollback_under_load(make_client: Callable[..., Awaitable[Client]]) -> None:
    """200 concurrent submissions all get 202 while models switch back and forth; then the new one scores."""
    client, admin = await _app_client(make_client)
    app = client.app
    assert app is not None
    redis, keys, scorer = app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SCORER]
    a, b = tiny_models()
    va = (await registry.put(redis, keys, a, secret=SECRET))["version"]
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    assert scorer.version == va  # the shipped file (here: model A)
    captchas = [await new_captcha(client) for _ in range(200)]

    async def switch() -> None:
        for _ in range(3):
            await registry.promote(redis, keys, vb, "boss", secret=SECRET)
            await _wait_for(lambda: scorer.version == vb)
            await registry.rollback(redis, keys, "boss")  # back to the shipped file
            await _wait_for(lambda: scorer.version == va)
        await registry.promote(redis, keys, vb, "boss", secret=SECRET)

    results, _ = await asyncio.gather(
        asyncio.gather(*(_submit(client, c, i) for i, c in enumerate(captchas))), switch()
    )
    assert [status for status, _ in results] == [202] * 200
    versions = {(await stored(client, cid))["model_version"] for _, cid in results}
    assert versions <= {va, vb}
    await _wait_for(lambda: scorer.version == vb)
    status, cid = await _submit(client, await new_captcha(client), 999)
    assert status == 202
    assert (await stored(client, cid))["model_version"] == vb
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"]["model"] == vb
    info = await (await client.get("/v1/model", headers=admin)).json()
    assert (
        info["version"] == vb and info["registry"]["current"] == vb and info["registry"]["history"] == []
    )  # rollbacks went to the shipped file


async def test_startup_uses_registry_and_reload_endpoint(make_client: Callable[..., Awaitable[Client]]) -> None:
    """A new replica starts with the registry's current version; POST /v1/model/reload resyncs; admins only."""
    client, admin = await _app_client(make_client)
    app = client.app
    assert app is not None
    redis, keys = app[appkeys.REDIS], app[appkeys.KEYS]
    _, b = tiny_models()
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    await redis.set(keys.model_current(), vb)  # as if promoted while nobody listened
    resp = await client.post("/v1/model/reload", headers=admin)
    body = await resp.json()
    assert resp.status == 200 and body["changed"] == {"current": vb} and body["version"] == vb
    second = await make_client(model_path=tiny_models()[0], **OPEN_LIMITS)
    assert second.app is not None and second.app[appkeys.SCORER].version == vb
    assert (await client.get("/v1/model")).status == 401
    _, mod_token = await moderators.add(redis, keys, "mod", moderators.Role.MODERATOR)
    assert (await client.get("/v1/model", headers={"Authorization": f"Bearer {mod_token}"})).status == 403


async def test_shadow_counts_add_up(make_client: Callable[..., Awaitable[Client]]) -> None:
    """With a shadow candidate, every submission is scored twice; agree + disagree + error = submissions."""
    client, admin = await _app_client(make_client)
    app = client.app
    assert app is not None
    redis, keys, scorer = app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SCORER]
    assert isinstance(scorer, ShadowingScorer)
    _, b = tiny_models()
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    await registry.set_shadow(redis, keys, vb, "boss", secret=SECRET)
    await _wait_for(lambda: scorer.shadow_version == vb)
    captchas = [await new_captcha(client) for _ in range(30)]
    spammy = "Vay tiền nhanh lãi suất 0%, liên hệ zalo 0912345678 nhận ngay khuyến mãi"
    results = await asyncio.gather(
        *(
            client.post("/v1/comments", json=comment(c, content=spammy if i % 2 else f"Góp ý số {i} cho bài báo."))
            for i, c in enumerate(captchas)
        )
    )
    assert [r.status for r in results] == [202] * 30
    await scorer.drain_shadow()
    info = await (await client.get("/v1/model", headers=admin)).json()
    shadow = info["shadow"]
    assert shadow["version"] == vb
    assert shadow["agree"] + shadow["disagree"] + shadow["error"] == shadow["total"] == 30
    assert shadow["error"] == 0
    metrics = (await (await client.get("/metrics")).text()).splitlines()
    counted = sum(float(line.split()[-1]) for line in metrics if line.startswith("duyet_shadow_agreement_total{"))
    assert counted == 30
    assert info["version"] != vb  # the shadow never answered
    await registry.set_shadow(redis, keys, None, "boss", secret=SECRET)
    await _wait_for(lambda: scorer.shadow_version is None)


async def test_promotion_reaches_the_scoring_process_within_two_seconds(
    make_client: Callable[..., Awaitable[Client]],
) -> None:
    """Promoted: within 2 s the replica scores with the new version, and its scoring process has
    loaded it already, before any comment asks for it (not on the first batch that needs it)."""
    a, b = tiny_models()
    client = await make_client(model_path=a, spam_score_process=True, **OPEN_LIMITS)
    app = client.app
    assert app is not None
    redis, keys, scorer = app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SCORER]
    va = scorer.version
    captchas = [await new_captcha(client) for _ in range(16)]
    await asyncio.gather(*(_submit(client, c, i) for i, c in enumerate(captchas)))  # a burst starts the process
    deadline = asyncio.get_running_loop().time() + 60.0
    while va not in scorer.process_versions:
        assert asyncio.get_running_loop().time() < deadline, "the scoring process never loaded the model"
        await asyncio.sleep(0.05)
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    loop = asyncio.get_running_loop()
    start = loop.time()
    await registry.promote(redis, keys, vb, "boss", secret=SECRET)
    swapped = None
    while vb not in scorer.process_versions or scorer.version != vb:
        if swapped is None and scorer.version == vb:
            swapped = loop.time() - start
        assert loop.time() - start < REACH_S, f"the promotion did not reach the scoring process within {REACH_S} s"
        await asyncio.sleep(0.01)
    reached = loop.time() - start
    print(f"promotion reached this process in {swapped} s, the scoring process in {reached:.2f} s")
    await client.close()
