"""Features of a comment for the spam model, shared by training and serving.

The artifact stores a fitted `CommentFeatures`; skops must be told to trust this class by name
(see `TRUSTED_TYPES`), so it holds only plain data and stock scikit-learn vectorizers: no
callables, nothing that would make skops load code.

Three views of one comment:
- the *folded* text (lower case, diacritics stripped, spaced-out letters joined, "chấm com"
  read as ".com") for character n-grams, so "nhà cái", "nha cai" and "n h a c a i" look alike;
- the lower-cased text with its diacritics for word n-grams, where the tones carry meaning;
- cheap signals (links, phone numbers, digit and capital shares, repeated characters, markup,
  lengths, a name containing digits or a link), each one a reason a moderator can read.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

# Column order of the record matrix the pipeline takes (see `records`).
COLUMNS = ("name", "title", "content", "had_markup")

# Domains spammers use; the list only needs to be broad, not complete (char n-grams do the rest).
_TLD = (
    r"com|net|org|vn|info|xyz|top|club|io|me|co|biz|site|online|store|vip|win|bet|ly|gl|link|shop|app|"
    r"pro|tk|ml|ga|cf|live|fun|asia|us|uk|ru|cc|tv|ws|in|to|am|fm|one|bio|click|cam|tech|space|website"
)
_URL = re.compile(rf"https?://|www\.|\b[a-z0-9][a-z0-9-]{{0,62}}\.(?:{_TLD})\b(?:/\S*)?")
# Letters or digits written one by one with spaces ("w w w . x y z . c o m", "0 9 0 9 ...").
_SPACED = re.compile(r"(?<!\S)(?:\S ){3,}\S(?!\S)")
# "abc chấm com", "abc (dot) com", "abc [.] com" after folding.
_DOT_WORD = re.compile(rf"\s*[\[\(]\s*(?:dot|cham|\.)\s*[\]\)]\s*|\s+(?:dot|cham)\s+(?=(?:{_TLD})\b)")
# A Vietnamese mobile or landline number, or any run of 9+ digits with separators.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){8,10}(?!\d)|(?<!\d)\d(?:[\s.\-]?\d){8,13}(?!\d)")
_REPEAT = re.compile(r"(.)\1{3,}")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case, no diacritics, "đ" as "d": the form char n-grams see."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def deobfuscate(folded: str) -> str:
    """Undo the cheap tricks that hide links and numbers from word filters."""
    text = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), folded)
    return _DOT_WORD.sub(".", text)


# The signals: name -> (reason code, Vietnamese, English). A code shared by two signals gives
# one reason. Order matters: it is the column order in the feature matrix.
SIGNALS: dict[str, tuple[str, str, str]] = {
    "link": ("link", "có đường link", "contains a link"),
    "link_hidden": ("link_hidden", "link bị viết tách để lách bộ lọc", "a link spelled out to dodge filters"),
    "phone": ("phone", "có số điện thoại trong nội dung", "phone number in the text"),
    "digits": ("digits", "nhiều chữ số", "many digits"),
    "capitals": ("capitals", "viết hoa nhiều", "many capital letters"),
    "repeated": ("repeated", "ký tự lặp lại nhiều lần", "repeated characters"),
    "exclaim": ("exclaim", "nhiều dấu chấm than", "many exclamation marks"),
    "emoji": ("emoji", "nhiều biểu tượng cảm xúc", "many emoji"),
    "markup": ("markup", "có mã HTML/BBCode", "contains markup"),
    "short": ("length", "độ dài bất thường", "unusual length"),
    "long": ("length", "độ dài bất thường", "unusual length"),
    "lines": ("lines", "nhiều dòng", "many lines"),
    "name_digits": ("name_digits", "tên có chữ số", "name contains digits"),
    "name_link": ("name_link", "tên là một link", "name contains a link"),
    "name_long": ("name_long", "tên dài bất thường", "unusually long name"),
}


def signals(name: str, title: str, content: str, had_markup: bool) -> list[float]:
    """The cheap signals of one comment, each in [0, 1], in `SIGNALS` order."""
    body = f"{title}\n{content}" if title else content
    folded = fold(body)
    plain = deobfuscate(folded)
    has_link = bool(_URL.search(folded))
    hidden_link = not has_link and bool(_URL.search(plain))
    letters = sum(ch.isalpha() for ch in body)
    upper = sum(ch.isupper() for ch in body)
    digits = sum(ch.isdigit() for ch in body)
    n = max(len(body), 1)
    name_folded = deobfuscate(fold(name))
    return [
        float(has_link),
        float(hidden_link),
        float(bool(_PHONE.search(plain))),
        min(digits / n * 4.0, 1.0),
        upper / letters if letters >= 8 else 0.0,
        min(len(_REPEAT.findall(body)) / 2.0, 1.0),
        min(body.count("!") / 5.0, 1.0),
        min(len(_EMOJI.findall(body)) / 5.0, 1.0),
        float(had_markup),
        float(len(body) < 25),
        min(math.log1p(len(body)) / 8.0, 1.0),
        min(body.count("\n") / 10.0, 1.0),
        float(any(ch.isdigit() for ch in name)),
        float(bool(_URL.search(name_folded))),
        float(len(name) > 30),
    ]


def records(rows: Sequence[tuple[str, str, str, bool]]) -> npt.NDArray[Any]:
    """The (n, 4) object matrix the pipeline takes: name, title, content, had_markup."""
    out = np.empty((len(rows), len(COLUMNS)), dtype=object)
    for i, row in enumerate(rows):
        out[i, :] = row
    return out


class CommentFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Comment records -> sparse matrix: folded char n-grams | word n-grams | name chars | signals.

    Every block but the signals is L2-normalised TF-IDF; `*_weight` scale the blocks against
    each other (a linear model's regularisation treats all columns alike).
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

    # -- the three text views
    @staticmethod
    def _views(X: npt.NDArray[Any]) -> tuple[list[str], list[str], list[str]]:
        folded, words, names = [], [], []
        for name, title, content, _markup in X:
            body = f"{title}\n{content}" if title else str(content)
            folded.append(deobfuscate(fold(body)))
            words.append(body.lower())
            # Bracketed so an empty name is a feature too (and the vocabulary is never empty).
            names.append(f"<{fold(str(name))}>")
        return folded, words, names

    def fit(self, X: npt.NDArray[Any], y: Any = None) -> CommentFeatures:
        folded, words, names = self._views(X)
        self.char_ = TfidfVectorizer(
            analyzer="char_wb", ngram_range=self.char_ngrams, sublinear_tf=True, min_df=self.min_df,
            lowercase=False, dtype=np.float32,
        ).fit(folded)
        self.word_ = TfidfVectorizer(
            analyzer="word", ngram_range=self.word_ngrams, sublinear_tf=True, min_df=self.min_df,
            lowercase=False, token_pattern=r"(?u)\b\w+\b", dtype=np.float32,
        ).fit(words)
        self.name_ = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=self.min_df,
            lowercase=False, dtype=np.float32,
        ).fit(names)
        names_out = [f"c:{f}" for f in self.char_.get_feature_names_out()]
        names_out += [f"w:{f}" for f in self.word_.get_feature_names_out()]
        names_out += [f"n:{f}" for f in self.name_.get_feature_names_out()]
        names_out += [f"s:{s}" for s in SIGNALS]
        self.feature_names_ = np.asarray(names_out, dtype=object)
        self.block_starts_ = (
            0,
            len(self.char_.vocabulary_),
            len(self.char_.vocabulary_) + len(self.word_.vocabulary_),
            len(self.char_.vocabulary_) + len(self.word_.vocabulary_) + len(self.name_.vocabulary_),
        )
        return self

    def transform(self, X: npt.NDArray[Any]) -> sparse.csr_matrix:
        folded, words, names = self._views(X)
        sig = np.asarray(
            [signals(str(n), str(t), str(c), bool(m)) for n, t, c, m in X], dtype=np.float32
        ).reshape(len(X), len(SIGNALS))
        blocks = [
            self.char_.transform(folded),
            self.word_.transform(words),
            self.name_.transform(names) * np.float32(self.name_weight),
            sparse.csr_matrix(sig * np.float32(self.signal_weight)),
        ]
        return sparse.hstack(blocks, format="csr", dtype=np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[Any]:
        return self.feature_names_  # type: ignore[no-any-return]


# Types the artifact may contain beyond skops' defaults, listed one by one: loading refuses
# anything else, so a swapped file cannot make us instantiate an unexpected class.
TRUSTED_TYPES: tuple[str, ...] = (
    "service.features.CommentFeatures",
)


def words_of(text: str) -> list[str]:
    """The words of a text, as a moderator would highlight them."""
    return _WORD.findall(text)
