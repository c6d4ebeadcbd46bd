"""Many small elements through a shuffle, held packed while they wait: ``Spread`` and ``Blob``.

A reader yields all of a file's records from one call on one worker; a Reshuffle after it spreads
them over the workers, and a GroupByKey by id (``KeepFirst``) brings repeats together. On the way
the runner holds the whole collection, and Beam's in-memory runner (the DirectRunner) holds each
grouped element as its own decoded Python object, with its key, timestamp and list: a 13-byte JSONL
line cost about 0.5 KB there, a million of them 0.5 GB, and a million tiny tagged rows 1.5 GB.

Here elements travel in ``Blob``s: pickled one by one, many to a blob, compressed (a tiny record
or row then costs some 10 to 60 bytes), so the runner holds one bytes object per blob. ``Spread``
sends the first ``singles`` elements of each bundle in blobs of one, as a Reshuffle would (a small
input, such as a few seeds for a model, is still spread element by element), and the rest
``batch`` to a blob. Elements are in the global window (batch pipelines); their timestamps are
not kept.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

SINGLES = 256  # per bundle, elements that go in a blob of their own (work for a model is spread finely)
BATCH = 64  # elements per blob after those: few objects for the runner to hold, still small units of work
BLOB_BYTES = 1 << 20  # a blob closes at this many pickled bytes, whatever its count (records may be 1 MB each)


class Blob:
    """Elements pickled as they come, to be packed into one compressed blob (``unpack`` reverses it)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def __len__(self) -> int:
        return len(self.parts)

    def add(self, element: Any) -> None:
        part = pickle.dumps(element, protocol=pickle.HIGHEST_PROTOCOL)
        self.parts.append(part)
        self.size += len(part)

    def full(self, batch: int = BATCH, max_bytes: int = BLOB_BYTES) -> bool:
        return len(self.parts) >= batch or self.size >= max_bytes

    def pack(self) -> bytes:
        return zlib.compress(pickle.dumps(self.parts, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unpack(blob: bytes) -> Iterator[Any]:
    """The elements of a packed ``Blob``, one at a time."""
    for part in pickle.loads(zlib.decompress(blob)):
        yield pickle.loads(part)


def pack(elements: list[Any]) -> bytes:
    blob = Blob()
    for element in elements:
        blob.add(element)
    return blob.pack()


class PackFn(beam.DoFn):
    """Elements → blobs: the bundle's first ``singles`` alone, then up to ``batch`` to a blob."""

    def __init__(self, singles: int = SINGLES, batch: int = BATCH):
        self.singles, self.batch = singles, max(1, batch)

    def start_bundle(self) -> None:
        self.sent = 0
        self.blob = Blob()

    def process(self, element: Any) -> Iterator[bytes]:
        self.blob.add(element)
        if self.sent < self.singles or self.blob.full(self.batch):
            self.sent += 1
            blob, self.blob = self.blob.pack(), Blob()
            yield blob

    def finish_bundle(self) -> Iterator[Any]:
        if len(self.blob):
            blob, self.blob = self.blob.pack(), Blob()
            yield GlobalWindows.windowed_value(blob)


class Spread(beam.PTransform):
    """Elements → the same elements, spread over workers (a Reshuffle), packed while shuffled."""

    def __init__(self, singles: int = SINGLES, batch: int = BATCH):
        super().__init__()
        self.singles, self.batch = singles, batch

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        return (items
                | "Pack" >> beam.ParDo(PackFn(self.singles, self.batch))
                | "Shuffle" >> beam.Reshuffle()
                | "Unpack" >> beam.FlatMap(unpack))
