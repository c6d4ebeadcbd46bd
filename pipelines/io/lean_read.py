"""Reading Lean inputs into ``LeanTheorem``s: LeanDojo JSON, whole-proof JSONL, traced repos.

By input: a ``.json`` file is a LeanDojo Benchmark array, streamed with ``ijson`` (a 20 MB split
is never loaded whole; a truncated file gives the theorems before the cut and one
``truncated_json`` dead letter); a ``.jsonl`` file holds one whole proof per line (miniF2F
shape); a directory is either a repo traced by ``lean_dojo`` (it holds ``*.trace.xml``) or a
folder whose ``.json``/``.jsonl`` files are all read (``random/train.json``...). A record is
routed by its keys (``traced_tactics`` → LeanDojo, ``formal_proof`` → whole proof), else by its
file. Every record ends as a theorem, a filtered count or a dead letter, never a crash.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import ijson

from pipelines.io import fs, lean_traced
from pipelines.io.dead_letter import DeadLetter
from pipelines.io.read import DEAD, DEFAULT_MAX_RECORD_BYTES, RecordReader, SelectFirst, expand_inputs, jsonl_values
from schemas.lean import LeanTheorem
from schemas.lean_import import LeanImportError, theorem_from_leandojo, theorem_from_whole_proof

SUFFIXES = (".json", ".jsonl")
Order = tuple[int, int]
Item = tuple[Order, LeanTheorem] | DeadLetter | None  # None: a blank line, filtered


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


def _convert(stage: str, value: Any, ref: str, default: str, url: str) -> LeanTheorem | DeadLetter:
    """``url``: the file's URI, for a whole proof that names none (a LeanDojo theorem always does)."""
    try:
        if isinstance(value, dict) and "traced_tactics" in value:
            return theorem_from_leandojo(value, ref)
        if isinstance(value, dict) and "formal_proof" in value:
            return theorem_from_whole_proof(value, ref, url)
        return theorem_from_leandojo(value, ref) if default == "leandojo" else theorem_from_whole_proof(value, ref, url)
    except LeanImportError as exc:
        return DeadLetter.of(stage, exc.reason, ref, str(exc), value)


def _item(stage: str, value: Any, ref: str, default: str, order: Order, url: str) -> Item:
    converted = _convert(stage, value, ref, default, url)
    return converted if isinstance(converted, DeadLetter) else (order, converted)


def iter_json(stage: str, index: int, path: str) -> Iterator[Item]:
    """A LeanDojo JSON array, one theorem at a time (a top-level object is one theorem)."""
    count, url = 0, fs.uri_of(path)
    with fs.open_read(path) as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        handle.seek(0)
        prefix = "item" if head == b"[" else ""
        try:
            for count, value in enumerate(ijson.items(handle, prefix, use_float=True), start=1):
                yield _item(stage, value, f"{path}#{count - 1}", "leandojo", (index, count - 1), url)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            detail = str(exc).replace("\\n", "\n").splitlines()[0].strip(" b'\"")
            reason = ("not_utf8" if "UTF8" in detail or isinstance(exc, UnicodeDecodeError) else
                      "truncated_json" if "premature EOF" in detail or not _closed(handle) else "malformed_json")
            yield DeadLetter.of(stage, reason, f"{path}#{count}", f"after {count} theorems: {detail}")


def _closed(handle: Any) -> bool:
    """Whether the file ends like a whole JSON document (a cut one stops mid-value, e.g. inside an escape)."""
    handle.seek(0, os.SEEK_END)
    handle.seek(max(0, handle.tell() - 64))
    return handle.read().rstrip()[-1:] in (b"]", b"}")


def iter_jsonl(stage: str, index: int, path: str, max_record_bytes: int) -> Iterator[Item]:
    """Whole-proof lines (or LeanDojo theorems, one a line)."""
    url = fs.uri_of(path)
    for number, ref, value in jsonl_values(path, stage, max_record_bytes):
        if value is None or isinstance(value, DeadLetter):
            yield value
        else:
            yield _item(stage, value, ref, "whole_proof", (index, number), url)


def iter_traced(stage: str, index: int, path: str) -> Iterator[Item]:
    for number, got in enumerate(lean_traced.load_traced_theorems(path)):
        yield ((index, number), got) if isinstance(got, LeanTheorem) else DeadLetter.of(stage, "no_tactics", *got)


def iter_source(stage: str, index: int, kind: str, path: str, max_record_bytes: int) -> Iterator[Item]:
    if kind == "traced":
        yield from iter_traced(stage, index, path)
    elif path.endswith(".json"):
        yield from iter_json(stage, index, path)
    else:
        yield from iter_jsonl(stage, index, path, max_record_bytes)


class ReadLeanFn(RecordReader):
    """``(index, kind, path)`` of a Lean source → ``(order, LeanTheorem)`` items."""

    def records(self, element: tuple[int, str, str]) -> Iterator[Item]:
        index, kind, path = element
        return iter_source(self.stage, index, kind, path, self.max_record_bytes)


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
        self.stage, self.max_record_bytes, self.limit = stage, max_record_bytes, limit

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        read = (
            pbegin
            | "Sources" >> beam.Create([(i, kind, path) for i, (kind, path) in enumerate(self.sources)])
            | "ReadLean" >> beam.ParDo(ReadLeanFn(self.stage, self.max_record_bytes, self.limit)).with_outputs(
                DEAD, main="theorems")
        )
        theorems = read.theorems | "Select" >> SelectFirst(self.stage, self.limit, item_order, value=_theorem)
        return {"theorems": theorems, DEAD: read[DEAD]}


def _theorem(item: tuple[Order, LeanTheorem]) -> LeanTheorem:
    return item[1]


def item_order(item: tuple[Order, LeanTheorem]) -> Order:
    return item[0]
