"""Reading Lean inputs into ``LeanTheorem``s: LeanDojo JSON, whole-proof JSONL, traced repos.

By input: a ``.json`` file is a LeanDojo Benchmark array, streamed element by element (a 20 MB
split is never loaded whole, nor is one element past ``--max-record-bytes`` or deeper than
``MAX_DEPTH``; a truncated file gives the theorems before the cut and one ``truncated_json``
dead letter); a ``.jsonl`` file holds one whole proof per line (miniF2F
shape); a directory is either a repo traced by ``lean_dojo`` (it holds ``*.trace.xml``) or a
folder whose ``.json``/``.jsonl`` files are all read (``random/train.json``...). A record is
routed by its keys (``traced_tactics`` → LeanDojo, ``formal_proof`` → whole proof), else by its
file. Every record ends as a theorem, a filtered count or a dead letter, never a crash.

Licences (``pipelines.io.licenses``, looked up on the launcher): a file's licence becomes its
theorems' ``dataset_license`` (and, for whole proofs, which are the file's own content, their
``license`` too); a LeanDojo theorem's ``license`` is its repository's (``schemas.provenance.KNOWN_REPOS``),
a traced repo's the licence file at its root. A LeanDojo-format file gets CC-BY-2.0 only where a
licence file or ``REUSE.toml`` beside it says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipelines.io import fs
from pipelines.io.licenses import LicenseFinder, file_licenses
from pipelines.io.read import (
    BLANK,
    DEAD,
    DEFAULT_MAX_RECORD_BYTES,
    MAX_DEPTH,
    UTF8_BOM,
    RecordReader,
    SelectFirst,
    decode_json,
    encoding_letter,
    expand_inputs,
    jsonl_values,
)
from pipelines.sources.lean import traced as lean_traced
from pipelines.stage.dead_letter import DeadLetter
from schemas.lean import LeanTheorem
from schemas.lean_import import LeanImportError, theorem_from_leandojo, theorem_from_whole_proof
from schemas.provenance import source_uri
from schemas.seeds import sniff_encoding

SUFFIXES = (".json", ".jsonl")
Order = tuple[int, int]
Item = tuple[Order, LeanTheorem] | DeadLetter | Any  # or BLANK: a blank line, filtered


def expand_lean_inputs(inputs: list[str]) -> list[tuple[str, str]]:
    """``(kind, path)`` per input: ``traced`` for a traced repo, else ``file`` (folders and globs expanded)."""
    found: list[tuple[str, str]] = []
    for name in inputs:
        if lean_traced.is_traced_repo(name):
            found.append(("traced", name))
        else:
            found.extend(("file", f) for f in expand_inputs([name], SUFFIXES))
    seen: set[tuple[str, str]] = set()
    return [f for f in found if not (f in seen or seen.add(f))]


def _convert(stage: str, value: Any, ref: str, default: str, url: str, license: str | None = None) -> LeanTheorem | DeadLetter:
    """``url``: the file's URI, for a whole proof that names none (a LeanDojo theorem always does);
    ``license``: the file's licence."""
    try:
        if isinstance(value, dict) and "traced_tactics" in value:
            return theorem_from_leandojo(value, ref, license)
        if isinstance(value, dict) and "formal_proof" in value:
            return theorem_from_whole_proof(value, ref, url, license, license)
        if default == "leandojo":
            return theorem_from_leandojo(value, ref, license)
        return theorem_from_whole_proof(value, ref, url, license, license)
    except LeanImportError as exc:
        return DeadLetter.of(stage, exc.reason, ref, str(exc), value)


def _item(stage: str, value: Any, ref: str, default: str, order: Order, url: str, license: str | None = None) -> Item:
    converted = _convert(stage, value, ref, default, url, license)
    return converted if isinstance(converted, DeadLetter) else (order, converted)


_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)  # up to a string's closing quote
_SPECIAL = re.compile(rb'["\[\]{},]')
_SPACE = b" \t\r\n"
CHUNK = 1 << 16


@dataclass(frozen=True)
class Cut:
    """An element skipped unread, or where splitting stopped: a reason and why."""

    reason: str
    error: str


