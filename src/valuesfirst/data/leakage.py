"""Eval-set leakage: which eval items share word n-grams with a training corpus.

Text is normalized before n-grams are taken (Unicode NFKC, case-folded, apostrophes removed so "don't" is
one word, every other non-word character a separator), so casing, punctuation and spacing changes do not
hide a copied passage. The default n=8 words follows the common contamination checks (GPT-3 used 13
tokens; 8 words catches shorter copied questions while two unrelated texts sharing 8 words in a row is
rare).

The corpus side is reduced to a sorted array of 64-bit n-gram hashes (8 bytes per distinct n-gram, built
from a stream in chunks, so a corpus never needs to fit in memory as text: 10^8 distinct n-grams take
~0.8 GB). An n-gram hash is a polynomial combination of per-word blake2b hashes; a false match needs a
64-bit collision (~n_corpus / 2^64 per eval n-gram, negligible). The examples reported for a flagged item
are its own n-grams, so no corpus text has to be kept.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LeakageItem", "LeakageReport", "NgramIndex", "check_leakage", "ngram_hashes", "normalize_words"]

_APOSTROPHES = re.compile(r"['\u2019\u02bc]")
_WORD = re.compile(r"\w+")
# Odd 64-bit multiplier for the polynomial combination of word hashes (arithmetic wraps mod 2^64).
_BASE = np.uint64(0x9E3779B97F4A7C15)
# Corpus hashes are merged into the sorted set every this many, bounding the temporary arrays (~8 MB).
_FLUSH = 1 << 20


def normalize_words(text: str) -> list[str]:
    """Words of ``text`` after NFKC, case-folding and punctuation stripping (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WORD.findall(_APOSTROPHES.sub("", folded))


@functools.lru_cache(maxsize=1 << 20)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def ngram_hashes(words: Sequence[str], n: int) -> np.ndarray:
    """uint64 hash of every contiguous word n-gram of ``words`` (empty when fewer than n words)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    count = len(words) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    w = np.fromiter((_word_hash(x) for x in words), dtype=np.uint64, count=len(words))
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _BASE + w[k : k + count]
    return h


@dataclass
class NgramIndex:
    """The set of word n-gram hashes of a corpus.

    n: words per n-gram. hashes: sorted unique uint64. docs: texts read. ngrams: n-grams seen (with repeats).
    """

    n: int
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    docs: int = 0
    ngrams: int = 0

    @classmethod
    def build(cls, texts: Iterable[str], n: int = 8) -> NgramIndex:
        """Stream ``texts`` once; memory is the distinct hashes plus one ~8 MB buffer."""
        index = cls(n=n)
        pending: list[np.ndarray] = []
        size = 0
        for text in texts:
            h = ngram_hashes(normalize_words(text), n)
            index.docs += 1
            index.ngrams += h.size
            if h.size:
                pending.append(h)
                size += h.size
            if size >= _FLUSH:
                index._merge(pending)
                pending, size = [], 0
        index._merge(pending)
        return index

    def _merge(self, parts: list[np.ndarray]) -> None:
        if parts:
            self.hashes = np.unique(np.concatenate([self.hashes, *parts]))

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``hashes`` occur in the corpus."""
        if self.hashes.size == 0 or hashes.size == 0:
            return np.zeros(hashes.shape, dtype=bool)
        pos = np.searchsorted(self.hashes, hashes)
        pos = np.minimum(pos, self.hashes.size - 1)
        return self.hashes[pos] == hashes

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes)


@dataclass(frozen=True)
class LeakageItem:
    """One eval item. shared: distinct n-grams also in the corpus; total: its distinct n-grams;
    examples: up to ``max_examples`` shared n-grams (normalized words), in order of appearance."""

    index: int
    total: int
    shared: int
    examples: list[str]
    flagged: bool


@dataclass(frozen=True)
class LeakageReport:
    n: int
    min_shared: int
    items: list[LeakageItem]

    @property
    def flagged(self) -> list[LeakageItem]:
        return [item for item in self.items if item.flagged]

    def summary(self) -> dict[str, int | float]:
        """Counts; ``too_short`` items have fewer than n words and so can never be flagged."""
        k = len(self.flagged)
        total = len(self.items)
        return {
            "items": total,
            "flagged": k,
            "flagged_rate": k / total if total else 0.0,
            "too_short": sum(1 for item in self.items if item.total == 0),
            "n": self.n,
            "min_shared": self.min_shared,
        }


def check_leakage(
    eval_texts: Sequence[str], index: NgramIndex, *, min_shared: int = 1, max_examples: int = 5
) -> LeakageReport:
    """Compare each eval text's n-grams (index.n words) with the corpus index.

    min_shared: an item is flagged when at least this many of its distinct n-grams occur in the corpus
        (default 1: any shared 8-word run is suspicious). max_examples: shared n-grams listed per item.
    """
    if min_shared < 1:
        raise ValueError(f"min_shared must be >= 1, got {min_shared}")
    items: list[LeakageItem] = []
    for i, text in enumerate(eval_texts):
        words = normalize_words(text)
        h = ngram_hashes(words, index.n)
        _, first = np.unique(h, return_index=True)
        first.sort()  # distinct n-grams, in order of first appearance
        hit = first[index.contains(h[first])]
        examples = [" ".join(words[p : p + index.n]) for p in hit[:max_examples]]
        items.append(
            LeakageItem(
                index=i,
                total=int(first.size),
                shared=int(hit.size),
                examples=examples,
                flagged=int(hit.size) >= min_shared,
            )
        )
    return LeakageReport(n=index.n, min_shared=min_shared, items=items)
