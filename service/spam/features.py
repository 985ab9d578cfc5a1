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
import random
import re
import sys
import unicodedata
from collections.abc import Sequence
from itertools import chain, pairwise, repeat
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
_URL = re.compile(rf"https?://[^\s<>\"']+|www\.[^\s<>\"']+|\b[a-z0-9][a-z0-9-]{{0,62}}\.(?:{_TLD})\b(?:/[^\s<>\"']*)?")
# Letters or digits written one by one with spaces ("w w w . x y z . c o m", "0 9 0 9 ...").
_SPACED = re.compile(r"(?<!\S)(?:\S ){3,}\S(?!\S)")
# "abc chấm com", "abc (dot) com", "abc [.] com" after folding.
_DOT_WORD = re.compile(rf"\s*[\[\(]\s*(?:dot|cham|\.)\s*[\]\)]\s*|\s+(?:dot|cham)\s+(?=(?:{_TLD})\b)")
# A Vietnamese mobile or landline number, or any run of 9+ digits with separators.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){8,10}(?!\d)|(?<!\d)\d(?:[\s.\-]?\d){8,13}(?!\d)")
_LINK_HINT = re.compile(rf"://|www\.|\.(?:{_TLD})\b")
_REPEAT = re.compile(r"(.)\1{3,}")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
_WORD = re.compile(r"\w+")


