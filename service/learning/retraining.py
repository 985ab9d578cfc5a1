"""Retraining: seed corpus + moderators' labels -> a challenger, judged against the current model.

Both models are scored on the same real decisions: the newest share of the decisions the current
model has not learned from (what the service will see next; its card records the newest decision
it learned from). So neither model has seen a held-out example: judging on decisions the current
model had learned from would favour it. The seed corpus's test split is a separate guard, never
pooled with them (`promotion`). The challenger is trained on the rest: older decisions plus a
share of the seed train split that falls as decisions accumulate (`mixing`).

A challenger that passes is refit with the held-out decisions too before it is promoted (the
usual refit after model selection): otherwise the model in use would never know the newest
decisions, the ones closest to what comes next. The seed test split is never trained on.
`--force` promotes a failing challenger (refit the same way), and says so in the audit stream.

Deterministic: the same seed file and labels give the same training set in the same order, the
same fits (fixed random states) and the same artifact bytes (`persistence` saves canonically).

The CPU-bound part (`challenge`) is a plain function of picklable inputs, so the scheduled
retraining (`schedule`) runs it in a worker process and the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from redis.asyncio import Redis

from service.learning.corpus import DEFAULT_CORPUS, Labelled, file_sha256, load_corpus
from service.learning.mixing import mix_seed
from service.learning.persistence import save
from service.learning.promotion import Gate, Policy, evaluate, gate, real_thresholds, roc_auc
from service.learning.report import write_report
from service.learning.training import fit, predict_proba
from service.review import labels
from service.review.labels import Example
from service.settings import Settings
from service.spam import registry
from service.store.keys import Keys

log = logging.getLogger(__name__)


Until = tuple[int, str]  # (at_ms, comment_id): the newest decision a model learned from


@dataclass
class Dataset:
    train: Labelled
    #: the newest decisions the current model has not learned from: what the gate judges on
    real_holdout: Labelled
    #: the seed corpus's test split: a separate guard, never pooled with `real_holdout`
    seed_test: Labelled
    counts: dict[str, int]
    data_sha256: str
    train_until: Until | None
    all_until: Until | None
    seed_mix: dict[str, Any]

    @property
    def held_decisions(self) -> Labelled:
        """Added to `train` when a challenger is refit for promotion."""
        return self.real_holdout


def _until(examples: Sequence[Example]) -> Until | None:
    return max(((e.at_ms, e.comment_id) for e in examples), default=None)


def seen_until(card: dict[str, Any] | None) -> Until | None:
    """The newest decision a model learned from, from its card (None: no decisions, e.g. the shipped model)."""
    value = ((card or {}).get("data") or {}).get("labels_until")
    if isinstance(value, list) and len(value) == 2:
        return int(value[0]), str(value[1])
    return None


def split_by_time(
    examples: Sequence[Example], share: float, seen: Until | None = None, min_per_class: int = 1
) -> tuple[list[Example], list[Example]]:
    """(train, held out): the newest `share` of the binary decisions newer than `seen` is held out
    (none when fewer than 10 are new: the gate then says there is too little to judge on); the rest
    is for training. A held-out part with fewer than `min_per_class` of a class is extended back,
    within the new decisions, until it holds that many (or the new decisions run out): the gate
    needs both classes to judge on, and a portal's spam can be rare in a week."""
    binary = sorted((e for e in examples if e.is_binary), key=lambda e: (e.at_ms, e.comment_id))
    unseen = sum(1 for e in binary if seen is None or (e.at_ms, e.comment_id) > seen)
    n_hold = round(unseen * share) if unseen >= 10 else 0
    if n_hold:
        per_class = [0, 0]
        for e in binary[len(binary) - n_hold :]:
            per_class[e.y] += 1
        for back in range(n_hold + 1, unseen + 1):
            if min(per_class) >= min_per_class:
                break
            y = binary[-back].y
            if per_class[y] < min_per_class:
                n_hold = back
            per_class[y] += 1
    cut = len(binary) - n_hold
    return binary[:cut], binary[cut:]


def _labelled(examples: Sequence[Example]) -> Labelled:
    return Labelled([e.record() for e in examples], np.asarray([e.y for e in examples], dtype=int))


