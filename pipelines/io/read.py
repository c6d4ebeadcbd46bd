"""Reading inputs: JSONL, JSON and Parquet files (or folders of them) into raw records.

Every input ends up as a record, a filtered count (blank lines, past ``--limit``) or a dead
letter (unreadable file, non-UTF-8, too large, malformed JSON), never a crash of the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipelines.io import fs
from pipelines.io.licenses import file_licenses
from pipelines.io.spread import Spread
from pipelines.stage.dead_letter import DeadLetter
from pipelines.stage.kernel import DEAD, Filtered, Pending, Stage
from schemas.seeds import encoding_message, sniff_encoding

SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet")
DEFAULT_MAX_RECORD_BYTES = 1_000_000


@dataclass(frozen=True)
class RawRecord:
    """A decoded input value with where it came from; ``order`` sorts inputs stably.

    ``ref`` is ``path:LINE`` (JSONL) or ``path#INDEX`` (JSON, Parquet), see ``schemas.refs``;
    ``path`` is the file it was read from, given by the reader (never parsed back out of ``ref``);
    ``license`` the file's licence as found beside it (``pipelines.io.licenses``), None when unknown.
    """

    ref: str
    value: Any
    order: tuple[int, int]
    path: str
    license: str | None = None


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


def unknown_suffix(path: str) -> str | None:
    """The suffix of a file named with one that is not a format read here (``.csv``, ``.txt``,
    ``.gz``...), else None: files without a suffix are read as JSONL."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or not suffix.isalnum():
        return None
    return None if f".{suffix.lower()}" in SUFFIXES else f".{suffix}"


class _Blank:
    """A blank line (``None`` is a JSON ``null``, a record like any other)."""

    def __repr__(self) -> str:
        return "BLANK"


BLANK = _Blank()
UTF8_BOM = b"\xef\xbb\xbf"
MAX_DEPTH = 100  # seeds, rows and LeanDojo theorems nest 5 or 6 levels; more is hostile, not data
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # how a lone surrogate gets into a str
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def encoding_letter(stage: str, ref: str, encoding: str, head: bytes) -> DeadLetter:
    """The one dead letter of a whole file in UTF-16/32: ``utf16_input`` (or ``utf32_input``)."""
    family = "utf32" if encoding.startswith("UTF-32") else "utf16"
    return DeadLetter.of(stage, f"{family}_input", ref, encoding_message(encoding) + " (the whole file is skipped)",
                         head[:200])


def check_value(value: Any, strings: bool = True, depth: bool = True) -> tuple[str, str] | None:
    """``(reason, error)`` when a decoded value is hostile, else None: nested deeper than
    ``MAX_DEPTH`` (``too_deep``), a lone surrogate in a string or key (``invalid_unicode``: it
    cannot be written as UTF-8, and replacing it would change the text silently), or an ``id``
    with a NUL or control character (``invalid_id``). Iterative: the value may be 1000 deep."""
    ident = value.get("id") if isinstance(value, dict) else None
    if isinstance(ident, str) and (bad := _CONTROL.search(ident)):
        return "invalid_id", f"id contains the control character U+{ord(bad.group()):04X} (ids must be printable)"
    if not (strings or depth):
        return None
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, level, where = stack.pop()
        if isinstance(item, str):
            if strings and (bad := _SURROGATE.search(item)):
                return "invalid_unicode", (f"lone surrogate \\u{ord(bad.group()):04x} in {where or 'the value'}: "
                                           "not Unicode text (the record is skipped rather than changed)")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth and level > MAX_DEPTH:
            return "too_deep", f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, dict):
            for key, inner in item.items():
                stack.append((key, level, f"a key of {where or 'the object'}"))
                stack.append((inner, level + 1, f"{where}.{key}" if where else str(key)))
        else:
            stack.extend((inner, level + 1, f"{where}[{i}]") for i, inner in enumerate(item))
    return None


