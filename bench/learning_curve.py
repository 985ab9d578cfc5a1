"""Learning from moderators: replay the YouTube Spam Collection as a stream of decided submissions.

Comments arrive in date order; a simulated moderator decides each with the dataset's label
(approve -> ham, reject as spam -> spam) through the real review queue (enqueue + decide, so the
labels stream is written by the real decide script) on an embedded Valkey. Every 100 decisions
`service.learning.retraining.retrain` runs exactly as `duyet retrain --no-seed` would (challenger, gate on
the newest decisions new to the model in use, refit, registry, promotion). We record the F1 (spam
class, the model's own `spam` threshold) of the model in use on the next 100 comments, before they
are decided.

Before the first promotion the model in use is the shipped one (trained on the Vietnamese seed
corpus only). The seed corpus is left out of retraining here (`seed=None`): it is Vietnamese and
would only slow the 17 retrainings down; the service's `duyet retrain` includes it by default.

Reference ("the model issue's YouTube result"): `bench/model_quality.py`'s per-video result (within
each class the oldest 70% by date train, the newest 30% test), as the mean F1 over the five videos;
also the same pipeline trained once on the oldest 70% of the pooled dated stream, newest 30% test.
The summary compares the mean F1 of the windows after `SETTLED` decisions with the former.

New kind of spam: the dataset leaves the Eminem video's 245 spam comments without dates (all its
dated comments are ham). We replay them as a new campaign that starts after 1,000 decisions,
spread evenly through the rest of the stream, and track the model in use's recall on that
campaign's spam in each window, against decisions since the campaign started.

Run: .venv/bin/python bench/learning_curve.py  (about 15 minutes on a shared 2-core machine)
Writes bench/out/learning_curve.json and docs/learning_curve.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script: bench/ is not a package; import `service` from the checkout.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import asyncio
import csv
import json
import tempfile
import time
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.learning import retraining, training
from service.learning.corpus import Labelled, make_record
from service.review import comment_ids, intake, states, transitions
from service.settings import load, resolve
from service.spam import registry
from service.spam.model import SpamModel
from service.store import connection as store
from service.store import embedded
from service.store.keys import Keys
from service.store.scripts import Scripts

DATA = ROOT.parent / "shared" / "data" / "youtube-spam-collection"
OUT = ROOT / "bench" / "out"
PLOT = ROOT / "docs" / "learning_curve.png"
EVERY = 100
NEW_KIND = "Eminem"
CAMPAIGN_START = 1000
SETTLED = 300  # decisions after which the summary averages the windows


def load_stream() -> tuple[list[dict[str, Any]], int]:
    """Dated comments in date order, with the undated Eminem spam injected as a late campaign."""
    rows: list[dict[str, Any]] = []
    campaign: list[dict[str, Any]] = []
    for path in sorted(DATA.glob("*.csv")):
        video = path.stem.split("-", 1)[1]
        with path.open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                row = {"video": video, "date": r["DATE"][:19], "author": r["AUTHOR"], "content": r["CONTENT"]}
                row["y"] = int(r["CLASS"])
                (rows if r["DATE"] else campaign).append(row)
    rows.sort(key=lambda r: (r["date"], r["video"], r["content"]))
    assert all(r["video"] == NEW_KIND and r["y"] == 1 for r in campaign)
    head, tail = rows[:CAMPAIGN_START], rows[CAMPAIGN_START:]
    merged, k = list(head), 0
    for i, row in enumerate(tail):  # spread the campaign evenly over the rest of the stream
        merged.append(row)
        while k < len(campaign) and k * len(tail) <= i * len(campaign):
            merged.append({**campaign[k], "campaign": True})
            k += 1
    merged.extend({**c, "campaign": True} for c in campaign[k:])
    return merged, len(campaign)


def reference(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Oldest 70% by date train, newest 30% test: the model issue's pipeline, F1 of the spam class."""
    rows = [r for r in rows if not r.get("campaign")]  # dated comments only, like the published split
    cut = int(len(rows) * 0.7)
    train = Labelled(
        [make_record(r["author"], "", r["content"]) for r in rows[:cut]],
        np.asarray([r["y"] for r in rows[:cut]]),
    )
    test = Labelled(
        [make_record(r["author"], "", r["content"]) for r in rows[cut:]],
        np.asarray([r["y"] for r in rows[cut:]]),
    )
    fitted = training.fit(train, progress=False)
    proba = training.predict_proba(fitted.model, test, progress=False)
    m = training.metrics(test.y, proba, fitted.thresholds)
    return {"f1": m["f1"], "macro_f1": m["macro_f1"], "mcc": m["mcc"], "n_train": cut, "n_test": len(rows) - cut}