def _fold_table() -> list[str | None]:
    # A list indexed by code point, not a dict: `str.translate` pays for a KeyError on every
    # character a dict leaves out (most of them), and is 2x slower. Past the end of the list,
    # the IndexError is a LookupError too: the character is kept, as a dict miss keeps it.
    table: list[str | None] = [chr(code) for code in range(0x1F00)]
    table[ord("đ")] = table[ord("Đ")] = "d"
    for code in range(0x00C0, 0x1F00):
        base = unicodedata.normalize("NFD", chr(code))
        if len(base) > 1 and base[0].isascii() and all(unicodedata.category(c) == "Mn" for c in base[1:]):
            table[code] = base[0].lower()
    for code in range(0x0300, 0x0370):  # stray combining marks (text is NFC, but be safe)
        table[code] = None
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Lower case, no diacritics, "đ" as "d": the form char n-grams see. One C-level pass."""
    return text.lower().translate(_FOLD)


def _join_spaced(m: re.Match[str]) -> str:
    return m.group(0).replace(" ", "")


# Every `_SPACED` match ("a b c d") holds " b c ": this literal-led pattern is found (or not) far
# faster than `_SPACED`, whose look-behind makes the regex engine try every position.
_SPACED_HINT = re.compile(r" \S \S ")


def deobfuscate(folded: str) -> str:
    """Undo the cheap tricks that hide links and numbers from word filters."""
    text = _SPACED.sub(_join_spaced, folded) if _SPACED_HINT.search(folded) else folded
    if "dot" in text or "cham" in text or "(" in text or "[" in text:
        text = _DOT_WORD.sub(".", text)
    return text


def _has_link(folded: str) -> bool:
    # The cheap test first: most comments have no "://", "www." or ".<tld>" at all.
    return _LINK_HINT.search(folded) is not None and _URL.search(folded) is not None


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


_UPPER_LATIN = re.compile(r"[A-ZÀ-ÝĐĂÂÊÔƠƯẠ-Ỹ]")


def _class_table() -> list[str | None]:
    # Each character of the first 0x3000 code points -> a letter coding (isalpha, isupper,
    # isdigit) as bits, or deleted if none: one `translate` and a few `count`s instead of three
    # Python-level passes over the text. Past the table, characters are kept and counted one by one.
    table: list[str | None] = []
    for code in range(0x3000):
        ch = chr(code)
        bits = ch.isalpha() | ch.isupper() << 1 | ch.isdigit() << 2
        table.append(_CLASS_LETTERS[bits] if bits else None)
    return table


_CLASS_LETTERS = "ABCDEFGH"  # "A" + bits; bit 1 alpha, 2 upper, 4 digit
_CLASS = _class_table()
_CLASSIFIED = re.compile("[B-H]+")


def char_counts(text: str) -> tuple[int, int, int]:
    """(letters, upper case, digits) of `text`, as `str.isalpha`, `isupper`, `isdigit` count them."""
    classes = text.translate(_CLASS)
    n = classes.count
    by = {letter: n(letter) for letter in _CLASS_LETTERS[1:]}
    letters = by["B"] + by["D"] + by["F"] + by["H"]
    upper = by["C"] + by["D"] + by["G"] + by["H"]
    digits = by["E"] + by["F"] + by["G"] + by["H"]
    if not classes.isascii():  # characters past the table (emoji, CJK...) were left as they are
        for ch in _CLASSIFIED.sub("", classes):
            letters += ch.isalpha()
            upper += ch.isupper()
            digits += ch.isdigit()
    return letters, upper, digits


def signals(
    name: str, body: str, folded: str, plain: str, had_markup: bool, name_plain: str | None = None
) -> list[float]:
    """The cheap signals of one comment, each in [0, 1], in `SIGNALS` order.

    `body` is title and content, `folded` its `fold`, `plain` its `deobfuscate(folded)`;
    `name_plain` is `deobfuscate(fold(name))`, computed here if not given.
    """
    has_link = _has_link(folded)
    hidden_link = not has_link and plain != folded and _has_link(plain)
    n = max(len(body), 1)
    letters, upper, digits = char_counts(body)
    return [
        float(has_link),
        float(hidden_link),
        float(digits >= 9 and _PHONE.search(plain) is not None),
        min(digits / n * 4.0, 1.0),
        upper / letters if letters >= 8 else 0.0,
        min(len(_REPEAT.findall(body)) / 2.0, 1.0),
        min(body.count("!") / 5.0, 1.0),
        min(len(_EMOJI.findall(body)) / 5.0, 1.0),
        float(had_markup),
        float(len(body) < 25),
        min(math.log1p(len(body)) / 8.0, 1.0),
        min(body.count("\n") / 10.0, 1.0),
        float(any(map(str.isdigit, name))),
        float(bool(name) and _has_link(deobfuscate(fold(name)) if name_plain is None else name_plain)),
        float(len(name) > 30),
    ]


View = tuple[str, str, str, str, str, list[float]]


def view(name: str, title: str, content: str, had_markup: bool) -> View:
    """Everything the features and the explanations read from one comment, each computed once:
    body (title and content), its `fold`, that de-obfuscated, body lower-cased, the bracketed
    folded name the name n-grams see, and the signals."""
    body = f"{title}\n{content}" if title else content
    folded = fold(body)
    plain = deobfuscate(folded)
    name_folded = fold(name)
    # Bracketed so an empty name is a feature too (and the vocabulary is never empty).
    name_doc = f"<{name_folded}>"
    name_plain = deobfuscate(name_folded) if name else ""
    return body, folded, plain, body.lower(), name_doc, signals(name, body, folded, plain, had_markup, name_plain)


def records(rows: Sequence[tuple[str, str, str, bool]]) -> npt.NDArray[Any]:
    """The (n, 4) object matrix the pipeline takes: name, title, content, had_markup."""
    out = np.empty((len(rows), len(COLUMNS)), dtype=object)
    for i, row in enumerate(rows):
        out[i, :] = row
    return out


_WHITE = re.compile(r"\s\s+")
# sklearn's token_pattern is r"(?u)\b\w+\b"; findall gives the same tokens without the \b tests
# (a greedy run of word characters always starts and ends at a word boundary).
_TOKEN = re.compile(r"\w+")


def char_grams(text: str, lo: int, hi: int) -> list[str]:
    """sklearn's `analyzer="char"` n-grams, in one comprehension per n."""
    text = _WHITE.sub(" ", text)
    size = len(text)
    return [text[i : i + n] for n in range(lo, min(hi, size) + 1) for i in range(size - n + 1)]


def char_wb_grams(text: str, lo: int, hi: int) -> list[str]:
    """sklearn's `analyzer="char_wb"` n-grams (a word shorter than n counts once, whole)."""
    out: list[str] = []
    for word in _WHITE.sub(" ", text).split():
        w = f" {word} "
        size = len(w)
        for n in range(lo, hi + 1):
            if size <= n:
                out.append(w)
                break
            out.extend([w[i : i + n] for i in range(size - n + 1)])
    return out


