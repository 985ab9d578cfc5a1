"""The spam model at serving time: a loaded, verified model that scores comments and explains why.

The score orders the review queue; the reasons tell the moderator why. Neither ever decides alone.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from service.spam.artifact import read_artifact
from service.spam.card import ModelLoadError
from service.spam.features import CommentFeatures
from service.spam.text_signals import SIGNALS, View, spans
from service.spam.tfidf import MAX_ROWS

VERDICTS = ("ham", "suspect", "spam")
MAX_REASONS = 4
MAX_TERMS = 5
# A reason is shown only if it moved the decision score at least this much towards spam.
MIN_CONTRIBUTION = 0.05
# Reason codes of the signals, in `SIGNALS` order (a code two signals share comes once).
_CODES = tuple(dict.fromkeys(code for code, _, _ in SIGNALS.values()))


@dataclass(frozen=True)
class SpamInput:
    """One comment's fields, already normalised by `service.text.normalise`."""

    name: str
    title: str
    content: str
    had_markup: bool = False
    seconds_to_submit: float | None = None


@dataclass(frozen=True)
class Reason:
    code: str
    vi: str
    en: str
    terms: tuple[str, ...] = ()  # substrings of the comment that drove the score, to highlight


@dataclass(frozen=True)
class SpamScore:
    probability: float
    verdict: str  # "ham" | "suspect" | "spam"
    reasons: tuple[Reason, ...]
    model_version: str


