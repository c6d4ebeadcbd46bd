"""MinHash signatures and an LSH index for near-duplicate text (Broder 1997; banding as in datatrove's
and NeMo-Curator's fuzzy dedup).

A text's shingles (word ``k``-grams) are hashed to 32-bit integers; the signature is, for each of
``PERMUTATIONS`` multiply-shift hash functions ``((a·x + b) mod 2^64) >> 32`` (Dietzfelbinger's
universal family; ``a`` odd), the minimum over the shingles. The share
of equal entries of two signatures estimates the Jaccard similarity of their shingle sets. The index
cuts a signature into ``BANDS`` bands of ``ROWS`` rows: two texts are candidates when one band is
equal, which happens with probability ``1 - (1 - J^ROWS)^BANDS`` (about 0.5 at J = 0.42 for 32 × 4);
candidates are then kept only when the estimate reaches the threshold. Everything is seeded and
stable across processes (no use of Python's ``hash``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import numpy as np

PERMUTATIONS = 128
BANDS, ROWS = 32, 4
_MAX = (1 << 32) - 1
_rng = np.random.default_rng(20261207)
_A = _rng.integers(1, 1 << 63, PERMUTATIONS, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.integers(0, 1 << 63, PERMUTATIONS, dtype=np.uint64)


def shingle_hash(shingle: str) -> int:
    """A shingle's 32-bit base hash (CRC-32: stable everywhere, and fast; the permutations spread it)."""
    return zlib.crc32(shingle.encode("utf-8"))


def shingles(words: Sequence[str], k: int = 3) -> list[str]:
    """Word ``k``-grams; a text shorter than ``k`` words is one shingle."""
    if len(words) < k:
        return [" ".join(words)] if words else []
    return [" ".join(words[i:i + k]) for i in range(len(words) - k + 1)]


def signature(items: Iterable[str]) -> np.ndarray:
    """The MinHash signature (``PERMUTATIONS`` uint32) of a set of shingles; all-max for an empty set."""
    hashes = np.fromiter({shingle_hash(s) for s in items}, dtype=np.uint64)
    if hashes.size == 0:
        return np.full(PERMUTATIONS, _MAX, dtype=np.uint32)
    with np.errstate(over="ignore"):  # multiply-shift hashing: the products wrap modulo 2^64 on purpose
        values = (hashes[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)
    return values.min(axis=0).astype(np.uint32)


def similarity(left: np.ndarray, right: np.ndarray) -> float:
    """The estimated Jaccard similarity: the share of equal signature entries."""
    return float(np.count_nonzero(left == right)) / len(left)


_BAND_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5], dtype=np.uint64)
_BAND_SALT = np.arange(BANDS, dtype=np.uint64) * np.uint64(0x85EBCA77C2B2AE63)


def band_keys(sig: np.ndarray) -> list[int]:
    """One key per band: its rows mixed into 64 bits with the band's index (vectorised; a collision only
    adds a candidate, which the similarity check then weighs)."""
    with np.errstate(over="ignore"):
        mixed = (sig.reshape(BANDS, ROWS).astype(np.uint64) * _BAND_MIX[:ROWS]).sum(axis=1, dtype=np.uint64) + _BAND_SALT
    return mixed.tolist()


class LSHIndex:
    """Signatures by band; ``query`` gives the first indexed item whose estimate reaches ``threshold``."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.buckets: dict[int, list[int]] = {}
        self.items: list[tuple[str, np.ndarray]] = []

    def query(self, sig: np.ndarray) -> tuple[str, float] | None:
        seen: set[int] = set()
        best: tuple[str, float] | None = None
        for key in band_keys(sig):
            for i in self.buckets.get(key, ()):
                if i in seen:
                    continue
                seen.add(i)
                score = similarity(sig, self.items[i][1])
                if score >= self.threshold and (best is None or score > best[1]):
                    best = (self.items[i][0], score)
        return best

    def add(self, name: str, sig: np.ndarray) -> None:
        index = len(self.items)
        self.items.append((name, sig))
        for key in band_keys(sig):
            self.buckets.setdefault(key, []).append(index)