def per_video() -> dict[str, Any]:
    """The model issue's YouTube result: F1 (spam) per video, oldest 70% train / newest 30% test."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("model_quality", ROOT / "bench" / "model_quality.py")
    assert spec is not None and spec.loader is not None
    mq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mq)
    f1s: dict[str, float] = {}
    for video, (name, _) in mq.YOUTUBE.items():
        train, test = mq.youtube_split(DATA / name)
        fitted = training.fit(train, progress=False)
        m = training.metrics(test.y, training.predict_proba(fitted.model, test, progress=False), fitted.thresholds)
        f1s[video] = round(m["f1"], 4)
    return {"f1": float(np.mean(list(f1s.values()))), "per_video": f1s}


def summary(curve: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Mean F1 of the windows after `SETTLED` decisions against the per-video target; the campaign."""
    settled = [p["f1"] for p in curve if p["decisions"] >= SETTLED and p["f1"] is not None]
    campaign = [(p["since_new_kind"], p["new_kind_recall"]) for p in curve if p["new_kind_recall"] is not None]
    return {
        "settled_after": SETTLED,
        "windows": len(settled),
        "mean_f1": float(np.mean(settled)),
        "min_f1": float(np.min(settled)),
        "windows_at_or_above_target": sum(f >= target for f in settled),
        "target_f1": target,
        "campaign_recall_by_decisions_since_start": campaign,
    }


async def replay(rows: list[dict[str, Any]], url: str, data_dir: Path) -> list[dict[str, Any]]:
    settings = resolve(load({}, redis_url=url, data_dir=data_dir, secret_key="b" * 40, log_level="WARNING"))
    keys = Keys(settings.key_prefix, settings.partitions)
    redis = store.connect(url, settings)
    scripts = Scripts(redis)
    await redis.flushdb()
    model: SpamModel | None = SpamModel.load(settings.model_path)
    curve: list[dict[str, Any]] = []
    first_new = next(i for i, r in enumerate(rows) if r.get("campaign"))
    try:
        for start in range(0, len(rows), EVERY):
            window = rows[start : start + EVERY]
            recs = [make_record(r["author"], "", r["content"]) for r in window]
            y = np.asarray([r["y"] for r in window])
            try:
                pred = (model.probabilities(recs) >= model.thresholds["spam"]).astype(int) if model else None
            except Exception as exc:  # an artifact from an older feature code: counts as no model
                print(f"model {model.version if model else None} cannot score: {exc!r}", flush=True)
                model, pred = None, None
            if pred is None:
                pred = np.zeros(len(window), dtype=int)  # no model: nothing is flagged
            new = np.asarray([bool(r.get("campaign")) for r in window])
            point = {
                "decisions": start,
                "model": model.version if model else None,
                "n": len(window),
                "f1": float(f1_score(y, pred, zero_division=0)) if y.sum() else None,
                "new_kind_spam": int(new.sum()),
                "new_kind_recall": float(pred[new].mean()) if new.any() else None,
                "since_new_kind": start - first_new,
            }
            # The moderators decide the window (the labels stream is written by the decide script).
            for r, rec in zip(window, recs, strict=True):
                comment = intake.NewComment(
                    id=comment_ids.new_comment_id(),
                    article_id=r["video"],
                    name=rec[0],
                    phone=None,
                    title=rec[1],
                    content=rec[2],
                    raw={},
                    client="",
                    user_agent="",
                    created_at_ms=int(time.time() * 1000),
                    spam_probability=0.5,
                    verdict="suspect",
                    reasons=[],
                    model_version=model.version if model else "",
                    signals={"had_markup": rec[3]},
                )
                cid, _ = await intake.enqueue(redis, keys, scripts, comment)
                action = states.Action.REJECT if r["y"] else states.Action.APPROVE
                reason = states.RejectReason.SPAM if r["y"] else None
                await transitions.decide(redis, keys, scripts, cid, "sim-mod", 1, action, reason)
            t0 = time.perf_counter()
            try:
                out = await retraining.retrain(redis, keys, settings, seed=None, by="bench")
                point["promoted"] = out.promoted
                point["gate"] = out.challenge.gate.reasons
            except ValueError as exc:  # too few labels of one class yet
                point["promoted"] = False
                point["gate"] = [str(exc)]
            point["retrain_s"] = round(time.perf_counter() - t0, 1)
            current = await registry.current(redis, keys)
            if current is not None and (model is None or current != model.version):
                model = await registry.load(
                    redis, keys, current, registry.cache_dir_for(settings.data_dir), secret=settings.secret_bytes
                )
            curve.append(point)
            print(json.dumps(point), flush=True)
    finally:
        await redis.aclose()
    return curve