def decode_json(raw: bytes, ref: str, stage: str, offset: int | None = None, check: bool = True) -> Any:
    """The JSON value in ``raw``, or a DeadLetter saying why not: not UTF-8 (the byte and where),
    malformed, too deep, or (with ``check``) hostile by ``check_value``. ``offset``: where ``raw``
    starts in its file."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start} of the record" + (f" (byte {offset + exc.start} of the file)" if offset is not None else "")
        error = f"invalid UTF-8: byte 0x{raw[exc.start]:02x} at {where}"
        return DeadLetter.of(stage, "not_utf8", ref, error, raw)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        return DeadLetter.of(stage, "malformed_json", ref, f"{exc.msg} at {where}", raw)
    except RecursionError:
        return DeadLetter.of(stage, "too_deep", ref, f"nested more than {MAX_DEPTH} levels deep", raw)
    except ValueError as exc:  # an integer literal beyond Python's digit limit
        return DeadLetter.of(stage, "malformed_json", ref, str(exc), raw)
    if not check:
        return value
    strings = _SURROGATE_ESCAPE.search(raw) is not None
    deep = raw.count(b"[") + raw.count(b"{") > MAX_DEPTH
    problem = check_value(value, strings, deep)
    return DeadLetter.of(stage, problem[0], ref, problem[1], raw) if problem else value


def _lines(handle: Any, max_bytes: int) -> Iterator[tuple[int, bytes, int]]:
    """``(file offset, line without its newline, its length)``; a line longer than ``max_bytes`` is
    never held whole (a file of one 5 GB line must not be loaded): it comes cut, with its length."""
    start = 0
    while raw := handle.readline(max_bytes + 2):
        size, tail = len(raw), raw
        if size == max_bytes + 2 and not raw.endswith(b"\n"):  # too long: skip the rest unread
            while not tail.endswith(b"\n") and (tail := handle.readline(1 << 20)):
                size += len(tail)
        newline = len(tail) - len(tail.rstrip(b"\r\n"))
        yield start, raw[: max_bytes + 1].rstrip(b"\r\n"), size - newline
        start += size


def jsonl_values(path: str, stage: str, max_record_bytes: int) -> Iterator[tuple[int, str, Any]]:
    """``(line number, ref, value)`` per line of a JSONL file; the value is the decoded JSON, a
    DeadLetter (too large, not UTF-8, malformed...) or ``BLANK`` for a blank line. A file in
    UTF-16/32 is one dead letter (``utf16_input``); a UTF-8 byte order mark is dropped."""
    with fs.open_read(path) as handle:
        for number, (offset, raw, length) in enumerate(_lines(handle, max_record_bytes), start=1):
            if number == 1:
                encoding = sniff_encoding(raw)
                if encoding is not None:
                    yield number, path, encoding_letter(stage, path, encoding, raw)
                    return
                if raw.startswith(UTF8_BOM):
                    raw, offset, length = raw[len(UTF8_BOM):], offset + len(UTF8_BOM), length - len(UTF8_BOM)
            ref = f"{path}:{number}"
            if length > max_record_bytes:
                error = f"line of {length} bytes exceeds --max-record-bytes {max_record_bytes}"
                yield number, ref, DeadLetter.of(stage, "too_large", ref, error, raw)
            elif not raw.strip():
                yield number, ref, BLANK
            else:
                yield number, ref, decode_json(raw, ref, stage, offset)


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
        """Records, ``BLANK`` per blank line, a ``DeadLetter`` per bad one."""
        raise NotImplementedError

    def ref(self, element: tuple) -> str:
        return element[-1]  # the source's path

    def preview(self, element: tuple) -> None:
        return None

    def failure_reason(self, exc: Exception) -> str:
        if isinstance(exc, fs.NotAFileError):
            return "not_a_regular_file"
        return "missing_file" if isinstance(exc, FileNotFoundError) else "unreadable_file"

    def run(self, element: Any) -> Iterator[Any]:
        emitted = 0
        for item in self.records(element):
            if item is BLANK:
                yield Filtered("blank_line")
            elif isinstance(item, DeadLetter):
                yield item
            elif self.limit is not None and emitted >= self.limit:
                return
            else:
                emitted += 1
                yield Pending(item)  # written (or beyond --limit) is decided by SelectFirst


class ReadFileFn(RecordReader):
    """``(index, path)`` of a JSONL, JSON or Parquet file → ``RawRecord``s; ``licenses``: per path."""

    def __init__(self, stage: str, max_record_bytes: int, limit: int | None, licenses: dict[str, str | None] | None = None):
        super().__init__(stage, max_record_bytes, limit)
        self.licenses = licenses or {}

    def records(self, element: tuple[int, str]) -> Iterator[RawRecord | DeadLetter | _Blank]:
        return self._records(*element)

    def _records(self, index: int, path: str) -> Iterator[RawRecord | DeadLetter | _Blank]:
        if (suffix := unknown_suffix(path)) is not None:
            yield DeadLetter.of(self.stage, "unknown_format", fs.uri_of(path),
                                f"{suffix} is not a format reverse-o1 reads (JSONL: .jsonl/.ndjson, JSON: .json, Parquet: "
                                ".parquet); a file without a suffix is read as JSONL")
            return
        if path.endswith(".parquet"):
            yield from self._parquet(index, path)
        elif path.endswith(".json"):
            yield from self._json(index, path)
        else:
            yield from self._jsonl(index, path)

    def _jsonl(self, index: int, path: str) -> Iterator[RawRecord | DeadLetter | _Blank]:
        for number, ref, value in jsonl_values(path, self.stage, self.max_record_bytes):
            yield value if value is BLANK or isinstance(value, DeadLetter) else RawRecord(ref, value, (index, number), path,
                                                                                          self.licenses.get(path))

    def _json(self, index: int, path: str) -> Iterator[RawRecord | DeadLetter]:
        limit = self.max_record_bytes * 1000
        raw = fs.read_bytes(path, limit + 1)
        if len(raw) > limit:
            raise ValueError(f"JSON file of more than {limit} bytes is too large to load whole; use JSONL")
        encoding = sniff_encoding(raw)
        if encoding is not None:
            yield encoding_letter(self.stage, path, encoding, raw)
            return
        offset = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
        strings = _SURROGATE_ESCAPE.search(raw) is not None
        value = decode_json(raw[offset:], path, self.stage, offset, check=False)
        if isinstance(value, DeadLetter):
            yield value
            return
        if isinstance(value, dict):  # {"data": [...]}-style wrappers: the one list inside
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if len(lists) == 1 and len(value) == 1 else [value]
        if not isinstance(value, list):
            value = [value]
        for i, item in enumerate(value):  # a hostile item is its own dead letter, not the whole file's
            ref = f"{path}#{i}"
            problem = check_value(item, strings)
            yield (DeadLetter.of(self.stage, *problem, ref, item) if problem
                   else RawRecord(ref, item, (index, i), path, self.licenses.get(path)))

    def _parquet(self, index: int, path: str) -> Iterator[RawRecord | DeadLetter]:
        number = 0
        with fs.parquet_file(path) as parquet:
            for batch in parquet.iter_batches(batch_size=256):
                for row in batch.to_pylist():  # Arrow strings are UTF-8 and the schema bounds depth: ids only
                    ref = f"{path}#{number}"
                    problem = check_value(row, strings=False, depth=False)
                    yield (DeadLetter.of(self.stage, *problem, ref, row) if problem
                           else RawRecord(ref, row, (index, number), path, self.licenses.get(path)))
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
        self.licenses = file_licenses(self.files, inputs)  # on the launcher, once per folder
        self.stage = stage
        self.max_record_bytes = max_record_bytes
        self.limit = limit

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        read = (
            pbegin
            | "Files" >> beam.Create(list(enumerate(self.files)))
            | "ReadFiles" >> beam.ParDo(ReadFileFn(self.stage, self.max_record_bytes, self.limit, self.licenses)).with_outputs(
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
        return items | "Spread" >> Spread()  # held packed meanwhile: a million small records fit


def record_order(record: RawRecord) -> tuple[int, int]:
    return record.order