def word_grams(text: str, lo: int, hi: int) -> list[str]:
    """sklearn's `analyzer="word"` n-grams with our token pattern."""
    tokens = _TOKEN.findall(text)
    if hi == 1:
        return tokens
    out = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        if n == 2:
            out.extend([f"{a} {b}" for a, b in pairwise(tokens)])
        else:
            out.extend([" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)])
    return out


def _analyze(vec: TfidfVectorizer, text: str) -> list[str]:
    lo, hi = vec.ngram_range
    if vec.analyzer == "char":
        return char_grams(text, lo, hi)
    if vec.analyzer == "char_wb":
        return char_wb_grams(text, lo, hi)
    return word_grams(text, lo, hi)


Triples = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


# Character n-grams by rolling hash, in numpy: Python slicing costs ~0.3 µs a gram here, and a
# 100-character comment has ~450 of them. The vocabulary's n-grams are hashed the same way once,
# at fit time; a 64-bit hash makes a false match with an unseen n-gram practically impossible
# (and a test checks the result against sklearn's own transform).
_P = 0x100000001B3
_MASK = (1 << 64) - 1
_LEN_SALT = 0x9E3779B97F4A7C15

HashIndex = tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]


_HASH_BITS = 48  # the low 16 bits of a sorted key carry the row, so one plain sort orders both
_HASH_MASK = (1 << _HASH_BITS) - 1
_MAX_ROWS = 1 << (64 - _HASH_BITS)


def _hash_gram(gram: str) -> int:
    return _seeded_hash(gram, 0)


def hash_index(vec: TfidfVectorizer) -> HashIndex:
    """Sorted 48-bit hashes of a fitted vectorizer's n-grams, and their columns."""
    items = sorted((_hash_gram(g), j) for g, j in vec.vocabulary_.items())
    hashes = np.asarray([h for h, _ in items], dtype=np.uint64)
    if len(hashes) > 1 and bool((hashes[1:] == hashes[:-1]).any()):
        raise ValueError("two n-grams of the vocabulary share a hash")  # never seen; refuse rather than guess
    return hashes, np.asarray([j for _, j in items], dtype=np.int64)


def _hashed_char_grams(
    vec: TfidfVectorizer, docs: Sequence[str], index: HashIndex
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(row, column) of every `analyzer="char"` n-gram of `docs`; column -1 if not in the vocabulary."""
    if len(docs) > _MAX_ROWS:
        parts = [_hashed_char_grams(vec, docs[i : i + _MAX_ROWS], index) for i in range(0, len(docs), _MAX_ROWS)]
        return (
            np.concatenate([r + i * _MAX_ROWS for i, (r, _) in enumerate(parts)]),
            np.concatenate([c for _, c in parts]),
        )
    lo, hi = vec.ngram_range
    texts = [_WHITE.sub(" ", d) for d in docs]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    total = len(codes)
    row = np.repeat(np.arange(len(texts), dtype=np.uint64), lengths)
    # Characters left in the document from each position (so an n-gram never crosses documents).
    left = np.repeat(np.cumsum(lengths), lengths) - np.arange(total, dtype=np.int64)
    h = np.zeros(total, dtype=np.uint64)
    p, one, shift = np.uint64(_P), np.uint64(1), np.uint64(64 - _HASH_BITS)
    packed = []
    for n in range(1, hi + 1):
        if n > total:
            break
        h[: total - n + 1] = h[: total - n + 1] * p + codes[n - 1 :] + one
        if n >= lo:
            ok = left >= n
            key = (h[ok] ^ np.uint64((n * _LEN_SALT) & _MASK)) & np.uint64(_HASH_MASK)
            packed.append((key << shift) | row[ok])
    if not packed:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Sorted needles make searchsorted walk the vocabulary once instead of jumping around it.
    keys = np.sort(np.concatenate(packed))
    hashes, columns = index
    wanted = keys >> shift
    pos = np.minimum(np.searchsorted(hashes, wanted), len(hashes) - 1)
    cols = np.where(hashes[pos] == wanted, columns[pos], -1)
    return (keys & np.uint64(_MAX_ROWS - 1)).astype(np.int64), cols


def tfidf_triples(vec: TfidfVectorizer, docs: Sequence[str], index: HashIndex | None = None) -> Triples:
    """(row, column, value) of `vec.transform(docs)` for a fitted sublinear, L2-normalised
    TfidfVectorizer, in plain numpy: scipy.sparse costs ~0.1 ms a call, too much for serving one
    comment; a test checks the numbers against sklearn's."""
    if vec.analyzer == "char" and index is not None:
        rows, cols = _hashed_char_grams(vec, docs, index)
    else:
        grams = [_analyze(vec, doc) for doc in docs]
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        total = int(lengths.sum())
        cols = np.fromiter(
            map(vec.vocabulary_.get, chain.from_iterable(grams), repeat(-1)), dtype=np.int64, count=total
        )
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    known = cols >= 0
    width = len(vec.vocabulary_)
    keys, counts = np.unique(rows[known] * width + cols[known], return_counts=True)
    rows, cols = keys // width, keys % width
    vals = counts.astype(np.float64)
    if vec.sublinear_tf:
        vals = np.log(vals) + 1.0
    vals *= np.asarray(vec.idf_, dtype=np.float64)[cols]
    norms = np.sqrt(np.bincount(rows, weights=vals * vals, minlength=len(docs)))
    vals /= norms[rows]
    return rows, cols, vals


class CommentFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Comment records -> sparse matrix: folded char n-grams | word n-grams | name chars | signals.

    Every block but the signals is L2-normalised TF-IDF; `name_weight` and `signal_weight` scale
    their blocks against the text (a linear model's regularisation treats all columns alike).
    """

    def __init__(
        self,
        char_analyzer: str = "char",
        char_ngrams: tuple[int, int] = (1, 5),
        word_ngrams: tuple[int, int] = (1, 2),
        min_df: int = 1,
        name_weight: float = 0.5,
        signal_weight: float = 1.0,
    ) -> None:
        self.char_analyzer = char_analyzer
        self.char_ngrams = char_ngrams
        self.word_ngrams = word_ngrams
        self.min_df = min_df
        self.name_weight = name_weight
        self.signal_weight = signal_weight

    @staticmethod
    def _views(X: npt.NDArray[Any]) -> tuple[list[str], list[str], list[str], npt.NDArray[np.float32]]:
        """Per row: folded de-obfuscated body, lower-cased body, bracketed folded name, signals."""
        plains, lowers, names, sig = [], [], [], []
        for name, title, content, markup in X:
            _, _, plain, lower, name_doc, row_signals = view(str(name), str(title), str(content), bool(markup))
            plains.append(plain)
            lowers.append(lower)
            names.append(name_doc)
            sig.append(row_signals)
        return plains, lowers, names, np.asarray(sig, dtype=np.float32).reshape(len(X), len(SIGNALS))

    def fit(self, X: npt.NDArray[Any], y: Any = None) -> CommentFeatures:
        plains, lowers, names, _ = self._views(X)
        common: dict[str, Any] = {"sublinear_tf": True, "min_df": self.min_df, "lowercase": False, "dtype": np.float32}
        self.char_ = TfidfVectorizer(analyzer=self.char_analyzer, ngram_range=self.char_ngrams, **common)
        self.char_.fit(plains)
        self.word_ = TfidfVectorizer(
            analyzer="word", ngram_range=self.word_ngrams, token_pattern=r"(?u)\b\w+\b", **common
        ).fit(lowers)
        self.name_ = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), **common).fit(names)
        self.char_index_ = hash_index(self.char_) if self.char_analyzer == "char" else None
        self.name_index_ = hash_index(self.name_)
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
        return self

    def triples(self, X: npt.NDArray[Any]) -> tuple[Triples, npt.NDArray[np.float32]]:
        """The text blocks as (row, global column, value) and the signals as a dense matrix."""
        plains, lowers, names, sig = self._views(X)
        parts = [
            (tfidf_triples(self.char_, plains, self.char_index_), 1.0, self.block_starts_[0]),
            (tfidf_triples(self.word_, lowers), 1.0, self.block_starts_[1]),
            (tfidf_triples(self.name_, names, self.name_index_), self.name_weight, self.block_starts_[2]),
        ]
        rows = np.concatenate([p[0] for p, _, _ in parts])
        cols = np.concatenate([p[1] + start for p, _, start in parts])
        vals = np.concatenate([p[2] * w for p, w, _ in parts])
        return (rows, cols, vals), sig * np.float32(self.signal_weight)

    def transform(self, X: npt.NDArray[Any]) -> sparse.csr_matrix:
        (rows, cols, vals), sig = self.triples(X)
        start = self.block_starts_[3]
        sig_rows, sig_cols = np.nonzero(sig)
        shape = (len(X), start + len(SIGNALS))
        return sparse.csr_matrix(
            (
                np.concatenate([vals, sig[sig_rows, sig_cols]]).astype(np.float32),
                (np.concatenate([rows, sig_rows]), np.concatenate([cols, sig_cols + start])),
            ),
            shape=shape,
        )

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


def words_of(text: str) -> list[str]:
    """The words of a text, as a moderator would highlight them."""
    return _WORD.findall(text)


def spans(kind: str, folded: str) -> list[tuple[int, int]]:
    """Where a signal shows in the folded text (aligned with the original where `fold` keeps every
    character in place, as it does Vietnamese)."""
    if kind == "link":
        return [m.span() for m in _URL.finditer(folded)]
    if kind == "link_hidden":
        return [m.span() for m in _SPACED.finditer(folded) if _URL.search(deobfuscate(m.group(0)))]
    if kind == "phone":
        return [m.span() for m in _PHONE.finditer(folded)]
    if kind == "repeated":
        return [m.span() for m in _REPEAT.finditer(folded)]
    return []


# Initial hash state of the name block's n-grams, so one sorted index holds both hashed blocks
# (a name n-gram and the same text n-gram hash differently). Another seed is tried on a clash.
_NAME_SEEDS = (0x2545F4914F6CDD1D, 0x5851F42D4C957F2D, 0x14057B7EF767814F)


def _seeded_hash(gram: str, seed: int) -> int:
    """The 48-bit hash of an n-gram (seed 0: the char block's; the name block's starts elsewhere)."""
    h = seed
    for ch in gram:
        h = (h * _P + ord(ch) + 1) & _MASK
    return (h ^ ((len(gram) * _LEN_SALT) & _MASK)) & _HASH_MASK


# Cuckoo hashing of the n-gram hashes: a key sits in one of two slots, so a lookup is two gathers
# and two compares for every n-gram at once. A sorted index needs the needles sorted too, or
# searchsorted costs ~60 ns a needle: 2 ms for a batch of 64 comments.
_CUCKOO_MULT = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)
_EMPTY = 1 << 63  # never a 48-bit hash


class CuckooIndex:
    """48-bit n-gram hash -> column, looked up for a whole array of hashes in numpy."""

    def __init__(self, hashes: Sequence[int], columns: Sequence[int]) -> None:
        bits = max(4, len(hashes).bit_length() + 1)  # load factor at most 1/2 at first
        rng = random.Random(0)  # eviction choices: the same table on every load
        while True:
            table = self._build(list(hashes), list(columns), bits, rng)
            if table is not None:
                break
            bits += 1  # an insertion cycled: a bigger table (never seen at this load)
        keys, cols = table
        self.shift = np.uint64(64 - bits)
        self.mult = tuple(np.uint64(m) for m in _CUCKOO_MULT)
        self.keys = np.asarray(keys, dtype=np.uint64)
        self.cols = np.asarray(cols, dtype=np.int64)

    @staticmethod
    def _build(
        hashes: list[int], columns: list[int], bits: int, rng: random.Random
    ) -> tuple[list[int], list[int]] | None:
        size, shift = 1 << bits, 64 - bits
        keys, cols = [_EMPTY] * size, [-1] * size

        def slots(h: int) -> tuple[int, int]:
            return tuple(((h * m) & _MASK) >> shift for m in _CUCKOO_MULT)  # type: ignore[return-value]

        for h, col in zip(hashes, columns, strict=True):
            for _ in range(500):
                a, b = slots(h)
                if keys[a] in (_EMPTY, h) or keys[b] in (_EMPTY, h):
                    slot = a if keys[a] in (_EMPTY, h) else b
                    if keys[slot] == h:
                        raise ValueError("two n-grams of the vocabulary share a hash")
                    keys[slot], cols[slot] = h, col
                    break
                slot = a if rng.random() < 0.5 else b
                keys[slot], h = h, keys[slot]
                cols[slot], col = col, cols[slot]
            else:
                return None
        return keys, cols

    def lookup(self, wanted: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """The column of each hash, -1 where it is not in the vocabulary."""
        a = ((wanted * self.mult[0]) >> self.shift).astype(np.intp)
        b = ((wanted * self.mult[1]) >> self.shift).astype(np.intp)
        return np.where(self.keys[a] == wanted, self.cols[a], np.where(self.keys[b] == wanted, self.cols[b], -1))


class ServingFeatures:
    """The serving form of a fitted `CommentFeatures`: the same numbers as `triples`, for all
    three text blocks at once, with what can be computed once computed at load (float64 idf, one
    hash index for the char and name blocks, the block of each column). Not persisted.

    Per call it costs a fixed few dozen numpy operations, whatever the batch size, plus the
    per-comment Python that cannot be avoided (folding, regexes, word n-grams).
    """

    def __init__(self, features: CommentFeatures) -> None:
        vecs = (features.char_, features.word_, features.name_)
        if len({bool(v.sublinear_tf) for v in vecs}) != 1 or any(v.norm != "l2" for v in vecs):
            raise ValueError("expected L2-normalised TF-IDF blocks that all share sublinear_tf")
        self.features = features
        self.sublinear = bool(features.char_.sublinear_tf)
        starts = [int(s) for s in features.block_starts_]
        self.width = starts[3]  # text columns; the signals follow
        self.col_bits = max(1, self.width.bit_length())
        with np.errstate(divide="ignore"):  # log(0) at index 0, never read: counts start at 1
            self.log_tf = np.log(np.arange(256, dtype=np.float64)) + 1.0
        self.idf = np.concatenate([np.asarray(v.idf_, dtype=np.float64) for v in vecs])
        self.block_of = np.repeat(np.arange(3, dtype=np.int64), np.diff(starts))
        self.weights = np.asarray([1.0, 1.0, float(features.name_weight)], dtype=np.float64)
        self.signal_weight = np.float32(features.signal_weight)
        self.word_vocab: dict[str, int] = features.word_.vocabulary_
        self.word_range: tuple[int, int] = tuple(features.word_.ngram_range)
        self.word_start = starts[1]
        # The char block is hashed unless it uses another analyzer (then looked up like words).
        self.char_hashed = features.char_index_ is not None
        self.char_range: tuple[int, int] = tuple(features.char_.ngram_range)
        self.name_range: tuple[int, int] = tuple(features.name_.ngram_range)
        self.name_start = starts[2]
        index: HashIndex | None = features.char_index_
        char_h, char_c = index if index is not None else (np.zeros(0, np.uint64), np.zeros(0, np.int64))
        name_items = list(features.name_.vocabulary_.items())
        for seed in _NAME_SEEDS:
            name_h = [_seeded_hash(g, seed) for g, _ in name_items]
            if len(set(name_h) | set(char_h.tolist())) == len(name_h) + len(char_h):
                break
        else:  # never seen: three 48-bit seeds all clashing
            raise ValueError("the char and name n-gram hashes clash")
        self.name_seed_p = np.uint64((seed * _P) & _MASK)  # uint64 scalars warn on overflow
        top = max(self.char_range[1], self.name_range[1])
        self.len_salts = np.asarray([(k * _LEN_SALT) & _MASK for k in range(1, top + 1)], dtype=np.uint64)
        self.index = CuckooIndex(
            [*char_h.tolist(), *name_h], [*char_c.tolist(), *(j + self.name_start for _, j in name_items)]
        )

    def _hashed(self, plains: list[str], names: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(row, global column) of every char and name n-gram found in the vocabulary (repeats
        included), hashed as `_hashed_char_grams` does, but both blocks and every n at once: a
        fixed ~40 numpy calls, which is what one comment costs."""
        n = len(names)
        docs = [*plains, *names] if self.char_hashed else names
        texts = [_WHITE.sub(" ", d) for d in docs]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        codes += np.uint64(1)
        total = len(codes)
        # Where the name documents start, in characters.
        split = sum(map(len, texts[: len(plains)])) if self.char_hashed else 0
        c_lo, c_hi = self.char_range if self.char_hashed else (0, -1)
        n_lo, n_hi = self.name_range
        top = min(max(c_hi, n_hi), total)
        if top < 1:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        # h[k - 1, i]: hash of the k characters from position i (the tail of each row is garbage,
        # never read: `left` masks it, as it masks n-grams that would cross two documents).
        h = np.empty((top, total), dtype=np.uint64)
        h[0] = codes  # 0 * P + code + 1 for the text; seed * P + code + 1 for names
        h[0, split:] += self.name_seed_p
        for k in range(2, top + 1):
            m = total - k + 1
            np.multiply(h[k - 2, :m], np.uint64(_P), out=h[k - 1, :m])
            h[k - 1, :m] += codes[k - 1 :]
        # Numpy's methods, not its module functions: their Python wrappers cost more than the
        # work on one comment's arrays.
        left = lengths.cumsum().repeat(lengths) - np.arange(total, dtype=np.int64)
        sizes = np.arange(1, top + 1, dtype=np.int64)
        ok = left >= sizes[:, None]
        for k in range(1, top + 1):
            if not c_lo <= k <= c_hi:
                ok[k - 1, :split] = False
            if not n_lo <= k <= n_hi:
                ok[k - 1, split:] = False
        wanted = (h ^ self.len_salts[:top, None])[ok] & np.uint64(_HASH_MASK)
        cols = self.index.lookup(wanted)
        hit = cols >= 0
        cols = cols[hit]
        if n == 1:
            return np.zeros(len(cols), dtype=np.int64), cols
        # The row of each n-gram: its document, folded onto the comment for name documents.
        docs_at = np.empty(ok.shape, dtype=np.int64)
        docs_at[:] = (np.arange(len(texts), dtype=np.int64) % n).repeat(lengths)
        return docs_at[ok][hit], cols

    def _looked_up(
        self, docs: list[str], vec: TfidfVectorizer, start: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(row, global column) of the n-grams of `docs` found in a vocabulary, by dict lookup."""
        lo, hi = vec.ngram_range
        if vec.analyzer == "word":
            grams = [word_grams(d, lo, hi) for d in docs]
        else:
            grams = [_analyze(vec, d) for d in docs]
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        get = vec.vocabulary_.get
        cols = np.fromiter(map(get, chain.from_iterable(grams), repeat(-1)), dtype=np.int64, count=int(lengths.sum()))
        rows = np.arange(len(docs), dtype=np.int64).repeat(lengths)
        known = cols >= 0
        return rows[known], cols[known] + start

    def transform(
        self, rows: Sequence[tuple[str, str, str, bool]]
    ) -> tuple[Triples, npt.NDArray[np.float32], list[View]]:
        """`CommentFeatures.triples` of the records, ordered by row then column, with each
        comment's `view` (the explanations read the same folded and lower-cased text)."""
        views = [view(*r) for r in rows]
        n = len(views)
        if n > _MAX_ROWS // 2:
            raise ValueError(f"at most {_MAX_ROWS // 2} comments a call, got {n}")
        plains = [v[2] for v in views]
        names = [v[4] for v in views]
        parts = [self._hashed(plains, names)]
        parts.append(self._looked_up([v[3] for v in views], self.features.word_, self.word_start))
        if not self.char_hashed:
            parts.append(self._looked_up(plains, self.features.char_, 0))
        # (row, column) packed as row << bits | column: sorted by row then column, and unpacked
        # with a shift and a mask (an integer division of every key cost more than the sort).
        bits = self.col_bits
        keys = np.concatenate([(r << bits) | c for r, c in parts])
        # Counting by sorting (row, column) keys: np.unique, without its checks and copies.
        keys.sort()
        if len(keys):
            first = np.empty(len(keys), dtype=bool)
            first[0] = True
            np.not_equal(keys[1:], keys[:-1], out=first[1:])
            starts = first.nonzero()[0]
            counts = np.empty(len(starts), dtype=np.int64)
            counts[:-1] = starts[1:] - starts[:-1]
            counts[-1] = len(keys) - starts[-1]
            keys = keys[starts]
        else:
            counts = np.zeros(0, dtype=np.int64)
        r, c = keys >> bits, keys & ((1 << bits) - 1)
        block = self.block_of[c]
        # Same operations, in the same order, as tfidf_triples: the same numbers to the last bit.
        if self.sublinear:
            # 1 + log(count) from a table (counts are small integers): the same numbers as
            # np.log(counts) + 1, without a logarithm per feature.
            table, top = self.log_tf, int(counts.max(initial=0))
            if top >= len(table):  # a local: another thread may grow the cached table meanwhile
                with np.errstate(divide="ignore"):
                    table = self.log_tf = np.log(np.arange(2 * top + 2, dtype=np.float64)) + 1.0
            vals = table[counts]
        else:
            vals = counts.astype(np.float64)
        vals *= self.idf[c]
        cell = r * 3 + block
        norms = np.sqrt(np.bincount(cell, weights=vals * vals, minlength=3 * n))
        vals /= norms[cell]
        vals = vals * self.weights[block]
        sig = np.asarray([v[5] for v in views], dtype=np.float32).reshape(n, len(SIGNALS)) * self.signal_weight
        return (r, c, vals), sig, views
