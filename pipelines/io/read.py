"""Reading inputs: JSONL, JSON and Parquet files (or folders of them) into raw records.

Every input ends up as a record, a filtered count (blank lines, past ``--limit``) or a dead
letter (unreadable file, non-UTF-8, too large, malformed JSON), never a crash of the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipelines.io import fs
from pipelines.io.dead_letter import DeadLetter
from pipelines.io.stage import DEAD, Filtered, Pending, Stage

SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet")
DEFAULT_MAX_RECORD_BYTES = 1_000_000


@dataclass(frozen=True)
class RawRecord:
    """A decoded input value with where it came from; ``order`` sorts inputs stably.

    ``ref`` is ``path:LINE`` (JSONL) or ``path#INDEX`` (JSON, Parquet), see ``schemas.refs``;
    ``path`` is the file it was read from, given by the reader (never parsed back out of ``ref``).
    """

    ref: str
    value: Any
    order: tuple[int, int]
    path: str


def expand_inputs(inputs: list[str], suffixes: tuple[str, ...] = SUFFIXES) -> list[str]:
    """Files named, matched by a glob, or found (recursively, by ``suffixes``) in named folders,
    on any filesystem Beam knows. A folder's files come folder by folder, each sorted by name.

    A name that matches nothing is kept, so that reading it dead-letters it with a reason.
    """
    files: list[str] = []
    for name in inputs:
        if fs.has_glob(name):
            files.extend([m.path for m in fs.match(name)] or [name])
        elif fs.is_folder(name):
            found = [m.path for m in fs.list_files(name, recursive=True) if m.path.endswith(suffixes)]
            files.extend(sorted(found, key=lambda p: (p.rsplit("/", 1)[0], p.rsplit("/", 1)[-1])))
        else:
            files.append(name)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def decode_json(raw: bytes, ref: str, stage: str) -> Any:
    """The JSON value in ``raw``, or a DeadLetter saying why not (not UTF-8, malformed)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DeadLetter.of(stage, "not_utf8", ref, f"invalid UTF-8 at byte {exc.start}", raw)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return DeadLetter.of(stage, "malformed_json", ref, f"{exc.msg} at column {exc.colno}", raw)
    except RecursionError:
        return DeadLetter.of(stage, "malformed_json", ref, "nested too deeply", raw)


def jsonl_values(path: str, stage: str, max_record_bytes: int) -> Iterator[tuple[int, str, Any]]:
    """``(line number, ref, value)`` per line of a JSONL file; the value is the decoded JSON, a
    DeadLetter (too large, not UTF-8, malformed) or None for a blank line."""
    with fs.open_read(path) as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\r\n")
            ref = f"{path}:{number}"
            if not raw.strip():
                yield number, ref, None
            elif len(raw) > max_record_bytes:
                error = f"line of {len(raw)} bytes exceeds --max-record-bytes {max_record_bytes}"
                yield number, ref, DeadLetter.of(stage, "too_large", ref, error, raw)
            else:
                yield number, ref, decode_json(raw, ref, stage)


class RecordReader(Stage):
    """One input source → its records; each record, blank line or bad line is one read, and an
    unreadable or truncated source is one dead letter for the rest of it. With ``limit``, a source
    stops at its first record past the limit (it alone gives the first N); which N of all sources
    go on is settled by ``SelectFirst``. Subclasses give ``records(element)``."""

    per_item = True

    def __init__(self, stage: str, max_record_bytes: int, limit: int | None):
        super().__init__(stage)
        self.max_record_bytes = max_record_bytes
        self.limit = limit

    def records(self, element: Any) -> Iterator[Any]:
        """Records, ``None`` per blank line, a ``DeadLetter`` per bad one."""
        raise NotImplementedError

    def ref(self, element: tuple) -> str:
        return element[-1]  # the source's path

    def preview(self, element: tuple) -> None:
        return None

    def failure_reason(self, exc: Exception) -> str:
        return "missing_file" if isinstance(exc, FileNotFoundError) else "unreadable_file"

    def run(self, element: Any) -> Iterator[Any]:
        emitted = 0
        for item in self.records(element):
            if item is None:
                yield Filtered("blank_line")
            elif isinstance(item, DeadLetter):
                yield item
            elif self.limit is not None and emitted >= self.limit:
                return
            else:
                emitted += 1
                yield Pending(item)  # written (or beyond --limit) is decided by SelectFirst