def plot(curve: list[dict[str, Any]], ref: dict[str, float], target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [p["decisions"] for p in curve if p["f1"] is not None]
    ax.plot(xs, [p["f1"] for p in curve if p["f1"] is not None], marker="o", label="F1 (spam) on the next 100")
    nk = [p for p in curve if p["new_kind_recall"] is not None and p["new_kind_spam"] >= 5]
    ax.plot(
        [p["decisions"] for p in nk],
        [p["new_kind_recall"] for p in nk],
        marker="s",
        ls="--",
        label="recall on the new campaign's spam in the next 100",
    )
    ax.axhline(target, color="tab:green", ls="-.", label=f"model issue YouTube result: mean F1 per video {target:.3f}")
    ax.axhline(ref["f1"], color="k", ls=":", label=f"trained once on the oldest 70% of the stream: F1 {ref['f1']:.3f}")
    first_new = next((p["decisions"] for p in curve if p["since_new_kind"] >= -EVERY + 1), None)
    if first_new is not None:
        ax.axvline(max(first_new, 0), color="tab:red", lw=0.8)
        ax.text(max(first_new, 0), 0.05, " new spam campaign starts", color="tab:red", fontsize=8)
    ax.set(
        xlabel="moderator decisions so far",
        ylabel="score",
        ylim=(0, 1.02),
        title="YouTube Spam Collection replayed in date order, retraining every 100 decisions",
    )
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def main() -> int:
    rows, n_campaign = load_stream()
    print(f"{len(rows)} comments ({n_campaign} in the late campaign), {sum(r['y'] for r in rows)} spam", flush=True)
    t0 = time.perf_counter()
    ref = reference(rows)
    videos = per_video()
    print(f"reference {ref}, per video {videos} in {time.perf_counter() - t0:.0f}s", flush=True)
    with tempfile.TemporaryDirectory(prefix="lc-") as tmp:
        with embedded.running(Path(tmp) / "v") as store:
            curve = asyncio.run(replay(rows, store.url, Path(tmp) / "data"))
    OUT.mkdir(parents=True, exist_ok=True)
    result = {
        "n": len(rows),
        "campaign": n_campaign,
        "campaign_start": CAMPAIGN_START,
        "every": EVERY,
        "reference": ref,
        "per_video": videos,
        "summary": summary(curve, videos["f1"]),
        "curve": curve,
    }
    print(json.dumps(result["summary"]), flush=True)
    (OUT / "learning_curve.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot(curve, ref, videos["f1"], PLOT)
    print(f"wrote {OUT / 'learning_curve.json'} and {PLOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
