"""Features of a comment for the spam model, shared by training and serving.

The artifact stores a fitted `CommentFeatures`; skops must be told to trust this class by name
(see `TRUSTED_TYPES`), so it holds only plain data and stock scikit-learn vectorizers: no
callables, nothing that would make skops load code. The vectorizers are only fitted here; the
numbers come from `service.spam.tfidf`, the same code serving runs.

Four blocks, from the views of `service.spam.text_signals`: character n-grams of the folded,
de-obfuscated text; word n-grams of the lower-cased text with its diacritics; character n-grams
of the folded name; the cheap signals.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from service.spam.text_signals import SIGNALS, view
from service.spam.tfidf import MAX_ROWS, TfidfTransform, hash_index

# Column order of the record matrix the pipeline takes (see `records`).
COLUMNS = ("name", "title", "content", "had_markup")


def records(rows: Sequence[tuple[str, str, str, bool]]) -> npt.NDArray[Any]:
    """The (n, 4) object matrix the pipeline takes: name, title, content, had_markup."""
    out = np.empty((len(rows), len(COLUMNS)), dtype=object)
    for i, row in enumerate(rows):
        out[i, :] = row
    return out


class CommentFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Comment records -> sparse matrix: folded char n-grams | word n-grams | name chars | signals.

    Every block but the signals is L2-normalised TF-IDF; `name_weight` and `signal_weight` scale
    their blocks against the text (a linear model's regularisation treats all columns alike).
    """

    def __init__(
        self,
        char_ngrams: tuple[int, int] = (1, 5),
        word_ngrams: tuple[int, int] = (1, 2),
        min_df: int = 1,
        name_weight: float = 0.5,
        signal_weight: float = 1.0,
    ) -> None:
        self.char_ngrams = char_ngrams
        self.word_ngrams = word_ngrams
        self.min_df = min_df
        self.name_weight = name_weight
        self.signal_weight = signal_weight

    @staticmethod
    def _views(X: npt.NDArray[Any]) -> tuple[list[str], list[str], list[str]]:
        """Per row: folded de-obfuscated body, lower-cased body, bracketed folded name."""
        plains, lowers, names = [], [], []
        for name, title, content, markup in X:
            _, _, plain, lower, name_doc, _ = view(str(name), str(title), str(content), bool(markup))
            plains.append(plain)
            lowers.append(lower)
            names.append(name_doc)
        return plains, lowers, names

    def fit(self, X: npt.NDArray[Any], y: Any = None) -> CommentFeatures:
        plains, lowers, names = self._views(X)
        common: dict[str, Any] = {"sublinear_tf": True, "min_df": self.min_df, "lowercase": False, "dtype": np.float32}
        self.char_ = TfidfVectorizer(analyzer="char", ngram_range=self.char_ngrams, **common).fit(plains)
        self.word_ = TfidfVectorizer(
            analyzer="word", ngram_range=self.word_ngrams, token_pattern=r"(?u)\b\w+\b", **common
        ).fit(lowers)
        self.name_ = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), **common).fit(names)
        self.char_index_ = hash_index(self.char_)
        names_out = [f"c:{f}" for f in self.char_.get_feature_names_out()]
        names_out += [f"w:{f}" for f in self.word_.get_feature_names_out()]
        names_out += [f"n:{f}" for f in self.name_.get_feature_names_out()]
        names_out += [f"s:{s}" for s in SIGNALS]
        self.feature_names_ = np.asarray(names_out, dtype=object)
        for vec in (self.char_, self.word_, self.name_):
            # sklearn caches id(stop_words), a memory address: drop it, or no two trainings in two
            # processes would write the same artifact (it is only an optimisation of a check).
            vars(vec).pop("_stop_words_id", None)
        n_char, n_word, n_name = (len(v.vocabulary_) for v in (self.char_, self.word_, self.name_))
        self.block_starts_ = (0, n_char, n_char + n_word, n_char + n_word + n_name)
        self._transform: TfidfTransform | None = None
        return self

    def tfidf(self) -> TfidfTransform:
        """The fitted blocks made ready to transform (built once per fitted object, never stored)."""
        ready: TfidfTransform | None = getattr(self, "_transform", None)
        if ready is None:
            ready = self._transform = TfidfTransform(self)
        return ready

    def __getstate__(self) -> dict[str, Any]:
        """The artifact's view of a fitted object: each vocabulary as two arrays, not a dict.

        skops writes a dict entry by entry and audits every entry on load: ~200,000 nodes for
        the vocabularies and the feature names, seconds to load, and a promotion must reach every
        serving process within 2 s. Two arrays a block (all terms' code points, each term's
        length, in column order) are two nodes; the feature names follow from the vocabularies.
        """
        # A copy: outside sklearn's own modules BaseEstimator returns the live `__dict__`.
        state: dict[str, Any] = dict(super().__getstate__())
        state.pop("_transform", None)  # rebuilt on demand: the artifact holds plain data only
        if not all(hasattr(state.get(attr), "vocabulary_") for attr in _BLOCKS):
            return state  # not fitted: nothing to pack
        terms: dict[str, list[str]] = {}
        for attr in _BLOCKS:
            vec = copy.copy(state[attr])  # a shallow copy: the fitted vectorizer keeps its dict
            vocabulary: dict[str, int] = vars(vec).pop("vocabulary_")
            # sklearn < 1.7 kept the terms min_df/max_df dropped: only for inspection, never used.
            vars(vec).pop("stop_words_", None)
            terms[attr] = _in_column_order(vocabulary)
            state[attr] = vec
            state[f"{attr}terms_"], state[f"{attr}lengths_"] = _pack(terms[attr])
        names = state.get("feature_names_")
        if names is not None:
            text = _text_feature_names(terms)
            tail = [str(n) for n in names[len(text) :]]
            if [str(n) for n in names[: len(text)]] == text:
                del state["feature_names_"]
                state["signal_names_"] = np.asarray(tail, dtype=np.str_)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the vocabularies packed by `__getstate__`; older artifacts still hold the dicts."""
        state = dict(state)
        packed = {
            attr: (state.pop(f"{attr}terms_"), state.pop(f"{attr}lengths_"))
            for attr in _BLOCKS
            if f"{attr}terms_" in state
        }
        signal_names = state.pop("signal_names_", None)
        super().__setstate__(state)
        if not packed:
            return
        terms = {attr: _unpack(codes, lengths) for attr, (codes, lengths) in packed.items()}
        for attr, block in terms.items():
            vocabulary = dict(zip(block, range(len(block)), strict=True))
            if len(vocabulary) != len(block):
                raise ValueError(f"packed vocabulary of {attr} repeats a term")
            getattr(self, attr).vocabulary_ = vocabulary
        if signal_names is not None:
            names = _text_feature_names(terms) + [str(n) for n in signal_names.tolist()]
            self.feature_names_ = np.asarray(names, dtype=object)

    def transform(self, X: npt.NDArray[Any]) -> sparse.csr_matrix:
        tfidf = self.tfidf()
        rows: list[tuple[str, str, str, bool]] = [(str(n), str(t), str(c), bool(m)) for n, t, c, m in X]
        parts = []
        for start in range(0, len(rows), MAX_ROWS):
            (r, c, v), sig, _ = tfidf.transform(rows[start : start + MAX_ROWS])
            sig_rows, sig_cols = np.nonzero(sig)
            width = self.block_starts_[3]
            parts.append(
                sparse.csr_matrix(
                    (
                        np.concatenate([v, sig[sig_rows, sig_cols]]).astype(np.float32),
                        (np.concatenate([r, sig_rows]), np.concatenate([c, sig_cols + width])),
                    ),
                    shape=(len(sig), width + len(SIGNALS)),
                )
            )
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return sparse.csr_matrix((0, self.block_starts_[3] + len(SIGNALS)), dtype=np.float32)
        return sparse.vstack(parts, format="csr")

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[Any]:
        names: npt.NDArray[Any] = self.feature_names_
        return names


# The fitted TF-IDF blocks, in column order.
_BLOCKS = ("char_", "word_", "name_")
_PREFIXES = {"char_": "c:", "word_": "w:", "name_": "n:"}


def _in_column_order(vocabulary: dict[str, int]) -> list[str]:
    """The terms of a vocabulary by column (sklearn numbers them 0..n-1; anything else is refused)."""
    terms: list[str | None] = [None] * len(vocabulary)
    for term, column in vocabulary.items():
        if not 0 <= column < len(terms) or terms[column] is not None:
            raise ValueError(f"vocabulary columns are not 0..{len(terms) - 1}, each once")
        terms[column] = term
    return [t for t in terms if t is not None]


def _pack(terms: list[str]) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    """Terms -> (every code point, each term's length): lossless for any text (a numpy unicode
    array would drop trailing NULs), and two array nodes for skops whatever the size."""
    codes = np.frombuffer("".join(terms).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    return codes, np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))


def _unpack(codes: npt.NDArray[Any], lengths: npt.NDArray[Any]) -> list[str]:
    """The inverse of `_pack`; refuses arrays that do not add up (a corrupt artifact)."""
    codes = np.asarray(codes, dtype=np.uint32)
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or codes.ndim != 1 or (lengths < 0).any() or int(lengths.sum()) != len(codes):
        raise ValueError("packed vocabulary: term lengths do not add up to the code points stored")
    text = codes.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")
    ends = lengths.cumsum().tolist()
    return [text[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _text_feature_names(terms: dict[str, list[str]]) -> list[str]:
    """`feature_names_` of the text blocks, as `fit` writes them (the signals' names follow)."""
    return [f"{_PREFIXES[attr]}{t}" for attr in _BLOCKS for t in terms[attr]]


# Types the artifact may contain beyond skops' defaults, listed one by one: loading refuses
# anything else, so a swapped file cannot make us instantiate an unexpected class.
# Artifacts written before the package split (the shipped one, a registry's older versions) name
# the class by its old module path; `alias_legacy_module` lets skops find it there.
LEGACY_MODULE = "service.features"
TRUSTED_TYPES: tuple[str, ...] = (f"{__name__}.CommentFeatures", f"{LEGACY_MODULE}.CommentFeatures")


def alias_legacy_module() -> None:
    sys.modules.setdefault(LEGACY_MODULE, sys.modules[__name__])
