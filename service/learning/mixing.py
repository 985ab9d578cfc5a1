"""How much of the seed corpus a retraining keeps: real decisions outweigh the generator.

The seed corpus is what the model knows on day one; moderators' decisions are what the portal
actually receives. As decisions accumulate, the seed's share of the training data falls: a
retraining with `n` binary decisions keeps `SEED_HALF / (SEED_HALF + n)` of the seed training
split (all of it with no decisions, half at `SEED_HALF` decisions, a third at twice that), never
fewer than `SEED_FLOOR` examples. The kept examples are a stratified, deterministic subsample
(the same seed file and the same number of decisions always keep the same examples), so the
class balance of the seed part stays as the generator wrote it.

A seed example contradicted by a decision on near-identical text (the same words once case,
diacritics, digits, punctuation and spacing are set aside) is dropped: the moderator saw the
real comment, the generator guessed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from service.learning.corpus import Labelled, Record

SEED_HALF = 1000
SEED_FLOOR = 300

_NON_WORD = re.compile(r"[^a-z0-9]+")
_DIGITS = re.compile(r"[0-9]+")


def text_key(record: Record) -> str:
    """Near-identical texts share a key: folded (no diacritics, lower case, đ as d), digits as 0,
    punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKD", record[2].replace("đ", "d").replace("Đ", "D").casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _DIGITS.sub("0", text)
    return _NON_WORD.sub(" ", text).strip()


def seed_share(n_decisions: int) -> float:
    """The share of the seed training split kept when `n_decisions` real decisions train too."""
    return SEED_HALF / (SEED_HALF + max(0, n_decisions))


def _order(record: Record) -> str:
    return hashlib.sha256("\x1f".join(map(str, record)).encode()).hexdigest()


def mix_seed(seed: Labelled, decisions: Sequence[tuple[Record, int]]) -> tuple[Labelled, dict[str, object]]:
    """The seed examples to train on beside `decisions` ((record, y) pairs), and what was done."""
    decided: dict[str, set[int]] = {}
    for record, y in decisions:
        decided.setdefault(text_key(record), set()).add(int(y))
    keep = [i for i in range(len(seed)) if not (decided.get(text_key(seed.rows[i]), set()) - {int(seed.y[i])})]
    contradicted = len(seed) - len(keep)
    share = seed_share(len(decisions))
    target = min(len(keep), max(SEED_FLOOR, round(share * len(seed))))
    chosen: list[int] = []
    if keep:
        ys = seed.y[keep]
        for cls in (0, 1):
            members = [i for i, y in zip(keep, ys, strict=True) if y == cls]
            n_cls = round(target * len(members) / len(keep))
            chosen.extend(sorted(members, key=lambda i: _order(seed.rows[i]))[:n_cls])
    chosen.sort()  # seed file order: a deterministic training order
    info: dict[str, object] = {
        "seed_train_total": len(seed),
        "seed_contradicted_dropped": contradicted,
        "seed_share": round(share, 4),
        "seed_train_kept": len(chosen),
        "rule": f"keep {SEED_HALF}/({SEED_HALF}+decisions) of the seed train split (at least {SEED_FLOOR}), "
        "stratified; drop seed examples contradicted by a decision on near-identical text",
    }
    return seed.subset(chosen) if chosen else Labelled([], np.zeros(0, dtype=int)), info
