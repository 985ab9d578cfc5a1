"""TF-IDF of a fitted `CommentFeatures` in plain numpy: the one implementation training and serving share.

scikit-learn's `TfidfVectorizer` fits the vocabularies and idf weights (that is what the artifact
stores); turning comments into numbers is done here, for all three text blocks at once: folded
character n-grams and name n-grams by a rolling hash looked up in a cuckoo table, word n-grams in
the vocabulary's dict. scipy.sparse and sklearn's transform cost ~0.1 ms a call, too much for
serving one comment; a test checks these numbers against sklearn's own transform.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from itertools import chain, pairwise, repeat
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer

from service.spam.text_signals import SIGNALS, View, view


class FittedBlocks(Protocol):
    """What a fitted `service.spam.features.CommentFeatures` offers this module (a protocol, so
    the two modules do not import each other)."""

    char_: Any
    word_: Any
    name_: Any
    block_starts_: Any
    char_index_: Any
    name_weight: float
    signal_weight: float


_WHITE = re.compile(r"\s\s+")
# sklearn's token_pattern is r"(?u)\b\w+\b"; findall gives the same tokens without the \b tests
# (a greedy run of word characters always starts and ends at a word boundary).
_TOKEN = re.compile(r"\w+")


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


Triples = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


# Character n-grams by rolling hash, in numpy: Python slicing costs ~0.3 µs a gram here, and a
# 100-character comment has ~450 of them. The vocabulary's n-grams are hashed the same way once,
# at fit time; a 64-bit hash makes a false match with an unseen n-gram practically impossible
# (and a test checks the result against sklearn's own transform).
_P = 0x100000001B3
_MASK = (1 << 64) - 1
_LEN_SALT = 0x9E3779B97F4A7C15

HashIndex = tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]


_HASH_BITS = 48
_HASH_MASK = (1 << _HASH_BITS) - 1
# Records transformed in one call at most (callers with more go in chunks): bounds the memory of
# the (n-gram length x characters) hash matrix.
MAX_ROWS = 4096


def hash_index(vec: TfidfVectorizer) -> HashIndex:
    """Sorted 48-bit hashes of a fitted vectorizer's n-grams, and their columns (computed at fit
    time and stored: hashing a vocabulary in Python takes a while)."""
    items = sorted((_seeded_hash(g, 0), j) for g, j in vec.vocabulary_.items())
    hashes = np.asarray([h for h, _ in items], dtype=np.uint64)
    if len(hashes) > 1 and bool((hashes[1:] == hashes[:-1]).any()):
        raise ValueError("two n-grams of the vocabulary share a hash")  # never seen; refuse rather than guess
    return hashes, np.asarray([j for _, j in items], dtype=np.int64)


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


class TfidfTransform:
    """A fitted `CommentFeatures` made ready to transform: what can be computed once is, when a
    model loads (float64 idf, one hash index for the char and name blocks, the block of each
    column). Not persisted.

    Per call it costs a fixed few dozen numpy operations, whatever the batch size, plus the
    per-comment Python that cannot be avoided (folding, regexes, word n-grams).
    """

    def __init__(self, features: FittedBlocks) -> None:
        vecs = (features.char_, features.word_, features.name_)
        if len({bool(v.sublinear_tf) for v in vecs}) != 1 or any(v.norm != "l2" for v in vecs):
            raise ValueError("expected L2-normalised TF-IDF blocks that all share sublinear_tf")
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
        self.char_range: tuple[int, int] = tuple(features.char_.ngram_range)
        self.name_range: tuple[int, int] = tuple(features.name_.ngram_range)
        self.name_start = starts[2]
        char_h, char_c = features.char_index_
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
        included), both blocks and every n at once: a fixed ~40 numpy calls, which is what one
        comment costs."""
        n = len(names)
        docs = [*plains, *names]
        texts = [_WHITE.sub(" ", d) for d in docs]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        codes += np.uint64(1)
        total = len(codes)
        # Where the name documents start, in characters.
        split = sum(map(len, texts[: len(plains)]))
        c_lo, c_hi = self.char_range
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

    def _words(self, lowers: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(row, global column) of the word n-grams of `lowers` found in the vocabulary."""
        lo, hi = self.word_range
        grams = [word_grams(d, lo, hi) for d in lowers]
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        get = self.word_vocab.get
        cols = np.fromiter(map(get, chain.from_iterable(grams), repeat(-1)), dtype=np.int64, count=int(lengths.sum()))
        rows = np.arange(len(lowers), dtype=np.int64).repeat(lengths)
        known = cols >= 0
        return rows[known], cols[known] + self.word_start

    def transform(
        self, rows: Sequence[tuple[str, str, str, bool]]
    ) -> tuple[Triples, npt.NDArray[np.float32], list[View]]:
        """The text blocks of the records as (row, global column, value), ordered by row then
        column; the weighted signals as a dense matrix; each comment's `view` (the explanations
        read the same folded and lower-cased text). At most `MAX_ROWS` records a call."""
        views = [view(*r) for r in rows]
        n = len(views)
        if n > MAX_ROWS:
            raise ValueError(f"at most {MAX_ROWS} comments a call, got {n}")
        plains = [v[2] for v in views]
        names = [v[4] for v in views]
        parts = [self._hashed(plains, names), self._words([v[3] for v in views])]
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
        # sklearn's order of operations: tf (1 + log(count) if sublinear), times idf, L2 per block.
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
