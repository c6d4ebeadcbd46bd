"""Durable output: Parquet shards and dead-letter JSONL, written as the pipeline goes.

A writer DoFn buffers rows and flushes a shard every ``rows_per_shard`` rows (and at the end
of each bundle) through ``pipelines.io.fs``, so a shard is whole or absent on any filesystem: a
run killed with -9 keeps every flushed shard and the rerun skips those rows. Shard names are
``RUN_ID-HASH.parquet`` where the hash covers the ids they hold, so a retried bundle rewrites the
same file (an idempotent rename or upload), and the launcher finds this run's shards by name.
With ``--test-fraction`` every shard holds one split and says which in its name,
``RUN_ID-HASH.train.parquet`` or ``RUN_ID-HASH.test.parquet`` (``schemas.splits``: whole problems
go to one split), so the card's ``data_files`` can name each split by a glob.

An SFT shard's footer carries its steps per thought factor and source kind
(``reverse_o1.factors``), so the manifest sums footers instead of reading every row.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa

from pipelines.io import fs
from schemas.arrow import SCHEMAS
from schemas.ids import content_id
from schemas.splits import SplitSettings

FACTORS_KEY = "reverse_o1.factors"
VERIFIED_KEY = "reverse_o1.verified"
GENERATION_KEY = "reverse_o1.generation"  # rows per (backend, model, prompt version, verifier | method)
REPORTS = "reports"  # rows with verified=True, for the run's last line without reading rows
UNTAGGED = "(untagged)"


def generation_of(kind: str, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """``[backend, model, prompt_version, verifier (SFT) | method (PRM), rows, verified rows]`` per group."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        gen = row.get("generator") or {}
        how = row.get("verifier") if kind == "sft" else row.get("method")
        counts = groups.setdefault((gen.get("backend"), gen.get("model"), gen.get("prompt_version"), how), [0, 0])
        counts[0] += 1
        counts[1] += row.get("verified") is True
    return [[*key, n, verified] for key, (n, verified) in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def shard_metadata(kind: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Footer metadata: verified rows, who made the rows (``GENERATION_KEY``), and the steps per
    (source kind, factor) of an SFT shard, so the manifest sums footers instead of reading rows."""
    meta = {GENERATION_KEY: json.dumps(generation_of(kind, rows))}
    if "verified" in SCHEMAS[kind].names:
        meta[VERIFIED_KEY] = str(sum(1 for row in rows if row.get("verified") is True))
    if kind != "sft":
        return meta
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        per_kind = counts.setdefault(str(row.get("source_kind")), Counter())
        per_kind.update((UNTAGGED if step.get("factor") is None else step["factor"]) for step in row.get("steps") or [])
    return meta | {FACTORS_KEY: json.dumps({k: dict(v) for k, v in sorted(counts.items())}, sort_keys=True)}


def write_rows(rows: list[dict[str, Any]], kind: str, path: str, tmp_root: str | None = None) -> None:
    table = pa.Table.from_pylist(rows, schema=SCHEMAS[kind])
    fs.write_parquet(path, table, tmp_root, shard_metadata(kind, rows))


class _BufferedWriter(beam.DoFn):
    """Flushes a buffer when it holds ``rows_per_shard`` rows or its first row has waited
    ``flush_seconds``, and every buffer at bundle end. Elements go to one buffer per ``key`` (a shard
    holds one split), each flushed on its own clock."""

    def __init__(self, out_dir: str, rows_per_shard: int, flush_seconds: float = 30.0):
        self.out_dir = out_dir
        self.rows_per_shard = max(1, rows_per_shard)
        self.flush_seconds = flush_seconds

    def prepare(self, element: Any) -> Any:
        """What the buffer holds of an element."""
        return element

    def key(self, element: Any) -> str:
        """Which buffer (and so which file) an element goes to."""
        return ""

    def start_bundle(self) -> None:
        self.buffers: dict[str, list[Any]] = {}
        self.since: dict[str, float] = {}  # when each buffer got its first row

    def process(self, element: Any) -> Iterable[str]:
        item = self.prepare(element)
        key = self.key(item)
        if key not in self.buffers:
            self.buffers[key], self.since[key] = [], time.monotonic()
        self.buffers[key].append(item)
        if len(self.buffers[key]) >= self.rows_per_shard:
            yield from self._flush(key)
        now = time.monotonic()
        for other in [k for k, t in self.since.items() if now - t >= self.flush_seconds]:
            yield from self._flush(other)

    def finish_bundle(self) -> None:
        for key in list(self.buffers):
            self._flush(key)

    def _flush(self, key: str) -> list[str]:
        rows = self.buffers.pop(key, [])
        self.since.pop(key, None)
        return self.flush(rows, key) if rows else []

    def flush(self, rows: list[Any], key: str) -> list[str]:
        """Write ``rows`` (all of one ``key``); the paths written."""
        raise NotImplementedError


class WriteShardFn(_BufferedWriter):
    def __init__(self, out_dir: str, kind: str, prefix: str, rows_per_shard: int, split: SplitSettings | None = None):
        super().__init__(out_dir, rows_per_shard)
        self.kind = kind
        self.prefix = prefix
        self.split = split or SplitSettings()

    def prepare(self, element: Any) -> dict[str, Any]:
        return element.to_dict() if hasattr(element, "to_dict") else element  # typed rows become Arrow here

    def key(self, row: dict[str, Any]) -> str:
        return self.split.split_of(row) if self.split.enabled else ""

    def flush(self, rows: list[dict[str, Any]], key: str) -> list[str]:
        suffix = f".{key}" if key else ""
        name = f"{self.prefix}-{content_id(sorted(r['id'] for r in rows), length=16)}{suffix}.parquet"
        path = fs.join(self.out_dir, self.kind, name)
        write_rows(rows, self.kind, path, self.out_dir)
        return [path]


class WriteDeadLetterFn(_BufferedWriter):
    def __init__(self, out_dir: str, run_id: str, rows_per_shard: int):
        super().__init__(out_dir, rows_per_shard)
        self.run_id = run_id

    def flush(self, letters: list[Any], key: str) -> list[str]:
        lines = [letter.to_json() for letter in letters]
        name = f"{self.run_id}-{content_id(lines, length=12)}.jsonl"
        path = fs.join(self.out_dir, "dead_letter", name)
        fs.write_text(path, "\n".join(lines) + "\n", self.out_dir)
        return [path]


class WriteReportFn(_BufferedWriter):
    def __init__(self, out_dir: str, name: str, run_id: str, rows_per_shard: int):
        super().__init__(out_dir, rows_per_shard)
        self.name, self.run_id = name, run_id

    def flush(self, records: list[Any], key: str) -> list[str]:
        lines = [json.dumps(r, ensure_ascii=False, sort_keys=True, default=str) for r in records]
        path = fs.join(self.out_dir, REPORTS, self.name, f"{self.run_id}-{content_id(lines, length=12)}.jsonl")
        fs.write_text(path, "\n".join(lines) + "\n", self.out_dir)
        return [path]


class WriteReports(beam.PTransform):
    """Records a stage filtered with a ``report`` → ``DIR/reports/NAME/RUN-*.jsonl`` (what was left
    out and why, in more detail than a count: e.g. functions whose own tests fail)."""

    def __init__(self, out_dir: str, name: str, run_id: str, rows_per_shard: int = 256):
        super().__init__()
        self.fn = WriteReportFn(out_dir, name, run_id, rows_per_shard)

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return records | beam.ParDo(self.fn)


class WriteShards(beam.PTransform):
    """Rows of one kind (``SFTRow`` | ``PRMRow``, or their dicts) → Parquet shards ``DIR/KIND/PREFIX-*.parquet``
    (``PREFIX`` is the run id, so the launcher can tell this run's shards from earlier ones);
    with ``split`` enabled, one shard per split, ``PREFIX-HASH.SPLIT.parquet``."""

    def __init__(self, out_dir: str, kind: str, prefix: str, rows_per_shard: int = 64, split: SplitSettings | None = None):
        super().__init__()
        if kind not in SCHEMAS:
            raise ValueError(f"unknown shard kind {kind!r}")
        self.fn = WriteShardFn(out_dir, kind, prefix, rows_per_shard, split)

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | beam.ParDo(self.fn)


class WriteDeadLetters(beam.PTransform):
    """``DeadLetter``s → ``DIR/dead_letter/RUN-*.jsonl``."""

    def __init__(self, out_dir: str, run_id: str, rows_per_shard: int = 256):
        super().__init__()
        self.fn = WriteDeadLetterFn(out_dir, run_id, rows_per_shard)

    def expand(self, letters: beam.PCollection) -> beam.PCollection:
        return letters | beam.ParDo(self.fn)
