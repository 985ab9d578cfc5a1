"""The model registry: versions stored in Redis with their cards, promote, rollback, shadow, audit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from redis.asyncio import Redis

from service.spam import registry
from service.spam.card import card_path
from service.store.keys import Keys
from tests.model_helpers import tiny_models


async def test_put_list_load(redis: Redis, tmp_path: Path) -> None:
    """A registered artifact is listed with its card and loads (verified) from any replica's cache."""
    keys = Keys()
    a, b = tiny_models()
    card_a = await registry.put(redis, keys, a)
    card_b = await registry.put(redis, keys, b)
    assert card_a["version"] != card_b["version"]
    versions = {c["version"] for c in await registry.cards(redis, keys)}
    assert versions == {card_a["version"], card_b["version"]}
    model = await registry.load(redis, keys, card_b["version"], tmp_path / "replica")
    assert model.version == card_b["version"]
    assert await registry.current(redis, keys) is None


async def test_tampered_artifact_is_refused(redis: Redis, tmp_path: Path) -> None:
    """An artifact that does not match its card is not registered."""
    a, _ = tiny_models()
    bad = tmp_path / "spam-model.skops"
    bad.write_bytes(a.read_bytes() + b"x")
    card_path(bad).write_text(card_path(a).read_text())
    with pytest.raises(registry.errors.BadRequest):
        await registry.put(redis, Keys(), bad)


async def test_promote_rollback_history_and_audit(redis: Redis) -> None:
    """Promote keeps the previous version; rollback returns to it, then to the shipped file; audited, announced."""
    keys = Keys()
    a, b = tiny_models()
    va = (await registry.put(redis, keys, a))["version"]
    vb = (await registry.put(redis, keys, b))["version"]
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.model_channel())
    await registry.promote(redis, keys, va, "alice")
    await registry.promote(redis, keys, vb, "bob", "better")
    assert await registry.current(redis, keys) == vb
    assert await registry.history(redis, keys) == [va]
    assert await registry.rollback(redis, keys, "carol") == va
    assert await registry.current(redis, keys) == va
    assert await registry.rollback(redis, keys, "carol") is None
    assert await registry.current(redis, keys) is None
    with pytest.raises(registry.NothingToRollBack):
        await registry.rollback(redis, keys, "carol")
    with pytest.raises(registry.ModelVersionNotFound):
        await registry.promote(redis, keys, "nope", "alice")
    events = [row["event"] for row in await registry.audit_log(redis, keys)]
    assert events == ["rolled_back", "rolled_back", "promoted", "promoted"]
    announced = []
    for _ in range(20):  # None also stands for the skipped subscribe confirmation: poll a few times
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if msg is not None:
            announced.append(json.loads(msg["data"]))
    await pubsub.aclose()
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
    va = (await registry.put(redis, keys, a))["version"]
    await registry.set_shadow(redis, keys, va, "alice")
    assert await registry.shadow(redis, keys) == va
    await registry.set_shadow(redis, keys, None, "alice")
    assert await registry.shadow(redis, keys) is None
    with pytest.raises(registry.ModelVersionNotFound):
        await registry.set_shadow(redis, keys, "nope", "alice")


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
