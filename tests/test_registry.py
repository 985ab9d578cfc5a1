"""The model registry: versions stored in Redis with their cards, promote, rollback, shadow, audit."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from redis.asyncio import Redis

from service.http import appkeys
from service.review import moderators
from service.spam import registry
from service.spam.card import ModelLoadError, card_path
from service.spam.signing import UnsignedModel
from service.store.channels import ShardSubscription
from service.store.keys import Keys
from tests.clients import MakeClient
from tests.conftest import TEST_SECRET
from tests.model_helpers import tiny_models

SECRET = TEST_SECRET.encode()  # the registry signs with the service secret: the test apps' one


async def test_put_list_load(redis: Redis, tmp_path: Path) -> None:
    """A registered artifact is listed with its card and loads (verified) from any replica's cache."""
    keys = Keys()
    a, b = tiny_models()
    card_a = await registry.put(redis, keys, a, secret=SECRET)
    card_b = await registry.put(redis, keys, b, secret=SECRET)
    assert card_a["version"] != card_b["version"]
    versions = {c["version"] for c in await registry.cards(redis, keys)}
    assert versions == {card_a["version"], card_b["version"]}
    model = await registry.load(redis, keys, card_b["version"], tmp_path / "replica", secret=SECRET)
    assert model.version == card_b["version"]
    assert await registry.current(redis, keys) is None


async def test_tampered_artifact_is_refused(redis: Redis, tmp_path: Path) -> None:
    """An artifact that does not match its card is not registered."""
    a, _ = tiny_models()
    bad = tmp_path / "spam-model.skops"
    bad.write_bytes(a.read_bytes() + b"x")
    card_path(bad).write_text(card_path(a).read_text())
    with pytest.raises(registry.errors.BadRequest):
        await registry.put(redis, Keys(), bad, secret=SECRET)


async def test_promote_rollback_history_and_audit(redis: Redis) -> None:
    """Promote keeps the previous version; rollback returns to it, then to the shipped file; audited, announced."""
    keys = Keys()
    a, b = tiny_models()
    va = (await registry.put(redis, keys, a, secret=SECRET))["version"]
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    subscription = await ShardSubscription(redis, [keys.model_channel()]).__aenter__()
    await registry.promote(redis, keys, va, "alice", secret=SECRET)
    await registry.promote(redis, keys, vb, "bob", "better", secret=SECRET)
    assert await registry.current(redis, keys) == vb
    assert await registry.history(redis, keys) == [va]
    assert await registry.rollback(redis, keys, "carol") == va
    assert await registry.current(redis, keys) == va
    assert await registry.rollback(redis, keys, "carol") is None
    assert await registry.current(redis, keys) is None
    with pytest.raises(registry.NothingToRollBack):
        await registry.rollback(redis, keys, "carol")
    with pytest.raises(registry.ModelVersionNotFound):
        await registry.promote(redis, keys, "nope", "alice", secret=SECRET)
    events = [row["event"] for row in await registry.audit_log(redis, keys)]
    assert events == ["rolled_back", "rolled_back", "promoted", "promoted"]
    announced = []
    while (msg := await subscription.get(0.5)) is not None:
        announced.append(json.loads(msg))
    await subscription.aclose()
    assert announced == [
        {"event": "promoted", "version": va},
        {"event": "promoted", "version": vb},
        {"event": "rolled_back", "version": va},
        {"event": "rolled_back", "version": None},
    ]


async def test_shadow_set_and_clear(redis: Redis) -> None:
    """A shadow version must be registered; clearing it removes it."""
    keys = Keys()
    a, _ = tiny_models()
    va = (await registry.put(redis, keys, a, secret=SECRET))["version"]
    await registry.set_shadow(redis, keys, va, "alice", secret=SECRET)
    assert await registry.shadow(redis, keys) == va
    await registry.set_shadow(redis, keys, None, "alice", secret=SECRET)
    assert await registry.shadow(redis, keys) is None
    with pytest.raises(registry.ModelVersionNotFound):
        await registry.set_shadow(redis, keys, "nope", "alice", secret=SECRET)


