"""The spam model at serving time: load it safely, score comments in micro-batches, explain scores.

The artifact is a skops file (no pickle): loading refuses any type not listed in `TRUSTED`, and
refuses a file whose SHA-256 differs from the one in its model card (`<artifact>.card.json`).
Whatever goes wrong, `load_model_safely` returns an error message instead of raising, so a bad
file leaves the service running and not ready, never crashed.

The score orders the review queue; the reasons tell the moderator why. Neither ever decides alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from service import tasks as background
from service.metrics import Metrics
from service.spam.features import (
    SIGNALS,
    TRUSTED_TYPES,
    CommentFeatures,
    ServingFeatures,
    View,
    alias_legacy_module,
    spans,
)

log = logging.getLogger(__name__)

# Every type the artifact may hold beyond skops' built-in safe set, one by one. A file naming
# anything else is refused before a single object is built.
TRUSTED: tuple[str, ...] = (
    *TRUSTED_TYPES,
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
)

VERDICTS = ("ham", "suspect", "spam")
MAX_REASONS = 4
MAX_TERMS = 5
# A reason is shown only if it moved the decision score at least this much towards spam.
MIN_CONTRIBUTION = 0.05
# Comments scored in one pass at most (the hashed n-grams pack the row in 16 bits).
CHUNK = 4096
# A comment alone in its batch and at most this long (title + content) is scored on the event
# loop (0.3 ms at 100 characters, ~1 ms at 1,000 on the 2-vCPU bench machine): handing it to the
# worker thread and back cost more than scoring it, and made the tail latency of one comment
# depend on two thread wake-ups. Longer ones go to the thread, so the loop never stalls long.
INLINE_CHARS = 1000
# Batches being scored at once: one scored while the next is handed over.
IN_FLIGHT = 2
# Seconds to wait for the scoring process at shutdown.
SHUTDOWN_TIMEOUT = 10.0
# The scoring process is restarted after it dies, at most this many times per scorer: a process
# that keeps dying (out of memory, say) must not be respawned forever; the thread scores instead.
MAX_PROCESS_LOSSES = 3
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


class ModelNotReady(Exception):
    """No model is loaded: the caller should answer 503 and try again later."""


class ModelLoadError(Exception):
    """The artifact is missing, corrupt, tampered with, or holds types we do not trust."""


def card_path(artifact: Path) -> Path:
    """The model card lives beside the artifact: `spam-model.skops` -> `spam-model.card.json`."""
    return artifact.with_suffix(".card.json")


def read_card(path: Path) -> dict[str, Any]:
    card_file = card_path(path)
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model card {card_file} is missing; refusing an artifact nobody vouched for") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"model card {card_file} is unreadable: {exc}") from exc
    if not isinstance(card, dict):
        raise ModelLoadError(f"model card {card_file} is not a JSON object")
    return card


def _thresholds(card: dict[str, Any], where: Path) -> dict[str, float]:
    try:
        t = {"suspect": float(card["thresholds"]["suspect"]), "spam": float(card["thresholds"]["spam"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"model card {card_path(where)} has no valid thresholds: {exc!r}") from exc
    if not 0.0 <= t["suspect"] <= t["spam"] <= 1.0:
        raise ModelLoadError(f"model card {card_path(where)}: expected 0 <= suspect <= spam <= 1, got {t}")
    return t


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
            self._fast = ServingFeatures(self._features)
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
        import skops.io as sio

        path = Path(path)
        card = read_card(path)
        try:
            blob = path.read_bytes()
        except FileNotFoundError as exc:
            raise ModelLoadError(f"no model artifact at {path}") from exc
        except OSError as exc:
            raise ModelLoadError(f"cannot read model artifact {path}: {exc}") from exc
        expected = str(card.get("artifact_sha256", ""))
        actual = hashlib.sha256(blob).hexdigest()
        if not expected:
            raise ModelLoadError(f"model card {card_path(path)} has no artifact_sha256")
        if actual != expected:
            raise ModelLoadError(
                f"{path} does not match its model card (sha256 {actual[:12]}…, card says {expected[:12]}…): "
                "the file was changed or replaced; refusing it"
            )
        try:
            untrusted = sio.get_untrusted_types(data=blob)
        except Exception as exc:  # a corrupt zip or schema: any parser error means "not loadable"
            raise ModelLoadError(f"{path} is not a readable skops file: {exc!r}") from exc
        unexpected = sorted(set(untrusted) - set(TRUSTED))
        if unexpected:
            raise ModelLoadError(f"{path} holds types outside the trusted list, refusing: {unexpected}")
        alias_legacy_module()
        try:
            model = sio.loads(blob, trusted=list(TRUSTED))
        except Exception as exc:
            raise ModelLoadError(f"{path} could not be loaded: {exc!r}") from exc
        loaded = cls(model, card, _thresholds(card, path))
        loaded.path = path
        _freeze_heap()
        return loaded

    # ------------------------------------------------------------------ scoring
    def _decision(
        self, rows: list[tuple[str, str, str, bool]]
    ) -> tuple[tuple[Any, npt.NDArray[np.float64], list[View]], npt.NDArray[np.float64]]:
        """Decision scores without scipy.sparse (its per-call cost would dominate one comment)."""
        (r, c, v), sig, views = self._fast.transform(rows)
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
        batch = max(1, min(batch, CHUNK))
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
        if len(inputs) > CHUNK:
            return [s for i in range(0, len(inputs), CHUNK) for s in self.score_batch(inputs[i : i + CHUNK])]
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
    """Where one comment's signals show in its folded text (see `features.spans`); none if the
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


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# ---------------------------------------------------------------------- serving
class SpamScorer:
    """Async front of a `SpamModel`: concurrent `score` calls share micro-batches, computed off the
    event loop. A short comment alone in its batch is scored on the loop itself (cheaper than any
    round trip).

    With `process=True` (the app's setting), batches are scored in a process of their own, which
    loads the same verified artifact (`SpamModel.path`): scoring then runs on another core, and
    never holds the GIL the event loop needs (a worker thread did, stalling the loop 7-27 ms under
    load). Until that process has loaded a model (on the first batch after start or after a swap,
    ~1 s), and if it dies, batches are scored in a worker thread as before; a dead process is
    replaced (started from a thread, never forked from the loop), up to `MAX_PROCESS_LOSSES` times.
    """

    def __init__(
        self,
        model: SpamModel | None = None,
        max_batch: int = 64,
        max_wait_ms: float = 2.0,
        *,
        process: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self._model = model
        self._metrics = metrics
        self._max_batch = max(1, max_batch)
        self._max_wait = max(0.0, max_wait_ms) / 1000.0
        self._queue: asyncio.Queue[tuple[SpamInput, asyncio.Future[SpamScore]]] | None = None
        # Set while a batch waits for the rest of a burst: `score` wakes it once the batch is full.
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 0
        # The batches being collected or scored: `close` fails what they hold instead of leaving
        # their callers waiting forever.
        self._held: list[list[tuple[SpamInput, asyncio.Future[SpamScore]]]] = []
        self._scoring: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._process = process
        # The scoring process: started (and restarted after it dies) in a thread, since forking
        # it from the event loop stalled the loop ~40 ms.
        self._pool: ProcessPoolExecutor | None = None
        self._starting: asyncio.Task[None] | None = None
        self._pid: int | None = None
        self._losses = 0
        # Versions the scoring process holds (oldest first, as many as it keeps), is loading, or
        # could not load.
        self._remote: dict[str, None] = {}
        self._loading: dict[str, Future[None]] = {}
        self._refused: set[str] = set()
        self._closed = False
        # Counters for metrics and tests: how many batches ran, how many comments they held, and
        # how many batches the scoring process scored.
        self.batches = 0
        self.scored = 0
        self.process_batches = 0

    @property
    def ready(self) -> bool:
        return self._model is not None and not self._closed

    @property
    def version(self) -> str | None:
        model = self._model
        return model.version if model is not None else None

    @property
    def model(self) -> SpamModel | None:
        return self._model

    @property
    def process_versions(self) -> frozenset[str]:
        """Model versions the scoring process has loaded (batches of those are scored there)."""
        return frozenset(self._remote)

    @property
    def process_pid(self) -> int | None:
        """The scoring process's pid while one is up."""
        return self._pid

    @property
    def process_losses(self) -> int:
        """How many times the scoring process died (restarted while below `MAX_PROCESS_LOSSES`)."""
        return self._losses

    def swap(self, model: SpamModel) -> None:
        """Switch models atomically: a batch already taken finishes with the model it started with."""
        self._model = model

    async def score(self, inp: SpamInput) -> SpamScore:
        if self._model is None or self._closed:
            raise ModelNotReady("the spam model is not loaded")
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spam-score")
            self._task = asyncio.get_running_loop().create_task(self._run(), name="spam-scorer")
        future: asyncio.Future[SpamScore] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((inp, future))  # unbounded: never blocks
        if self._waiter is not None and self._queue.qsize() >= self._wanted:
            _wake(self._waiter)
        return await future

    async def _collect(self) -> list[tuple[SpamInput, asyncio.Future[SpamScore]]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        self._held.append(batch)
        await asyncio.sleep(0)  # let requests that arrived together join
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if 1 < len(batch) < self._max_batch and self._max_wait > 0:
            # Concurrency is happening: wait briefly for the rest of the burst, woken by `score`
            # when the batch can be filled or by the timer (one wait per batch, not per comment).
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            self._wanted = self._max_batch - len(batch)
            timer = loop.call_later(self._max_wait, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        # Batches overlap: while one is scored, the next is collected and handed over, so the
        # scoring process never waits for the event loop between two batches.
        slots = asyncio.Semaphore(IN_FLIGHT)
        loop = asyncio.get_running_loop()
        while True:
            await slots.acquire()
            batch = await self._collect()
            task = loop.create_task(self._score(batch))
            self._scoring.add(task)
            task.add_done_callback(self._scoring.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _score(self, batch: list[tuple[SpamInput, asyncio.Future[SpamScore]]]) -> None:
        try:
            live = [(inp, fut) for inp, fut in batch if not fut.done()]
            model = self._model  # taken once: a swap during the batch does not split it
            if not live:
                return
            if model is None:
                for _, fut in live:
                    fut.set_exception(ModelNotReady("the spam model is not loaded"))
                return
            inputs = [i for i, _ in live]
            try:
                if len(inputs) == 1 and len(inputs[0].title) + len(inputs[0].content) <= INLINE_CHARS:
                    scores = model.score_batch(inputs)
                    self._scored_in("loop")
                else:
                    scores = await self._score_off_loop(model, inputs)
            except Exception as exc:  # a scoring bug must fail these requests, not the scorer
                log.exception("spam scoring failed for a batch of %d", len(live))
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                return
            self.batches += 1
            self.scored += len(live)
            for (_, fut), result in zip(live, scores, strict=True):
                if not fut.done():
                    fut.set_result(result)
        finally:
            for _, fut in batch:  # whatever ended this batch, no caller is left waiting
                if not fut.done():
                    fut.set_exception(ModelNotReady("the spam scorer is shutting down"))
            self._held = [b for b in self._held if b is not batch]

    async def _score_off_loop(self, model: SpamModel, inputs: list[SpamInput]) -> list[SpamScore]:
        """In the scoring process if it holds `model`, else in the worker thread."""
        pool = self._pool
        if self._process and pool is not None and model.version in self._remote:
            try:
                scores = await asyncio.wrap_future(pool.submit(_score_in_worker, model.version, inputs))
                self.process_batches += 1
                self._scored_in("process")
                return scores
            except BrokenProcessPool as exc:  # not the comments' fault: the thread scores them
                self._lost_process(pool, exc)
            except _NotInProcess:  # it dropped this model (more versions since): load it again
                self._remote.pop(model.version, None)
                self._load_remote(model)
        elif self._process and model.path is not None:
            self._load_remote(model)
        scores = await asyncio.get_running_loop().run_in_executor(self._executor, model.score_batch, inputs)
        self._scored_in("thread")
        return scores

    def _scored_in(self, where: str) -> None:
        if self._metrics is not None:
            self._metrics.spam_batches.labels(where).inc()

    def _load_remote(self, model: SpamModel) -> None:
        """Have the scoring process load `model` (starting the process first if need be); batches
        go there once it has."""
        version = model.version
        if self._closed or version in self._loading or version in self._refused:
            return
        pool = self._pool
        if pool is None:
            if self._starting is None and self._losses < MAX_PROCESS_LOSSES:
                self._starting = asyncio.get_running_loop().create_task(self._start_process(), name="spam-process")
            return  # the process loads the current model once started
        try:
            future = self._loading[version] = pool.submit(_load_in_worker, str(model.path), version)
        except BrokenProcessPool as exc:
            self._lost_process(pool, exc)
            return

        def loaded(done: Future[None]) -> None:  # in the pool's thread: hand over to the loop
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile: nothing to tell
                loop.call_soon_threadsafe(self._loaded, pool, version, done)

        loop = asyncio.get_running_loop()
        future.add_done_callback(loaded)

    async def _start_process(self) -> None:
        try:
            pool, pid = await asyncio.to_thread(_start_pool)
        except Exception as exc:  # no process to be had (limits...): the thread goes on scoring
            self._count_loss()
            log.warning("could not start the scoring process, scoring in a thread: %r", exc)
            return
        finally:
            self._starting = None
        if self._closed:  # closed while it started: stop it (`close` waits for this task)
            await background.stop_pool(pool, (), SHUTDOWN_TIMEOUT, "the scoring process")
            return
        self._pool, self._pid = pool, pid
        model = self._model
        if model is not None and model.path is not None:
            self._load_remote(model)

    def _loaded(self, pool: ProcessPoolExecutor, version: str, done: Future[None]) -> None:
        if self._loading.get(version) is done:
            del self._loading[version]
        if done.cancelled() or self._closed or pool is not self._pool:
            return  # a process since replaced, or shut down: nothing it loaded counts
        exc = done.exception()
        if exc is None:
            self._remote[version] = None
            while len(self._remote) > _WORKER_KEEP:  # it keeps as many as that, dropping the oldest
                del self._remote[next(iter(self._remote))]
            log.info("scoring model %s in its own process", version)
        elif isinstance(exc, BrokenProcessPool):  # it died loading: not the model's fault
            self._lost_process(pool, exc)
        else:
            self._refused.add(version)
            log.warning("the scoring process could not load model %s, scoring in a thread: %s", version, exc)

    def _count_loss(self) -> None:
        self._losses += 1
        if self._metrics is not None:
            self._metrics.spam_process_losses.inc()

    def _lost_process(self, pool: ProcessPoolExecutor, exc: BaseException) -> None:
        if pool is not self._pool:
            return  # already replaced: each batch in flight when it died lands here
        self._count_loss()
        self._pool = self._pid = None
        self._remote.clear()
        self._loading.clear()
        pool.shutdown(wait=False, cancel_futures=True)
        if self._losses < MAX_PROCESS_LOSSES:
            log.warning("the scoring process died (%r); scoring in a thread until a new one is up", exc)
        else:
            log.error(
                "the scoring process died %d times (last: %r); scoring in a thread from now on", self._losses, exc
            )

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        waiting = [item for batch in self._held for item in batch]  # before a cancelled batch lets go
        for task in list(self._scoring):
            task.cancel()
        await asyncio.gather(*self._scoring, return_exceptions=True)
        while self._queue is not None and not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for _, fut in waiting:
            if not fut.done():
                fut.set_exception(ModelNotReady("the spam scorer is shutting down"))
        self._held = []
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._starting is not None:  # a process being started: that task stops it once up
            await asyncio.wait({self._starting}, timeout=2 * SHUTDOWN_TIMEOUT)
        if self._pool is not None:
            pool, self._pool, self._pid = self._pool, None, None
            loading = [asyncio.wrap_future(f) for f in self._loading.values()]
            await background.stop_pool(pool, loading, SHUTDOWN_TIMEOUT, "the scoring process")


_LOADED: dict[tuple[str, int, int], SpamModel] = {}

# In a scoring process: the models it has loaded, by version (the current one, a shadow, the one
# before a swap; older ones are dropped).
_WORKER_MODELS: dict[str, SpamModel] = {}
_WORKER_KEEP = 3


class _NotInProcess(Exception):
    """The scoring process does not hold the model asked for (it was replaced, or dropped it)."""


def _start_pool() -> tuple[ProcessPoolExecutor, int]:
    """Start the scoring process and wait until it runs (in a thread: forking takes tens of ms).
    forkserver: the process never inherits the event loop, sockets or threads of this one."""
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    try:
        return pool, pool.submit(os.getpid).result(timeout=60)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _load_in_worker(path: str, version: str) -> None:
    """Scoring process: verify and load the artifact the parent scores with (the same checks)."""
    if version in _WORKER_MODELS:
        return
    model = SpamModel.load(Path(path))
    if model.version != version:
        raise ModelLoadError(f"{path} now holds model {model.version}, not {version}")
    _WORKER_MODELS[version] = model
    while len(_WORKER_MODELS) > _WORKER_KEEP:
        del _WORKER_MODELS[next(iter(_WORKER_MODELS))]


def _score_in_worker(version: str, inputs: list[SpamInput]) -> list[SpamScore]:
    # Never loads here: a load takes ~1 s, and would hold every batch queued behind this one.
    model = _WORKER_MODELS.get(version)
    if model is None:
        raise _NotInProcess(version)
    return model.score_batch(inputs)


def _freeze_heap() -> None:
    """Keep the cyclic GC off the model for good: its vocabularies and object arrays made every
    full collection a 60-80 ms event-loop stall (a p99 of 400 ms under load). Collected once first,
    so the load's own garbage is freed, not frozen; refcounting still frees a model swapped out."""
    gc.collect()
    gc.freeze()


def load_model_safely(path: Path | str) -> tuple[SpamModel | None, str | None]:
    """Start-up helper: (model, None) or (None, a one-line reason). Never raises."""
    try:
        stat = Path(path).stat()
    except OSError:
        stat = None
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns) if stat else None
    if key is not None and key in _LOADED:
        return _LOADED[key], None
    try:
        model = SpamModel.load(Path(path))
        if key is not None:
            # A loaded model is immutable; reusing it saves seconds per app start (tests, workers'
            # reloads). The key includes size and mtime, so a replaced or tampered file is re-checked.
            _LOADED.clear()
            _LOADED[key] = model
        return model, None
    except ModelLoadError as exc:
        return None, str(exc)
    except Exception as exc:  # the service must stay up (not ready) whatever the file holds
        log.exception("unexpected error loading the spam model from %s", path)
        return None, f"unexpected error loading {path}: {exc!r}"
