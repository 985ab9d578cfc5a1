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
        state: dict[str, Any] = super().__getstate__()
        state.pop("_transform", None)  # rebuilt on demand: the artifact holds plain data only
        return state

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


# Types the artifact may contain beyond skops' defaults, listed one by one: loading refuses
# anything else, so a swapped file cannot make us instantiate an unexpected class.
# Artifacts written before the package split (the shipped one, a registry's older versions) name
# the class by its old module path; `alias_legacy_module` lets skops find it there.
LEGACY_MODULE = "service.features"
TRUSTED_TYPES: tuple[str, ...] = (f"{__name__}.CommentFeatures", f"{LEGACY_MODULE}.CommentFeatures")


def alias_legacy_module() -> None:
    sys.modules.setdefault(LEGACY_MODULE, sys.modules[__name__])