class SpamModel:
    """A loaded, verified model: `score_batch` turns comments into scores with reasons."""

    def __init__(self, model: Any, card: dict[str, Any], thresholds: dict[str, float]) -> None:
        try:
            calibrated = model.calibrated_classifiers_[0]
            pipeline = calibrated.estimator
            self._features: CommentFeatures = pipeline.named_steps["features"]
            linear = pipeline.named_steps["linear"]
            self._coef: npt.NDArray[np.float64] = np.asarray(linear.coef_, dtype=np.float64).ravel()
            self._intercept = float(np.asarray(linear.intercept_).ravel()[0])
            self._calibrator = calibrated.calibrators[0]
            # Platt scaling's two numbers, read once (sklearn's predict re-validates per call).
            self._a, self._b = float(self._calibrator.a_), float(self._calibrator.b_)
            self._names: list[str] = [str(n) for n in self._features.get_feature_names_out()]
            self._tfidf = self._features.tfidf()
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"the artifact is not a calibrated duyet pipeline: {exc!r}") from exc
        if len(self._names) != len(self._coef):
            raise ModelLoadError(f"feature count {len(self._names)} != coefficient count {len(self._coef)}")
        self.card = card
        self.version: str = str(card.get("version", "unknown"))
        #: the verified file this model was loaded from: a scoring process loads it from there too
        self.path: Path | None = None
        self.thresholds = thresholds
        starts = self._features.block_starts_
        self._signal_start = int(starts[3])
        self._name_start = int(starts[2])
        self._signal_coef = self._coef[self._signal_start :]
        # Signal columns -> reason codes: signal contributions @ this = each code's total.
        self._code_of_signal = np.zeros((len(SIGNALS), len(_CODES)), dtype=np.float64)
        for i, (code, _, _) in enumerate(SIGNALS.values()):
            self._code_of_signal[i, _CODES.index(code)] = 1.0

    @classmethod
    def load(cls, path: Path) -> SpamModel:
        """Verify and load an artifact; raise `ModelLoadError` saying what was wrong."""
        path = Path(path)
        loaded = cls(*read_artifact(path))
        loaded.path = path
        _freeze_heap()
        return loaded

    # ------------------------------------------------------------------ scoring
    def _decision(
        self, rows: list[tuple[str, str, str, bool]]
    ) -> tuple[tuple[Any, npt.NDArray[np.float64], list[View]], npt.NDArray[np.float64]]:
        """Decision scores without scipy.sparse (its per-call cost would dominate one comment)."""
        (r, c, v), sig, views = self._tfidf.transform(rows)
        contrib = v * self._coef[c]
        text_part = np.bincount(r, weights=contrib, minlength=len(rows))
        sig64 = sig.astype(np.float64)
        d = np.asarray(text_part + sig64 @ self._signal_coef + self._intercept, dtype=np.float64)
        return ((r, c, contrib), sig64, views), d

    def _proba(self, d: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # Platt scaling as sklearn's _SigmoidCalibration.predict computes it, minus its checks.
        return np.asarray(1.0 / (1.0 + np.exp(self._a * d + self._b)), dtype=np.float64)

    def probabilities(self, rows: list[tuple[str, str, str, bool]], batch: int = 512) -> npt.NDArray[np.float64]:
        """Calibrated spam probabilities of normalised records (name, title, content, had_markup)."""
        batch = max(1, min(batch, MAX_ROWS))
        out = np.zeros(len(rows), dtype=np.float64)
        for start in range(0, len(rows), batch):
            _, d = self._decision(rows[start : start + batch])
            out[start : start + batch] = self._proba(d)
        return out

    def verdict(self, probability: float) -> str:
        if probability >= self.thresholds["spam"]:
            return "spam"
        if probability >= self.thresholds["suspect"]:
            return "suspect"
        return "ham"

    def score_batch(self, inputs: list[SpamInput]) -> list[SpamScore]:
        """Score comments (CPU-bound; the async wrapper runs batches in a thread)."""
        if len(inputs) > MAX_ROWS:
            return [s for i in range(0, len(inputs), MAX_ROWS) for s in self.score_batch(inputs[i : i + MAX_ROWS])]
        if not inputs:
            return []
        rows = [(i.name, i.title, i.content, i.had_markup) for i in inputs]
        ((r, c, contrib), sig64, views), d = self._decision(rows)
        probs = self._proba(d).tolist()
        verdicts = [self.verdict(p) for p in probs]
        explained = self._explain(inputs, views, verdicts, r, c, contrib, sig64)
        version = self.version
        return [SpamScore(round(p, 6), v, e, version) for p, v, e in zip(probs, verdicts, explained, strict=True)]

    # ------------------------------------------------------------------ explanations
    def _explain(
        self,
        inputs: list[SpamInput],
        views: list[View],
        verdicts: list[str],
        r: npt.NDArray[np.int64],
        c: npt.NDArray[np.int64],
        contrib: npt.NDArray[np.float64],
        sig64: npt.NDArray[np.float64],
    ) -> list[tuple[Reason, ...]]:
        """The features that pushed each comment towards spam, grouped into readable reasons.

        Totals per reason are computed for the whole batch in numpy; only the few strongest text
        features of a comment whose reasons name words are mapped back to its text. For a `ham`
        verdict the words are not looked for (the costly part): a comment let through needs its
        signals named, not its vocabulary.
        """
        n = len(inputs)
        sig_contrib = sig64 * self._signal_coef
        code_totals: npt.NDArray[np.float64] = np.where(sig_contrib > 0, sig_contrib, 0.0) @ self._code_of_signal
        # Each comment's positive pushes: text (char and word n-grams) and name, in one bincount
        # over (row, is-name) cells; boolean-mask gathers of the batch's ~300 features a comment
        # cost more than everything else here.
        is_name = c >= self._name_start
        totals = np.bincount(r * 2 + is_name, weights=np.maximum(contrib, 0.0), minlength=2 * n)
        word_totals, name_totals = totals[0::2].tolist(), totals[1::2].tolist()
        # Rows are sorted by (row, column), text columns before name columns: where each comment's
        # text features start and end, for the few comments whose words are looked for.
        key = r * self._signal_start + c
        firsts = np.arange(n, dtype=np.int64) * self._signal_start
        starts, ends = key.searchsorted(firsts).tolist(), key.searchsorted(firsts + self._name_start).tolist()
        reached: npt.NDArray[np.bool_] = code_totals >= MIN_CONTRIBUTION
        any_code = cast(list[bool], reached.any(axis=1).tolist())
        out: list[tuple[Reason, ...]] = []
        for k, inp in enumerate(inputs):
            scores: dict[str, float] = {}
            if any_code[k]:
                row: list[float] = code_totals[k].tolist()
                scores = {code: row[j] for j, code in enumerate(_CODES) if row[j] >= MIN_CONTRIBUTION}
            if name_totals[k] >= MIN_CONTRIBUTION:
                scores["name"] = name_totals[k]
            if verdicts[k] != "ham" and word_totals[k] >= MIN_CONTRIBUTION:
                scores["words"] = word_totals[k]
            if not scores:
                out.append(())
                continue
            ranked = sorted(scores, key=lambda code: -scores[code])
            # The words are what a moderator reads first: never crowded out by generic signals.
            shown = ranked[:MAX_REASONS] + (["words"] if "words" in ranked[MAX_REASONS:] else [])
            body, _, _, lower = views[k][:4]
            where = _Spans(views[k])
            reasons: list[Reason] = []
            for code in shown:
                if code == "words":
                    cols, pushes = c[starts[k] : ends[k]], contrib[starts[k] : ends[k]]
                    up = pushes > 0
                    terms = _pick_terms(self._found(cols[up], pushes[up], body, lower, where.folded), body, where)
                    if not terms:
                        continue
                    listed = ", ".join(terms)
                    reasons.append(Reason("words", f"từ ngữ: {listed}", f"words: {listed}", terms))
                elif code == "name":
                    reasons.append(
                        Reason(
                            "name",
                            "tên người gửi giống tên spam",
                            "the name looks like spam",
                            (inp.name,) if inp.name else (),
                        )
                    )
                else:
                    vi, en = _SIGNAL_TEXT[code]
                    reasons.append(Reason(code, vi, en, self._signal_terms(code, body, where, inp.name)))
            out.append(tuple(reasons))
        return out

    def _found(
        self,
        cols: npt.NDArray[np.int64],
        contrib: npt.NDArray[np.float64],
        body: str,
        lower: str,
        folded: str | None,
    ) -> dict[str, float]:
        """The words of the comment behind its strongest text features, with their total push."""
        if len(cols) > 2 * MAX_TERMS:
            top = (-contrib).argpartition(2 * MAX_TERMS)[: 2 * MAX_TERMS]
            cols, contrib = cols[top], contrib[top]
        found: dict[str, float] = {}
        for j, value in zip(cols.tolist(), contrib.tolist(), strict=True):
            term = self._term(self._names[j], body, lower, folded)
            if term:
                found[term] = found.get(term, 0.0) + value
        return found

    @staticmethod
    def _term(feature: str, body: str, lower: str, folded: str | None) -> str | None:
        """The word of the comment a word or character n-gram came from."""
        kind, gram = feature[:2], feature[2:]
        if kind == "w:":
            pos = lower.find(gram)
            return body[pos : pos + len(gram)] if pos >= 0 and len(lower) == len(body) else gram
        if folded is None:
            return None
        core = gram.strip()
        if len(core) < 3:
            return None  # one or two letters say nothing a moderator can use
        pos = folded.find(core)
        if pos < 0:
            return None
        start, end = pos, pos + len(core)
        while start > 0 and body[start - 1].isalnum():
            start -= 1
        while end < len(body) and body[end].isalnum():
            end += 1
        return body[start:end]

    @staticmethod
    def _signal_terms(code: str, body: str, where: _Spans, name: str) -> tuple[str, ...]:
        if code in ("name_digits", "name_link", "name_long"):
            return (name,) if name else ()
        found = [body[a:b].strip() for a, b in where(code)]
        return tuple(dict.fromkeys(t for t in found if t))[:MAX_TERMS]


_LINK, _DIGITS = list(SIGNALS).index("link"), list(SIGNALS).index("digits")
_SPANNED = frozenset(("link", "link_hidden", "phone", "repeated"))  # the kinds `spans` can find


class _Spans:
    """Where one comment's signals show in its folded text (see `text_signals.spans`); none if the
    folding moved characters. Each kind is searched once, and not at all when the comment's
    signals already prove it absent: the regexes were most of what an explanation cost."""

    __slots__ = ("_absent", "_found", "folded")

    def __init__(self, v: View) -> None:
        body, folded, plain, _, _, raw = v
        #: the folded text if it keeps every character in place (true of Vietnamese), else None
        self.folded = folded if len(folded) == len(body) else None
        self._found: dict[str, list[tuple[int, int]]] = {}
        # No link in the folded text; nothing spelled out; fewer than the 9 digits a phone
        # number needs (the digit share is capped at 1.0, so only a value under it proves that).
        n = max(len(body), 1)
        self._absent = {
            "link": raw[_LINK] == 0.0,
            "link_hidden": plain == folded,
            "phone": raw[_DIGITS] < 1.0 and raw[_DIGITS] * n / 4.0 < 8.5,
        }

    def __call__(self, kind: str) -> list[tuple[int, int]]:
        if self.folded is None or kind not in _SPANNED:
            return []
        found = self._found.get(kind)
        if found is None:
            found = self._found[kind] = [] if self._absent.get(kind, False) else spans(kind, self.folded)
        return found


def _pick_terms(words: dict[str, float], body: str, where: _Spans) -> tuple[str, ...]:
    """The strongest words, without parts of links or numbers (their own reasons name them) and
    without a word already inside a chosen phrase ("vay" when "vay tiền" is there)."""
    if not words:
        return ()
    covered = " ".join(body[a:b].lower() for kind in ("link", "link_hidden", "phone") for a, b in where(kind))
    chosen: list[str] = []
    for term, _ in sorted(words.items(), key=lambda kv: -kv[1]):
        low = term.lower()
        if low in covered or low.isdigit() or len(low.replace(" ", "")) < 3:
            continue
        if any(f" {low} " in f" {c.lower()} " for c in chosen):
            continue
        chosen = [c for c in chosen if f" {c.lower()} " not in f" {low} "] + [term]
        if len(chosen) >= MAX_TERMS:
            break
    return tuple(chosen)


_SIGNAL_TEXT: dict[str, tuple[str, str]] = {code: (vi, en) for code, vi, en in SIGNALS.values()}


def _freeze_heap() -> None:
    """Keep the cyclic GC off the model for good: its vocabularies and object arrays made every
    full collection a 60-80 ms event-loop stall (a p99 of 400 ms under load). Collected once first,
    so the load's own garbage is freed, not frozen; refcounting still frees a model swapped out."""
    gc.collect()
    gc.freeze()
