"""Near-duplicate functions removed: MinHash signatures, LSH bands, Jaccard verification.

A function's shingles are its code's token 5-grams (comments and whitespace ignored). Two
functions whose signatures agree on a whole band are candidates; a candidate pair is a
near-duplicate when the Jaccard similarity of their shingle sets is at least ``threshold``.
Near-duplicate pairs are joined into groups (union-find) and each group keeps the function
with the smallest ``function_id`` (repository, commit, path, line, symbol); the rest are
``near_duplicate``. The plain ``dedup_functions`` and the Beam ``Deduplicate`` share every
step, so they drop the same functions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines.stage.kernel import DEAD, Filtered, Stage
from schemas.code import CodeFunction

THRESHOLD = 0.8
NUM_PERM = 64
BANDS = 16
SHINGLE = 5
_PRIME = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)
_rng = np.random.RandomState(20240601)
_A = _rng.randint(1, 1 << 32, size=NUM_PERM, dtype=np.uint64)
_B = _rng.randint(0, 1 << 32, size=NUM_PERM, dtype=np.uint64)
TOKEN = re.compile(r"#[^\n]*|(\w+|[^\w\s])")

FunctionId = tuple[str, str, str, int, str]


def function_id(fn: CodeFunction) -> FunctionId:
    return (fn.repo.uri, fn.repo.commit or "", fn.path, fn.start_line, fn.symbol)


def shingles(code: str, k: int = SHINGLE) -> frozenset[int]:
    """Stable 32-bit hashes of the code's token k-grams (a short function: one shingle of all)."""
    tokens = [m.group(1) for m in TOKEN.finditer(code) if m.group(1)]
    grams = [" ".join(tokens[i:i + k]) for i in range(max(1, len(tokens) - k + 1))]
    return frozenset(int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little") for g in grams)


def minhash(shingle_set: frozenset[int]) -> np.ndarray:
    values = np.fromiter(shingle_set, dtype=np.uint64, count=len(shingle_set)) if shingle_set else np.zeros(1, np.uint64)
    with np.errstate(over="ignore"):
        hashed = (np.outer(values, _A) + _B) % _PRIME & _MAX32
    return hashed.min(axis=0)


def band_keys(signature: np.ndarray, bands: int = BANDS) -> list[str]:
    rows = len(signature) // bands
    return [f"{b}:" + signature[b * rows:(b + 1) * rows].tobytes().hex() for b in range(bands)]


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


Item = tuple[FunctionId, frozenset[int]]


def bucket_edges(members: Iterable[Item], threshold: float = THRESHOLD) -> Iterator[tuple[FunctionId, FunctionId]]:
    """Verified near-duplicate pairs in one LSH bucket: each member (by id) against the bucket's
    representatives so far (greedy, so a bucket of n copies costs n comparisons, not n²)."""
    reps: list[Item] = []
    for fid, sh in sorted(set(members), key=lambda m: m[0]):
        match = next((rid for rid, rsh in reps if jaccard(sh, rsh) >= threshold), None)
        if match is None:
            reps.append((fid, sh))
        else:
            yield match, fid


def dropped_ids(edges: Iterable[tuple[FunctionId, FunctionId]]) -> set[FunctionId]:
    """Every member of a near-duplicate group but its smallest id (union-find over the edges)."""
    parent: dict[FunctionId, FunctionId] = {}

    def find(x: FunctionId) -> FunctionId:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in sorted(set(edges)):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x for x in parent if find(x) != x}


def dedup_functions(functions: list[CodeFunction], threshold: float = THRESHOLD
                    ) -> tuple[list[CodeFunction], list[CodeFunction]]:
    """``(kept, dropped)``, both sorted by ``function_id``."""
    buckets: dict[str, list[Item]] = {}
    for fn in functions:
        for key, item in _bands(fn):
            buckets.setdefault(key, []).append(item)
    edges = [e for key in sorted(buckets) if len(buckets[key]) > 1 for e in bucket_edges(buckets[key], threshold)]
    drop = dropped_ids(edges)
    ordered = sorted(functions, key=function_id)
    return [f for f in ordered if function_id(f) not in drop], [f for f in ordered if function_id(f) in drop]


def _bands(fn: CodeFunction) -> Iterator[tuple[str, Item]]:
    sh = shingles(fn.code)
    for key in band_keys(minhash(sh)):
        yield key, (function_id(fn), sh)


def _edges(bucket: tuple[str, Iterable[Item]], threshold: float) -> Iterator[tuple[FunctionId, FunctionId]]:
    members = list(bucket[1])
    if len(members) > 1:
        yield from bucket_edges(members, threshold)


class KeepUniqueFn(Stage):
    """A function → itself, unless a near-duplicate with a smaller id is kept instead."""

    def run(self, fn: CodeFunction, drop: frozenset[FunctionId] = frozenset()) -> Any:
        return Filtered("near_duplicate") if function_id(fn) in drop else fn


class Deduplicate(beam.PTransform):
    """CodeFunctions → ``{"functions": the same minus near-duplicates, "dead": DeadLetters}`` (stage: read,
    written, filtered ``near_duplicate``)."""

    def __init__(self, stage: str = "dedup", threshold: float = THRESHOLD):
        super().__init__()
        self.stage, self.threshold = stage, threshold

    def expand(self, functions: beam.PCollection) -> beam.PCollection:
        drop = (
            functions
            | "Bands" >> beam.FlatMap(_bands)
            | "Buckets" >> beam.GroupByKey()
            | "Verify" >> beam.FlatMap(_edges, self.threshold)
            | "Edges" >> beam.combiners.ToList()
            | "Groups" >> beam.Map(dropped_ids)
        )
        kept = functions | "Keep" >> beam.ParDo(KeepUniqueFn(self.stage), drop=beam.pvalue.AsSingleton(drop)).with_outputs(
            DEAD, main="kept")
        return {"functions": kept.kept, DEAD: kept[DEAD]}