class ReadFileFn(RecordReader):
    """``(index, path)`` of a JSONL, JSON or Parquet file → ``RawRecord``s."""

    def records(self, element: tuple[int, str]) -> Iterator[RawRecord | DeadLetter | None]:
        return self._records(*element)

    def _records(self, index: int, path: str) -> Iterator[RawRecord | DeadLetter | None]:
        if path.endswith(".parquet"):
            yield from self._parquet(index, path)
        elif path.endswith(".json"):
            yield from self._json(index, path)
        else:
            yield from self._jsonl(index, path)

    def _jsonl(self, index: int, path: str) -> Iterator[RawRecord | DeadLetter | None]:
        for number, ref, value in jsonl_values(path, self.stage, self.max_record_bytes):
            yield value if value is None or isinstance(value, DeadLetter) else RawRecord(ref, value, (index, number), path)

    def _json(self, index: int, path: str) -> Iterator[RawRecord | DeadLetter]:
        limit = self.max_record_bytes * 1000
        raw = fs.read_bytes(path, limit + 1)
        if len(raw) > limit:
            raise ValueError(f"JSON file of more than {limit} bytes is too large to load whole; use JSONL")
        value = decode_json(raw, path, self.stage)
        if isinstance(value, DeadLetter):
            yield value
            return
        if isinstance(value, dict):  # {"data": [...]}-style wrappers: the one list inside
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if len(lists) == 1 and len(value) == 1 else [value]
        if not isinstance(value, list):
            value = [value]
        for i, item in enumerate(value):
            yield RawRecord(f"{path}#{i}", item, (index, i), path)

    def _parquet(self, index: int, path: str) -> Iterator[RawRecord]:
        number = 0
        with fs.parquet_file(path) as parquet:
            for batch in parquet.iter_batches(batch_size=256):
                for row in batch.to_pylist():
                    yield RawRecord(f"{path}#{number}", row, (index, number), path)
                    number += 1


class ReadRecords(beam.PTransform):
    """Files → ``{"records": RawRecords, "dead": DeadLetters}``.

    With ``limit``, only the first N records (by file order, then position) go on; the rest
    are counted as filtered (``beyond_limit``).
    """

    def __init__(self, inputs: list[str], stage: str = "read", max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 limit: int | None = None):
        super().__init__()
        self.files = expand_inputs(inputs)
        self.stage = stage
        self.max_record_bytes = max_record_bytes
        self.limit = limit

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        read = (
            pbegin
            | "Files" >> beam.Create(list(enumerate(self.files)))
            | "ReadFiles" >> beam.ParDo(ReadFileFn(self.stage, self.max_record_bytes, self.limit)).with_outputs(
                DEAD, main="records"
            )
        )
        records = read.records | "Select" >> SelectFirst(self.stage, self.limit, record_order)
        return {"records": records, DEAD: read[DEAD]}


class FirstNFn(Stage):
    """All items (one list) → the first ``n`` by ``order`` (input file, then position); the rest are
    filtered ``beyond_limit``. Counts reads only with ``count_read`` (else a reader counted them)."""

    per_item = True

    def __init__(self, stage: str, n: int | None, order: Callable[[Any], Any], count_read: bool):
        super().__init__(stage)
        self.n, self.order, self.counts_read = n, order, count_read

    def run(self, items: list[Any]) -> Iterator[Any]:
        for i, item in enumerate(sorted(items, key=self.order)):
            yield item if self.n is None or i < self.n else Filtered("beyond_limit")


class SelectFirst(beam.PTransform):
    """The first ``n`` elements by ``order`` (all of them when ``n`` is None), counted as written in
    ``stage`` (and as read too with ``count_read``); the rest are filtered there as ``beyond_limit``.
    ``value`` maps what goes on (e.g. drops the ordering key); the output is spread over workers."""

    def __init__(self, stage: str, n: int | None, order: Callable[[Any], Any], value: Callable[[Any], Any] | None = None,
                 count_read: bool = False):
        super().__init__()
        self.stage, self.n, self.order, self.value, self.count_read = stage, n, order, value, count_read

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        fn = FirstNFn(self.stage, self.n, self.order, self.count_read)
        if self.n is not None:  # a global choice: all items meet in one list
            items = items | "Order" >> beam.combiners.ToList()
        else:  # every item goes on: each is its own list, no global step
            items = items | "One" >> beam.Map(lambda item: [item])
        items = items | "FirstN" >> beam.ParDo(fn)
        if self.value is not None:
            items = items | "Value" >> beam.Map(self.value)
        return items | "Spread" >> beam.Reshuffle()


def record_order(record: RawRecord) -> tuple[int, int]:
    return record.order