def _concat(a: Labelled, b: Labelled) -> Labelled:
    return Labelled(a.rows + b.rows, np.concatenate([a.y, b.y]).astype(int))


def build_dataset(
    seed: Path | None, examples: Sequence[Example], share: float, seen: Until | None = None, min_per_class: int = 1
) -> Dataset:
    """Training and held-out data, in a fixed order (seed file order, then decisions by time).
    The seed part shrinks as decisions accumulate and loses what decisions contradict (`mixing`)."""
    empty = Labelled([], np.zeros(0, dtype=int))
    seed_train = load_corpus(seed, "train") if seed else empty
    seed_test = load_corpus(seed, "test") if seed else empty
    older, newest = split_by_time(examples, share, seen, min_per_class)
    decided = [(e.record(), e.y) for e in (*older, *newest)]
    seed_part, mix = mix_seed(seed_train, decided) if seed else (empty, {"seed_train_total": 0})
    digest = hashlib.sha256()
    digest.update((file_sha256(seed) if seed else "no-seed").encode())
    for e in [*older, *newest]:
        digest.update(f"\n{e.comment_id}\t{e.label}\t{e.at_ms}".encode())
    digest.update(f"\nheld out {len(newest)}".encode())
    return Dataset(
        train=_concat(seed_part, _labelled(older)),
        real_holdout=_labelled(newest),
        seed_test=seed_test,
        counts={
            "seed_train": len(seed_part),
            "seed_test": len(seed_test),
            "labels_train": len(older),
            "labels_holdout": len(newest),
            "labels_other": sum(1 for e in examples if not e.is_binary),
        },
        data_sha256=digest.hexdigest(),
        train_until=_until(older),
        all_until=_until([*older, *newest]),
        seed_mix=mix,
    )


@dataclass
class Challenge:
    """What `challenge` produced: the artifact on disk (the refit when `refit`), both models'
    metrics on the real held-out decisions (of the challenger as judged, before any refit), the gate."""

    artifact: Path
    card: dict[str, Any]
    current_version: str | None
    current: dict[str, Any] | None
    challenger: dict[str, Any]
    gate: Gate
    counts: dict[str, int]
    report: Path | None
    refit: bool = False


STAGES = ("train the challenger", "score the held-out decisions", "judge (paired bootstrap)", "refit", "save")


