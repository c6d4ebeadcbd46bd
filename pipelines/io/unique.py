"""One of each key: the first input (by input order) goes on, the others are counted with a reason.

Used where identical inputs must give one row: seeds sharing an id (the later ones are dead
letters, ``duplicate_id``: an annotator's mistake to see) and tag inputs whose content gives the
same row id (the later ones are filtered, ``duplicate``).

The pairs meet in ``BUCKETS`` groups by a stable hash of their key, packed many to a compressed
blob (``pipelines.io.spread``), not one group per key: a runner holds a grouped collection whole,
and Beam's in-memory runner held a million tiny rows grouped by id as 1.5 GB of Python objects. A
group is read twice, keeping only the first value of each key (a million repeats of one line hold
one row). What goes on is spread over workers again.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from pipelines.io.spread import BATCH, Blob, Spread, unpack
from pipelines.stage.kernel import DEAD, Filtered, Rejected, Stage

Order = tuple[int, int]
BUCKETS = 128  # groups the pairs meet in
PENDING_BYTES = 16 << 20  # pickled bytes a worker holds in unsent blobs before it sends them all


def bucket_of(key: Any, buckets: int = BUCKETS) -> int:
    """A stable bucket for ``key`` (the same in every process, unlike ``hash``)."""
    return zlib.crc32(repr(key).encode("utf-8", "backslashreplace")) % buckets


class PackPairsFn(beam.DoFn):
    """``(key, (order, value))`` → ``(bucket, blob of (key, order, value)...)``."""

    def __init__(self, buckets: int = BUCKETS, batch: int = BATCH, pending_bytes: int = PENDING_BYTES):
        self.buckets, self.batch, self.pending_bytes = buckets, batch, pending_bytes

    def start_bundle(self) -> None:
        self.blobs: dict[int, Blob] = {}
        self.size = 0

    def process(self, pair: tuple[Any, tuple[Order, Any]]) -> Iterator[tuple[int, bytes]]:
        key, (order, value) = pair
        bucket = bucket_of(key, self.buckets)
        blob = self.blobs.setdefault(bucket, Blob())
        before = blob.size
        blob.add((key, order, value))
        self.size += blob.size - before
        if blob.full(self.batch):
            self.size -= blob.size
            yield bucket, self.blobs.pop(bucket).pack()
        elif self.size >= self.pending_bytes:
            yield from self._flush()

    def _flush(self) -> Iterator[tuple[int, bytes]]:
        blobs, self.blobs, self.size = self.blobs, {}, 0
        for bucket, blob in blobs.items():
            yield bucket, blob.pack()

    def finish_bundle(self) -> Iterator[Any]:
        for pair in self._flush():
            yield GlobalWindows.windowed_value(pair)


class KeepFirstFn(Stage):
    """``(bucket, [blob, ...])`` → per key, the value first in order; the rest filtered or dead-lettered.

    With ``counts_read=False`` the stage's reads were counted by the step that made the keys."""

    per_item = True

    def __init__(self, stage: str, dead_letter_duplicates: bool, counts_read: bool):
        super().__init__(stage)
        self.dead_letter_duplicates = dead_letter_duplicates
        self.counts_read = counts_read

    def ref(self, element: tuple[int, Any]) -> str:
        return f"bucket {element[0]}"

    def preview(self, element: tuple[int, Any]) -> None:
        return None

    def run(self, element: tuple[int, Iterable[bytes]]) -> Iterator[Any]:
        blobs = list(element[1])  # read twice (compressed: small)
        # first pass: per key, the first value (by order, then place); the others are not kept
        first: dict[Any, tuple[Order, tuple[int, int], Any]] = {}
        repeats = False
        for b, blob in enumerate(blobs):
            for i, (key, order, value) in enumerate(unpack(blob)):
                seen = first.get(key)
                if seen is None or (order, (b, i)) < seen[:2]:
                    first[key] = (order, (b, i), value)
                repeats = repeats or seen is not None
        for _order, _place, value in first.values():
            yield value
        if not repeats:
            return
        # second pass: every other one, filtered or dead-lettered (a million repeats of one line hold one row)
        for b, blob in enumerate(blobs):
            for i, (key, _order, dup) in enumerate(unpack(blob)):
                _first_order, place, value = first[key]
                if place == (b, i):
                    continue
                if self.dead_letter_duplicates:
                    error = f"duplicate id {key!r}; first seen at {getattr(value, 'ref', '')}"
                    yield Rejected("duplicate_id", error, key, ref=getattr(dup, "ref", key))
                else:
                    yield Filtered("duplicate")


class KeepFirst(beam.PTransform):
    """``(key, (order, value))`` pairs → ``{"kept": values, "dead": DeadLetters}``."""

    def __init__(self, stage: str, dead_letter_duplicates: bool = False, counts_read: bool = True,
                 buckets: int = BUCKETS):
        super().__init__()
        self.fn = KeepFirstFn(stage, dead_letter_duplicates, counts_read)
        self.buckets = buckets

    def expand(self, pairs: beam.PCollection) -> dict[str, beam.PCollection]:
        out = (pairs
               | "Pack" >> beam.ParDo(PackPairsFn(self.buckets))
               | "ById" >> beam.GroupByKey()
               | "KeepFirst" >> beam.ParDo(self.fn).with_outputs(DEAD, main="kept"))
        return {"kept": out.kept | "Spread" >> Spread(), DEAD: out[DEAD]}
