"""Retraining: challengers judged on the same held-out data, the promotion gate, dry runs, forcing, determinism."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.connection
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis.asyncio import Redis
from sklearn.metrics import roc_auc_score

from service import tasks as background
from service.learning import mixing, promotion, retraining, schedule
from service.learning.corpus import load_corpus, make_record
from service.review import intake, labels, states, transitions
from service.settings import Settings
from service.spam import registry
from service.store.keys import Keys
from service.store.scripts import Scripts
from tests.conftest import TEST_SECRET
from tests.model_helpers import CORPUS, tiny_models
from tests.queue_helpers import make_comment

SECRET = TEST_SECRET.encode()  # the registry signs with the service secret: the test apps' one


def _seed_items(n: int, start: int = 3, step: int = 9) -> list[dict[str, Any]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[start::step]
    random.Random(start).shuffle(lines)  # the corpus is grouped by family: mix ham and spam
    return [json.loads(line) for line in lines[:n]]


async def decide_all(redis: Redis, keys: Keys, items: list[dict[str, Any]], flip: bool = False) -> None:
    """Submit and decide each item as its label says (or the opposite, with `flip`)."""
    scripts = Scripts(redis)
    for item in items:
        name, title, content, markup = make_record(item.get("name", ""), item.get("title", ""), item["content"])
        c = make_comment(name=name, title=title, content=content, signals={"had_markup": markup})
        cid, _ = await intake.enqueue(redis, keys, scripts, c)
        spam = (item["label"] == "spam") != flip
        action = states.Action.REJECT if spam else states.Action.APPROVE
        await transitions.decide(
            redis, keys, scripts, cid, "mod1", 1, action, states.RejectReason.SPAM if spam else None
        )


def _scores(y: np.ndarray, separation: float, seed: int) -> np.ndarray:
    """Scores where spam sits `separation` above ham on average (noise 1): a model of some quality."""
    rng = np.random.default_rng(seed)
    return np.asarray(1 / (1 + np.exp(-(rng.normal(size=len(y)) + separation * y))), dtype=float)


def test_gate_judges_real_decisions_with_a_paired_bootstrap() -> None:
    """Clearly better passes; as good passes within the margin; clearly worse fails; too few
    decisions keep the champion; the seed guard fails a challenger that forgets the seed corpus."""
    policy = promotion.Policy(fpr=0.05, bootstrap=300)
    y = np.asarray([0, 1] * 150)
    weak, strong = _scores(y, 0.5, 1), _scores(y, 3.0, 2)
    better = promotion.gate(y, weak, strong, (0.99, 0.99), policy)
    assert better.passed, better.reasons
    paired = better.evidence["paired"]
    low, high = paired["roc_auc"]["difference_interval"]
    assert 0 < low < paired["roc_auc"]["difference"] < high
    assert better.evidence["n_real_holdout"] == 300 and better.evidence["guard"]["challenger"] == 0.99
    assert promotion.gate(y, strong, strong, None, policy).passed  # a difference of 0 is within the margin
    worse = promotion.gate(y, strong, weak, None, policy)
    assert not worse.passed and "lower bound not above" in worse.reasons[0]
    few = promotion.gate(y[:30], weak[:30], strong[:30], None, policy)
    assert not few.passed and "only 30 new real decisions" in few.reasons[0]
    forgot = promotion.gate(y, weak, strong, (0.99, 0.90), policy)
    assert not forgot.passed and any("seed guard" in r and "loses" in r for r in forgot.reasons)
    assert promotion.gate(y[:5], None, strong[:5], None, policy).passed  # nothing in use: nothing to lose
    y2 = np.asarray([0] * 10 + [1] * 4)
    proba = np.asarray([0.1] * 8 + [0.5, 0.9] + [0.95, 0.6, 0.4, 0.2])
    # FPR 0.1 of 10 ham allows one: the threshold sits above the second-highest ham (0.5).
    assert promotion.recall_at_fpr(y2, proba, 0.1) == 0.5
    assert promotion.roc_auc(y, strong) == pytest.approx(roc_auc_score(y, strong))
    assert promotion.precision_at_top(y2, proba, 0.15) == 0.5  # top 2: 0.95 (spam), 0.9 (ham)


def test_thresholds_from_real_decisions() -> None:
    """With enough real ham, `spam` flags the policy's share of it (with an interval); else training's."""
    policy = promotion.Policy(fpr=0.02, bootstrap=200)
    y = np.asarray([0] * 400 + [1] * 100)
    proba = _scores(y, 3.0, 3)
    fallback = {"suspect": 0.3, "spam": 0.9}
    t, info = promotion.real_thresholds(y, proba, policy, fallback)
    assert info["source"] == "real held-out decisions" and info["n_ham"] == 400
    assert (proba[y == 0] >= t["spam"]).mean() <= 0.02 and (proba[y == 0] >= t["spam"]).mean() >= 0.015
    low, high = info["spam_interval"]
    assert low <= t["spam"] <= high
    assert t["suspect"] <= t["spam"]
    t_small, info_small = promotion.real_thresholds(y[300:], proba[300:], policy, fallback)
    assert t_small == fallback and info_small["source"].startswith("training")


def test_seed_share_falls_and_contradicted_seed_is_dropped() -> None:
    """More decisions keep less of the seed (stratified); a seed example a moderator contradicted goes."""
    seed = load_corpus(CORPUS, "train")
    none, info0 = mixing.mix_seed(seed, [])
    assert len(none) == len(seed) and info0["seed_contradicted_dropped"] == 0
    few, _ = mixing.mix_seed(seed, [(seed.rows[0], int(seed.y[0]))] * 500)
    many, _ = mixing.mix_seed(seed, [(seed.rows[0], int(seed.y[0]))] * 3000)
    assert len(seed) > len(few) > len(many) >= min(mixing.SEED_FLOOR, len(seed))
    assert abs(few.y.mean() - seed.y.mean()) < 0.02  # the seed's class balance is kept
    # A moderator decided the opposite of the seed label on near-identical text (case, diacritics, digits).
    name, title, content, markup = seed.rows[0]
    twin = (name, title, content.upper().replace("0", "7") + " !!", markup)
    assert mixing.text_key(twin) == mixing.text_key(seed.rows[0])
    kept, info = mixing.mix_seed(seed, [(twin, 1 - int(seed.y[0]))])
    assert info["seed_contradicted_dropped"] >= 1
    assert seed.rows[0] not in kept.rows


def test_newest_decisions_are_held_out() -> None:
    """The newest share of the binary decisions a model has not learned from is held out; others train."""
    exs = [
        labels.Example(str(i), f"c{i}", "n", "t", "x", False, "spam" if i % 2 else "ham", "", "m", 1000 - i, "v", None)
        for i in range(20)
    ]
    exs.append(labels.Example("x", "cx", "n", "t", "x", False, "abusive", "abusive", "m", 5000, "v", None))
    older, newest = retraining.split_by_time(exs, 0.25)
    assert len(older) == 15 and len(newest) == 5
    assert max(e.at_ms for e in older) < min(e.at_ms for e in newest)
    assert all(e.is_binary for e in older + newest)
    # The current model learned up to c10 (at_ms 990): 10 decisions are new, the newest 3 held out.
    older, newest = retraining.split_by_time(exs, 0.3, (990, "c10"))
    assert [e.comment_id for e in newest] == ["c2", "c1", "c0"] and len(older) == 17
    # When the newest share holds one class only, the held-out part reaches back to the other's newest.
    same = [
        labels.Example(
            str(i), f"c{i}", "n", "t", "x", False, "spam" if i < 4 or i % 2 else "ham", "", "m", 1000 - i, "v", None
        )
        for i in range(20)
    ]
    older, newest = retraining.split_by_time(same, 0.2)  # 4 newest are spam; c4 is the newest ham
    assert [e.comment_id for e in newest] == ["c4", "c3", "c2", "c1", "c0"] and len(older) == 15
    # At least 3 of each class: back to the third-newest ham (c8).
    older, newest = retraining.split_by_time(same, 0.2, None, 3)
    assert [e.comment_id for e in newest] == ["c8", "c7", "c6", "c5", "c4", "c3", "c2", "c1", "c0"]
    # Fewer than 10 new decisions: none held out (the seed test split alone judges).
    older, newest = retraining.split_by_time(exs, 0.3, (995, "c5"))
    assert newest == [] and len(older) == 20
    assert retraining.seen_until({"data": {"labels_until": [990, "c10"]}}) == (990, "c10")
    assert retraining.seen_until({"data": {}}) is None and retraining.seen_until(None) is None


async def test_mislabelled_challenger_is_not_promoted_unless_forced(
    redis: Redis, make_settings: Any, tmp_path: Path
) -> None:
    """A challenger trained on flipped labels loses to the current model and stays out; --force is audited."""
    keys = Keys()
    settings: Settings = make_settings()
    a, _ = tiny_models()
    va = (await registry.put(redis, keys, a, secret=SECRET))["version"]
    await registry.promote(redis, keys, va, "admin", secret=SECRET)
    items = _seed_items(250)
    await decide_all(redis, keys, items[:200], flip=True)  # a moderator who got everything backwards
    await decide_all(redis, keys, items[200:])  # the newest decisions (held out) are right
    out = await retraining.retrain(redis, keys, settings, seed=None, by="test", report=tmp_path / "r.md")
    assert not out.challenge.gate.passed and not out.promoted
    assert out.challenge.current_version == va
    assert out.challenge.challenger["roc_auc"] < out.challenge.current["roc_auc"]  # type: ignore[index]
    retraining_card = out.challenge.card["retraining"]
    assert retraining_card["n_real_holdout"] == 50 and retraining_card["gate"]["verdict"] == "failed"
    assert retraining_card["gate"]["paired"]["roc_auc"]["difference_interval"][1] < 0
    assert await registry.current(redis, keys) == va
    challenger = out.challenge.card["version"]
    assert challenger in {c["version"] for c in await registry.cards(redis, keys)}  # registered, not current
    assert (tmp_path / "r.md").exists() and "FAILED" in (tmp_path / "r.md").read_text()
    events = [(e["event"], e.get("gate")) for e in await registry.audit_log(redis, keys)]
    assert events[0] == ("retrained", "failed")

    forced = await retraining.retrain(redis, keys, settings, seed=None, by="ops", force=True)
    assert forced.promoted and forced.forced and forced.challenge.refit
    assert forced.challenge.challenger == out.challenge.challenger  # the same inputs judged the same way
    assert await registry.current(redis, keys) == forced.challenge.card["version"] != challenger
    assert forced.challenge.card["data"]["labels_until"] is not None  # it learned every decision
    latest = (await registry.audit_log(redis, keys))[0]
    assert latest["event"] == "forced_promotion" and latest["by"] == "ops" and "FORCED" in latest["reason"]


async def test_passed_challenger_is_refit_and_next_gate_uses_only_new_decisions(
    redis: Redis, make_settings: Any, tmp_path: Path
) -> None:
    """A passing challenger is promoted refit with the held-out decisions; the next gate holds out only newer ones."""
    keys = Keys()
    settings: Settings = make_settings(model_path=tmp_path / "none.skops")  # no current model at all
    items = _seed_items(100, start=6)
    await decide_all(redis, keys, items[:60])
    first = await retraining.retrain(redis, keys, settings, seed=None, by="test")
    assert first.promoted and first.challenge.refit
    # The newest 12 (20%) hold too few spam: the held-out part reaches back to 10 of each class.
    assert first.challenge.counts["labels_train"] == 37 and first.challenge.counts["labels_holdout"] == 23
    newest = max((e.at_ms, e.comment_id) for e in await labels.read_all(redis, keys))
    card = first.challenge.card
    assert retraining.seen_until(card) == newest and card["data"]["refit_with_holdout"] is True
    assert await registry.current(redis, keys) == card["version"]

    await decide_all(redis, keys, items[60:])
    second = await retraining.retrain(redis, keys, settings, seed=None, dry_run=True)
    # 40 decisions are new to the model in use: the newest 8, reaching back to 10 of each class, are
    # held out (all within the 40 new ones); all the others train.
    assert second.challenge.counts["labels_holdout"] == 29 and second.challenge.counts["labels_train"] == 71
    assert 8 < second.challenge.counts["labels_holdout"] <= 40
    assert second.challenge.current_version == card["version"] and not second.challenge.refit


async def test_dry_run_changes_nothing_and_is_deterministic(redis: Redis, make_settings: Any) -> None:
    """A dry run registers and promotes nothing; the same inputs give the same artifact bytes."""
    keys = Keys()
    settings: Settings = make_settings()
    await decide_all(redis, keys, _seed_items(120, start=5))
    first = await retraining.retrain(redis, keys, settings, seed=None, dry_run=True)
    second = await retraining.retrain(redis, keys, settings, seed=None, dry_run=True)
    assert first.dry_run and not first.promoted
    assert await registry.cards(redis, keys) == [] and await registry.current(redis, keys) is None
    assert await registry.audit_log(redis, keys) == []
    assert first.challenge.card["artifact_sha256"] == second.challenge.card["artifact_sha256"]
    assert first.challenge.counts == {
        "seed_train": 0,
        "seed_test": 0,
        "labels_train": 89,  # 24 newest (20%), reaching back to hold 10 of each class
        "labels_holdout": 31,
        "labels_other": 0,
    }


async def test_schedule_retrains_after_n_new_labels(redis: Redis, make_settings: Any) -> None:
    """With N new labels the background loop retrains (in a worker process) and records what it saw."""
    keys = Keys()
    settings: Settings = make_settings(retrain_every_labels=50, retrain_check_seconds=0.05)
    await decide_all(redis, keys, _seed_items(40, start=2))
    bg = background.Background()
    task = bg.start(schedule.schedule_loop(redis, keys, settings, bg, seed=None), name="retrain-schedule")
    try:
        await asyncio.sleep(0.3)
        assert await registry.audit_log(redis, keys) == []  # 40 < 50: nothing yet
        await decide_all(redis, keys, _seed_items(20, start=4))
        for _ in range(2400):  # up to 240 s: a worker process starts, imports sklearn and trains
            if await registry.audit_log(redis, keys):
                break
            await asyncio.sleep(0.1)
    finally:
        # Not a cancel(): redis-py, on Python 3.11, can swallow one that lands mid-command
        # (this test hung so); the loop stops when asked, as the service stops it.
        await bg.stop(within_s=30)
    assert task.done()
    entry = (await registry.audit_log(redis, keys))[-1]
    assert entry["event"] == "retrained" and entry["by"] == "schedule"
    assert 50 <= int(await redis.get(keys.labels_seen()) or 0) <= 60  # counted when it noticed
    assert await redis.get(keys.retrain_lock()) is None


async def test_stopping_the_schedule_mid_training_drops_it_and_its_worker(redis: Redis, make_settings: Any) -> None:
    """Stopped while a scheduled training runs: the worker process goes, nothing is registered,
    the lock is released (another replica may retrain) and the labels stay new."""
    keys = Keys()
    settings: Settings = make_settings(retrain_every_labels=50, retrain_check_seconds=0.05)
    await decide_all(redis, keys, _seed_items(60, start=2))
    before = set(multiprocessing.active_children())
    bg = background.Background()
    task = bg.start(schedule.schedule_loop(redis, keys, settings, bg, seed=None), name="retrain-schedule")
    workers: set[multiprocessing.process.BaseProcess] = set()
    try:
        for _ in range(600):
            workers = set(multiprocessing.active_children()) - before
            if workers and await redis.get(keys.retrain_lock()):
                break
            await asyncio.sleep(0.05)
        assert workers, "the scheduled retraining never started its worker"
    finally:
        await bg.stop(within_s=30)
    assert task.done()
    for proc in workers:
        # Its sentinel, not is_alive(): the pool's own thread may reap the process first, and then
        # is_alive() says True forever (waitpid fails with ECHILD and the exit code stays unknown).
        ended = await asyncio.to_thread(multiprocessing.connection.wait, [proc.sentinel], 30)
        assert ended, f"the training worker {proc.pid} is still running"
    assert await registry.audit_log(redis, keys) == []
    assert await redis.get(keys.labels_seen()) is None
    assert list((settings.data_dir / "retrain").glob("challenger-*")) == []  # nothing left on disk
    for _ in range(100):  # the shielded release finishes on its own
        if await redis.get(keys.retrain_lock()) is None:
            break
        await asyncio.sleep(0.05)
    assert await redis.get(keys.retrain_lock()) is None


async def test_retrain_lock_is_released_only_by_its_holder(redis: Redis) -> None:
    """A lock that expired and was taken by another replica is theirs: releasing ours leaves it."""
    keys, scripts = Keys(), Scripts(redis)
    await redis.set(keys.retrain_lock(), "theirs", ex=60)
    assert not await scripts.lock_release(redis, keys.retrain_lock(), "ours")
    assert await redis.get(keys.retrain_lock()) == "theirs"
    assert await scripts.lock_release(redis, keys.retrain_lock(), "theirs")
    assert await redis.get(keys.retrain_lock()) is None


def test_retrain_shows_its_stages_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With progress on, the stages and a bar with an estimate of the time left go to stderr
    (stdout stays the verdict); with progress off, nothing is drawn."""
    examples = [
        labels.Example(
            str(i), f"c{i}", item.get("name", ""), "", item["content"], False, item["label"], "", "m", i, "", None
        )
        for i, item in enumerate(_seed_items(80, start=7))
    ]
    dataset = retraining.build_dataset(None, examples, 0.2)
    policy = promotion.Policy(bootstrap=50)
    retraining.challenge(dataset, None, tmp_path, policy, refit="never", progress=True)
    err = capsys.readouterr().err
    assert "retrain: train the challenger" in err and "retrain: done" in err and "<" in err  # tqdm's ETA
    retraining.challenge(dataset, None, tmp_path, policy, refit="never", progress=False)
    assert capsys.readouterr().err == ""


def test_challenger_directories_a_killed_process_left_are_swept(tmp_path: Path) -> None:
    """A challenger directory older than a day (its process was killed) goes; a fresh one stays."""
    import os
    import time

    old, fresh = tmp_path / "challenger-old", tmp_path / "challenger-new"
    for d in (old, fresh):
        d.mkdir()
        (d / "spam-model.skops").write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    retraining._sweep_abandoned(tmp_path)
    assert not old.exists() and fresh.exists()