def challenge(
    dataset: Dataset,
    current_artifact: Path | None,
    out_dir: Path,
    policy: Policy,
    report: Path | None = None,
    refit: str = "passed",
    progress: bool = False,
) -> Challenge:
    """Train the challenger, score both models on the real held-out decisions and the seed guard,
    apply the gate (CPU-bound, sync).

    `refit`: when to refit the challenger with the held-out decisions for promotion: "passed"
    (if the gate passed), "always" (a forced promotion) or "never" (a dry run). `progress`: the
    stages and a bar with an estimate of the time left, on stderr."""
    from tqdm import tqdm

    from service.spam.model import SpamModel

    stages = tqdm(total=len(STAGES), desc="retrain", unit="stage", disable=not progress, position=0)

    def stage(i: int) -> None:
        stages.set_description(f"retrain: {STAGES[i]}")
        stages.n = i
        stages.refresh()

    stage(0)
    fitted = fit(dataset.train, progress=progress)
    stage(1)
    real, guard_set = dataset.real_holdout, dataset.seed_test
    y = real.y
    ch_proba = predict_proba(fitted.model, real, progress=False)
    ch_guard = predict_proba(fitted.model, guard_set, progress=False) if len(guard_set) else None
    cur_proba = cur_guard = None
    cur_metrics: dict[str, Any] | None = None
    cur_version: str | None = None
    unusable = ""
    if current_artifact is not None:
        try:
            current = SpamModel.load(current_artifact)
            cur_version = current.version
            cur_proba = current.probabilities(real.rows) if len(real) else np.zeros(0)
            cur_guard = current.probabilities(guard_set.rows) if len(guard_set) else None
            cur_metrics = evaluate(y, cur_proba, current.thresholds, policy.fpr) if len(real) else None
        except Exception as exc:  # a current model that cannot score is no bar to clear; say so
            log.warning("the current model %s could not be evaluated: %r", cur_version or current_artifact, exc)
            unusable = f"the current model could not be evaluated ({type(exc).__name__}: {exc})"
            cur_proba = cur_guard = None
    stage(2)
    guard = None
    if ch_guard is not None and cur_guard is not None and len(set(guard_set.y.tolist())) == 2:
        guard = (roc_auc(guard_set.y, cur_guard), roc_auc(guard_set.y, ch_guard))
    decision = gate(y, cur_proba, ch_proba, guard, policy)
    if unusable:
        decision.reasons.insert(0, unusable)
    judged_thresholds = fitted.thresholds
    thresholds, threshold_info = real_thresholds(y, ch_proba, policy, fitted.thresholds)
    ch_metrics = evaluate(y, ch_proba, thresholds, policy.fpr) if len(real) else {"n": 0}
    until = dataset.train_until
    do_refit = len(real) > 0 and (refit == "always" or (refit == "passed" and decision.passed))
    stage(3)
    if do_refit:
        fitted = fit(_concat(dataset.train, real), progress=progress)
        until = dataset.all_until
    # The promoted model's thresholds come from the real decisions when they hold enough ham
    # (measured on the challenger as judged: the refit has seen those decisions).
    fitted.thresholds = thresholds
    stage(4)
    artifact = out_dir / registry.ARTIFACT_NAME
    counts = dict(dataset.counts)
    guard_info = decision.evidence.get("guard")
    card = save(
        fitted,
        artifact,
        data_sha256=dataset.data_sha256,
        test=None,
        extra={
            "data": {
                **counts,
                "source": "seed corpus (shrinking as decisions accumulate) + moderators' labels",
                "seed_mix": dataset.seed_mix,
                "labels_until": list(until) if until else None,
                "refit_with_holdout": do_refit,
            },
            "retraining": {
                "holdout": "the newest real decisions the current model had not learned from (time order); "
                "the seed test split is a separate guard",
                "n_real_holdout": len(real),
                "challenger": ch_metrics,
                "current": cur_metrics,
                "current_version": cur_version,
                "policy": asdict(policy),
                "gate": {"passed": decision.passed, "reasons": decision.reasons, **decision.evidence},
                "seed_guard": guard_info,
                "thresholds": {**threshold_info, "values": thresholds, "training_values": judged_thresholds},
                "refit": "after the gate, with the held-out decisions" if do_refit else "no",
            },
        },
    )
    stages.n = len(STAGES)
    stages.set_description("retrain: done")
    stages.close()
    if report is not None:
        _report(
            report, card, dataset, decision, cur_version, cur_metrics, ch_metrics, thresholds, y, ch_proba, do_refit
        )
    return Challenge(artifact, card, cur_version, cur_metrics, ch_metrics, decision, counts, report, do_refit)


def _report(
    report: Path,
    card: dict[str, Any],
    dataset: Dataset,
    decision: Gate,
    cur_version: str | None,
    cur_metrics: dict[str, Any] | None,
    ch_metrics: dict[str, Any],
    thresholds: dict[str, float],
    y: Any,
    ch_proba: Any,
    do_refit: bool,
) -> None:
    counts = dataset.counts
    sections = [(f"current {cur_version}", cur_metrics)] if cur_metrics else []
    both = len(set(y.tolist())) == 2
    if both:
        sections.append(("challenger (as judged)", ch_metrics))
    mix = dataset.seed_mix
    write_report(
        report,
        title=f"Retraining: challenger {card['version']} vs current {cur_version or '(none)'}",
        sections=sections,
        thresholds=thresholds,
        y=y if both else None,
        proba=ch_proba if both else None,
        notes=[
            f"Judged on {counts['labels_holdout']} real decisions the current model had not learned from "
            f"(the newest); the seed test split ({counts['seed_test']}) is a separate guard. The challenger "
            f"was trained on {counts['seed_train']} seed examples (of {mix.get('seed_train_total', 0)}; "
            f"{mix.get('seed_contradicted_dropped', 0)} contradicted by decisions dropped) + "
            f"{counts['labels_train']} older decisions.",
            "Thresholds from " + str(card["retraining"]["thresholds"]["source"]) + ".",
            "Gate: " + ("PASSED" if decision.passed else "FAILED") + " — " + "; ".join(decision.reasons) + ".",
            (
                f"{card['version']} is the challenger refit with the {counts['labels_holdout']} held-out "
                "decisions as well (the seed test split is never trained on)."
                if do_refit
                else f"{card['version']} is the challenger as judged."
            ),
        ],
    )