class ArraySplitter:
    """Bytes of a JSON array, fed in chunks, to the bytes of each element (a top-level object is
    one element), with memory bounded by ``max_bytes`` and depth by ``max_depth``: an element
    larger or deeper is skipped as it streams by (``too_large``, ``too_deep``), never held.

    Only strings, brackets and commas are looked at; each element's bytes are then decoded like a
    JSONL line, so a malformed or hostile element is its own dead letter and the rest go on.
    (``ijson`` keeps the path of every open level, so 100k levels took memory quadratic in the
    depth, and its C backend turns a lone surrogate into ``?`` without a word.)
    """

    def __init__(self, max_bytes: int, max_depth: int = MAX_DEPTH):
        self.max_bytes, self.max_depth = max_bytes, max_depth
        self.depth, self.in_string, self.escape = 0, False, False
        self.top: bytes | None = None  # b"[" or b"{" once seen
        self.done = False  # the document closed, or splitting gave up
        self.parts: list[bytes] = []
        self.size = 0
        self.skip: Cut | None = None  # the element being skipped, and why
        self.inside = False  # within the document, where element bytes are kept

    def feed(self, chunk: bytes) -> Iterator[bytes | Cut]:
        """Each element completed in ``chunk`` (bytes or a ``Cut``); after ``done``, nothing more."""
        if self.top is None:
            chunk = chunk.lstrip(_SPACE)
            chunk = chunk[len(UTF8_BOM):].lstrip(_SPACE) if chunk.startswith(UTF8_BOM) else chunk
            if not chunk:
                return
            self.top = chunk[:1]
            if self.top not in (b"[", b"{"):
                self.done = True
                yield Cut("malformed_json", f"not a JSON array or object: starts with {chunk[:20]!r}")
                return
        pos, start = 0, 0
        while pos < len(chunk):
            if self.in_string:
                pos = self._string(chunk, pos)
                continue
            found = _SPECIAL.search(chunk, pos)
            if found is None:
                break
            pos, char = found.end(), found.group()
            if char == b'"':
                self.in_string = True
            elif char in b"[{":
                self.depth += 1
                if self.depth == 1:
                    self.inside, start = True, found.start() if self.top == b"{" else pos
                elif self.depth > self.max_depth and self.skip is None:
                    self.skip = Cut("too_deep", f"nested more than {self.max_depth} levels deep (skipped unread)")
            elif char == b"," and self.depth == 1 and self.top == b"[":
                yield from self._element(chunk[start:found.start()], last=False)
                start = pos
            elif char in b"]}":
                self.depth -= 1
                if self.depth == 0:
                    yield from self._element(chunk[start:pos if self.top == b"{" else found.start()], last=True)
                    self.done, self.inside = True, False
                    if chunk[pos:].strip(_SPACE):
                        yield Cut("malformed_json", "data after the end of the JSON document")
                    return
        if self.inside:
            self._keep(chunk[start:])

    def _string(self, chunk: bytes, pos: int) -> int:
        """Past the string's bytes in ``chunk`` from ``pos`` (an escape may straddle two chunks)."""
        if self.escape:
            self.escape = False
            return pos + 1
        pos = _STRING_BODY.match(chunk, pos).end()
        if pos < len(chunk):
            if chunk[pos] == 0x5C:  # a backslash as the chunk's last byte: it escapes the next one
                self.escape = True
            else:
                self.in_string = False
            pos += 1
        return pos

    def _keep(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.skip is None and self.size > self.max_bytes:
            self.skip = Cut("too_large", f"element of more than {self.max_bytes} bytes exceeds --max-record-bytes "
                                         f"{self.max_bytes} (skipped unread)")
        if self.skip is None:
            self.parts.append(piece)
        else:
            self.parts.clear()

    def _element(self, tail: bytes, last: bool) -> Iterator[bytes | Cut]:
        self._keep(tail)
        raw, skip = b"".join(self.parts), self.skip
        self.parts, self.size, self.skip = [], 0, None
        if skip is not None:
            yield skip
        elif raw.strip(_SPACE) or not last:  # "[]" has no element; "[1,]" has an empty one (malformed)
            yield raw

    def finish(self) -> Cut | None:
        """Why the stream ended too soon, or None when the document was whole."""
        if self.top is None:
            return Cut("malformed_json", "no JSON value (the file is empty)")
        if not self.done:
            return Cut("truncated_json", "premature EOF: the file ends inside the document")
        return None


def iter_json(stage: str, index: int, path: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
              license: str | None = None) -> Iterator[Item]:
    """A LeanDojo JSON array, one theorem at a time (a top-level object is one theorem); each
    element is split off, bounded, and decoded on its own (see ``ArraySplitter``)."""
    count, url = 0, source_uri(path)
    splitter = ArraySplitter(max_record_bytes)
    with fs.open_read(path) as handle:
        chunk = handle.read(CHUNK)
        encoding = sniff_encoding(chunk)
        if encoding is not None:
            yield encoding_letter(stage, path, encoding, chunk)
            return
        while chunk and not splitter.done:
            for piece in splitter.feed(chunk):
                ref = f"{path}#{count}"
                if isinstance(piece, Cut) and piece.reason == "malformed_json":  # splitting stopped: one dead letter
                    yield DeadLetter.of(stage, piece.reason, ref, f"after {count} theorems: {piece.error}")
                    return
                if isinstance(piece, Cut):
                    yield DeadLetter.of(stage, piece.reason, ref, piece.error)
                else:
                    value = decode_json(piece, ref, stage)
                    yield value if isinstance(value, DeadLetter) else _item(stage, value, ref, "leandojo", (index, count), url,
                                                                            license)
                count += 1
            chunk = handle.read(CHUNK)
    cut = splitter.finish()
    if cut is not None:
        yield DeadLetter.of(stage, cut.reason, f"{path}#{count}", f"after {count} theorems: {cut.error}")


def iter_jsonl(stage: str, index: int, path: str, max_record_bytes: int, license: str | None = None) -> Iterator[Item]:
    """Whole-proof lines (or LeanDojo theorems, one a line)."""
    url = source_uri(path)
    for number, ref, value in jsonl_values(path, stage, max_record_bytes):
        if value is BLANK or isinstance(value, DeadLetter):
            yield value
        else:
            yield _item(stage, value, ref, "whole_proof", (index, number), url, license)


def iter_traced(stage: str, index: int, path: str, license: str | None = None) -> Iterator[Item]:
    for number, got in enumerate(lean_traced.load_traced_theorems(path, license)):
        yield ((index, number), got) if isinstance(got, LeanTheorem) else DeadLetter.of(stage, "no_tactics", *got)


def iter_source(stage: str, index: int, kind: str, path: str, max_record_bytes: int,
                license: str | None = None) -> Iterator[Item]:
    if kind == "traced":
        yield from iter_traced(stage, index, path, license)
    elif path.endswith(".json"):
        yield from iter_json(stage, index, path, max_record_bytes, license)
    else:
        yield from iter_jsonl(stage, index, path, max_record_bytes, license)


def source_licenses(sources: list[tuple[str, str]], inputs: list[str]) -> dict[str, str | None]:
    """``{path: licence}`` per Lean source: a file's by ``file_licenses``, a traced repo's from its root."""
    found = file_licenses([path for kind, path in sources if kind == "file"], inputs)
    finder = LicenseFinder()
    found.update({path: finder.folder_license(path) for kind, path in sources if kind == "traced"})
    return found


class ReadLeanFn(RecordReader):
    """``(index, kind, path)`` of a Lean source → ``(order, LeanTheorem)`` items; ``licenses``: per path."""

    def __init__(self, stage: str, max_record_bytes: int, limit: int | None, licenses: dict[str, str | None] | None = None):
        super().__init__(stage, max_record_bytes, limit)
        self.licenses = licenses or {}

    def records(self, element: tuple[int, str, str]) -> Iterator[Item]:
        index, kind, path = element
        return iter_source(self.stage, index, kind, path, self.max_record_bytes, self.licenses.get(path))


class ReadLeanTheorems(beam.PTransform):
    """Lean inputs → ``{"theorems": LeanTheorems, "dead": DeadLetters}``; read = written + filtered + dead.

    A traced repo among the inputs needs ``lean_dojo`` and a toolchain: without them the
    constructor raises ``LeanUnavailable`` (one line) before anything runs. With ``limit``,
    only the first N theorems (input order, then position) go on; the rest are ``beyond_limit``.
    """

    def __init__(self, inputs: list[str], stage: str = "read", max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 limit: int | None = None):
        super().__init__()
        self.sources = expand_lean_inputs(inputs)
        if any(kind == "traced" for kind, _ in self.sources):
            lean_traced.require_toolchain()
        self.licenses = source_licenses(self.sources, inputs)
        self.stage, self.max_record_bytes, self.limit = stage, max_record_bytes, limit

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        read = (
            pbegin
            | "Sources" >> beam.Create([(i, kind, path) for i, (kind, path) in enumerate(self.sources)])
            | "ReadLean" >> beam.ParDo(ReadLeanFn(self.stage, self.max_record_bytes, self.limit, self.licenses)).with_outputs(
                DEAD, main="theorems")
        )
        theorems = read.theorems | "Select" >> SelectFirst(self.stage, self.limit, item_order, value=_theorem)
        return {"theorems": theorems, DEAD: read[DEAD]}


def _theorem(item: tuple[Order, LeanTheorem]) -> LeanTheorem:
    return item[1]


def item_order(item: tuple[Order, LeanTheorem]) -> Order:
    return item[0]