def test_model_cli(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`duyet model register|list|promote|show|rollback|shadow|audit` drive the registry."""
    from service.commands import main as cli

    monkeypatch.setenv("DUYET_KEY_PREFIX", f"cli{tmp_path.name[-6:].replace('-', '')}")
    common = ["--redis-url", redis_url, "--data-dir", str(tmp_path)]
    a, _ = tiny_models()
    version = json.loads(card_path(a).read_text())["version"]

    def run(*args: str) -> str:
        assert cli.main(["model", *common, *args]) == 0
        return capsys.readouterr().out

    assert f"registered {version}" in run("register", str(a))
    assert "(no current version" in run("list")
    assert f"promoted {version}" in run("promote", version)
    assert run("list").startswith(f"* {version}")
    assert json.loads(run("show"))["version"] == version
    assert f"shadow mode: {version}" in run("shadow", version)
    assert "shadow mode off" in run("shadow", "--off")
    assert "rolled back to the shipped file" in run("rollback")
    events = [json.loads(line)["event"] for line in run("audit", "--json").splitlines()]
    assert events == ["rolled_back", "shadow", "shadow", "promoted", "registered"]
    readable = run("audit").splitlines()  # for a person: local time, event, version, who
    assert len(readable) == 5 and readable[0].split()[2] == "rolled_back"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", " ".join(readable[-1].split()[:2]))
    assert "registered" in readable[-1] and version in readable[-1] and "by cli:" in readable[-1]


def _forge(version: str, artifact: Path) -> tuple[str, str]:
    """What someone who can write the store but lacks the secret can make for `version`: another
    artifact (base64) and a card that vouches for it (its SHA-256), under that version's name."""
    blob = artifact.read_bytes()
    card = json.loads(card_path(artifact).read_text(encoding="utf-8"))
    card["version"] = version
    card["artifact_sha256"] = hashlib.sha256(blob).hexdigest()
    return base64.b64encode(blob).decode("ascii"), json.dumps(card, ensure_ascii=False, sort_keys=True)


async def test_a_version_changed_in_the_store_is_refused(redis: Redis, tmp_path: Path) -> None:
    """A signed version whose artifact and card were swapped in the store for another matching pair
    is refused on load, promotion and shadowing, with a clear error; nothing changes."""
    keys = Keys()
    a, b = tiny_models()
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    blob_b64, card_json = _forge(vb, a)
    await redis.set(keys.model_artifact(vb), blob_b64)
    await redis.hset(keys.model_cards(), vb, card_json)
    with pytest.raises(UnsignedModel, match="does not match its signature"):
        await registry.load(redis, keys, vb, tmp_path / "replica", secret=SECRET)
    with pytest.raises(UnsignedModel) as refused:
        await registry.promote(redis, keys, vb, "mallory", secret=SECRET)
    assert refused.value.code == "model_signature_invalid"
    with pytest.raises(UnsignedModel):
        await registry.set_shadow(redis, keys, vb, "mallory", secret=SECRET)
    assert await registry.current(redis, keys) is None and await registry.shadow(redis, keys) is None
    assert await registry.audit_log(redis, keys) == []
    assert not (tmp_path / "replica" / vb).exists()


async def test_a_version_registered_without_the_secret_is_refused(redis: Redis, tmp_path: Path) -> None:
    """A version registered by someone holding another secret (or none: no signature at all) is
    refused; the same file registered with the service's secret is accepted."""
    keys = Keys()
    _, b = tiny_models()
    vb = (await registry.put(redis, keys, b, secret=b"not-the-service-secret-" + b"y" * 20))["version"]
    with pytest.raises(UnsignedModel, match="does not match its signature"):
        await registry.promote(redis, keys, vb, "mallory", secret=SECRET)
    await redis.hdel(keys.model_signatures(), vb)
    with pytest.raises(UnsignedModel, match="has no signature"):
        await registry.load(redis, keys, vb, tmp_path / "replica", secret=SECRET)
    await registry.put(redis, keys, b, secret=SECRET)
    await registry.promote(redis, keys, vb, "admin", secret=SECRET)
    assert await registry.current(redis, keys) == vb


async def test_a_changed_copy_in_the_local_cache_is_replaced_by_the_signed_version(
    redis: Redis, tmp_path: Path
) -> None:
    """A replica's cached copy edited on disk (card and artifact, consistently) is not loaded: the
    signed version is written again from the store."""
    keys = Keys()
    a, b = tiny_models()
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    cache = tmp_path / "replica"
    path = await registry.fetch(redis, keys, vb, cache, secret=SECRET)
    blob_b64, card_json = _forge(vb, a)
    path.write_bytes(base64.b64decode(blob_b64))
    card_path(path).write_text(card_json, encoding="utf-8")
    again = await registry.fetch(redis, keys, vb, cache, secret=SECRET)
    assert again.read_bytes() == b.read_bytes()
    assert (
        json.loads(card_path(again).read_text(encoding="utf-8"))["artifact_sha256"]
        == hashlib.sha256(b.read_bytes()).hexdigest()
    )


async def test_the_service_keeps_its_model_when_the_current_version_was_tampered(
    make_client: MakeClient, redis: Redis
) -> None:
    """The store says "score with version B", but B's artifact and card were replaced (a matching
    pair, no signature of ours): the service refuses it, says why, and keeps scoring with A."""
    a, b = tiny_models()
    va = json.loads(card_path(a).read_text(encoding="utf-8"))["version"]
    client = await make_client(model_path=a)
    app = client.app
    assert app is not None
    keys = app[appkeys.KEYS]
    _, token = await moderators.add(redis, keys, "boss", moderators.Role.ADMIN)
    vb = (await registry.put(redis, keys, b, secret=SECRET))["version"]
    blob_b64, card_json = _forge(vb, a)
    await redis.set(keys.model_artifact(vb), blob_b64)
    await redis.hset(keys.model_cards(), vb, card_json)
    await redis.set(keys.model_current(), vb)  # as a promotion would, bypassing its check
    resp = await client.post("/v1/model/reload", headers={"Authorization": f"Bearer {token}"})
    body = await resp.json()
    assert resp.status == 200, body
    assert "does not match its signature" in body["changed"]["error"]
    assert app[appkeys.SCORER].version == va
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"]["model"] == va


def test_the_shipped_model_is_pinned_by_its_checksums(tmp_path: Path) -> None:
    """The shipped artifact and card match the SHA-256 recorded beside them; a copy of the shipped
    model with one changed byte in its card is refused when a checksum file is beside it."""
    from service.settings import DEFAULT_MODEL
    from service.spam.loading import load_model_safely
    from service.spam.signing import check_checksums, checksum_path

    check_checksums(DEFAULT_MODEL, required=True)  # the repository's files are what was recorded
    a, _ = tiny_models()
    target = tmp_path / a.name
    for src in (a, card_path(a), checksum_path(a)):
        shutil.copy(src, tmp_path / src.name)
    card = json.loads(card_path(target).read_text(encoding="utf-8"))
    card["thresholds"]["spam"] = 0.99  # a lenient threshold, the artifact untouched
    card_path(target).write_text(json.dumps(card), encoding="utf-8")
    model, error = load_model_safely(target)
    assert model is None and error is not None and "does not match the SHA-256 recorded" in error
    checksum_path(target).unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        check_checksums(target, required=True)