# --------------------------------------------------------------------------- the whole run
@dataclass
class RetrainOutcome:
    """What one retraining run did: the challenge, and whether its challenger was promoted."""

    challenge: Challenge
    promoted: bool
    forced: bool
    dry_run: bool


async def current_artifact(redis: Redis, keys: Keys, settings: Settings) -> Path | None:
    """The artifact the service scores with: the registry's current version, else the shipped file."""
    version = await registry.current(redis, keys)
    if version is not None:
        return await registry.fetch(
            redis, keys, version, registry.cache_dir_for(settings.data_dir), secret=settings.secret_bytes
        )
    path = Path(settings.model_path)
    return path if await asyncio.to_thread(path.exists) else None


async def retrain(
    redis: Redis,
    keys: Keys,
    settings: Settings,
    *,
    seed: Path | None = DEFAULT_CORPUS,
    dry_run: bool = False,
    force: bool = False,
    by: str = "cli",
    report: Path | None = None,
    executor: ProcessPoolExecutor | None = None,
    progress: bool = False,
) -> RetrainOutcome:
    """Read labels, train and judge a challenger; register and promote it unless told otherwise."""
    policy = Policy.from_settings(settings)
    examples = await labels.read_all(redis, keys)
    n_labels = await labels.count(redis, keys)
    current = await current_artifact(redis, keys, settings)
    current_card = await asyncio.to_thread(_card_of, current)
    dataset = build_dataset(seed, examples, policy.holdout_share, seen_until(current_card), policy.min_real_per_class)
    work_dir = _ensure(settings.data_dir / "retrain")
    await asyncio.to_thread(_sweep_abandoned, work_dir)
    out_dir = Path(tempfile.mkdtemp(prefix="challenger-", dir=work_dir))
    loop = asyncio.get_running_loop()
    refit = "never" if dry_run else "always" if force else "passed"
    try:
        result = await loop.run_in_executor(
            executor, challenge, dataset, current, out_dir, policy, report, refit, progress and executor is None
        )
    except BaseException:
        # A training that failed or was stopped leaves nothing behind (synchronous: a second
        # cancellation must not interrupt it; the directory holds one artifact at most).
        shutil.rmtree(out_dir, True)
        raise
    promoted = False
    if not dry_run:
        card = await registry.put(redis, keys, result.artifact, secret=settings.secret_bytes)
        version = str(card["version"])
        await asyncio.to_thread(shutil.rmtree, out_dir, True)  # the registry holds it now
        await redis.set(keys.labels_seen(), n_labels)
        await registry.audit(
            redis,
            keys,
            "retrained",
            by,
            version=version,
            gate="passed" if result.gate.passed else "failed",
            reasons="; ".join(result.gate.reasons),
            current=result.current_version or "",
            refit="with the held-out decisions" if result.refit else "no",
            data=json.dumps(result.counts, sort_keys=True),
        )
        if result.gate.passed or force:
            already = await registry.current(redis, keys) == version
            if not already:
                reason = (
                    "passed the gate"
                    if result.gate.passed
                    else "FORCED past a failed gate: " + "; ".join(result.gate.reasons)
                )
                await registry.promote(
                    redis,
                    keys,
                    version,
                    by,
                    reason,
                    forced=force and not result.gate.passed,
                    secret=settings.secret_bytes,
                )
            promoted = True
    return RetrainOutcome(result, promoted, force and not result.gate.passed and promoted, dry_run)


def _card_of(artifact: Path | None) -> dict[str, Any] | None:
    """The card beside an artifact, or None (unreadable cards are the loader's business, not ours)."""
    from service.spam.card import ModelLoadError, read_card

    if artifact is None:
        return None
    try:
        return read_card(artifact)
    except ModelLoadError:
        return None


def _sweep_abandoned(work_dir: Path, older_than_s: float = 86400) -> None:
    """Remove challenger directories a killed process left (a day old: none is still training)."""
    cutoff = time.time() - older_than_s
    for old in work_dir.glob("challenger-*"):
        if old.is_dir() and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, True)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
