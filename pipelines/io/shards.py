"""Durable output: Parquet shards and dead-letter JSONL, written as the pipeline goes.

A writer DoFn buffers rows and flushes a shard every ``rows_per_shard`` rows (and at the end
of each bundle), writing to ``DIR/.tmp`` and renaming into place, so a shard is either whole
or absent: a run killed with -9 keeps every flushed shard and the rerun skips those rows.
Shard names hash the ids they hold, so a retried bundle rewrites the same file.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.arrow import SCHEMAS
from schemas.ids import content_id

TMP_DIR = ".tmp"


def atomic_write(final_path: str, out_dir: str, write) -> None:
    """Call ``write(tmp_path)`` and rename the result to ``final_path``."""
    tmp_dir = os.path.join(out_dir, TMP_DIR)
    os.makedirs(tmp_dir, exist_ok=True)
    os.makedirs(os.path.dirname(final_path), exist_ok=True)
    tmp = os.path.join(tmp_dir, f"{uuid.uuid4().hex}-{os.path.basename(final_path)}")
    try:
        write(tmp)
        os.replace(tmp, final_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_parquet(rows: list[dict[str, Any]], schema: pa.Schema, path: str, out_dir: str) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    atomic_write(path, out_dir, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


class _BufferedWriter(beam.DoFn):
    """Flushes every ``rows_per_shard`` rows, after ``flush_seconds``, and at bundle end."""

    def __init__(self, out_dir: str, rows_per_shard: int, flush_seconds: float = 30.0):
        self.out_dir = out_dir
        self.rows_per_shard = max(1, rows_per_shard)
        self.flush_seconds = flush_seconds

    def start_bundle(self) -> None:
        self.buffer: list[Any] = []
        self.last_flush = time.monotonic()

    def process(self, element: Any) -> Iterable[str]:
        self.buffer.append(element)
        due = time.monotonic() - self.last_flush >= self.flush_seconds
        if len(self.buffer) >= self.rows_per_shard or due:
            yield self._flush()

    def finish_bundle(self) -> None:
        if self.buffer:
            self._flush()

    def _flush(self) -> str:
        rows, self.buffer = self.buffer, []
        self.last_flush = time.monotonic()
        return self.flush(rows)

    def flush(self, rows: list[Any]) -> str:
        raise NotImplementedError


class WriteShardFn(_BufferedWriter):
    def __init__(self, out_dir: str, kind: str, prefix: str, rows_per_shard: int):
        super().__init__(out_dir, rows_per_shard)
        self.kind = kind
        self.prefix = prefix

    def flush(self, rows: list[dict[str, Any]]) -> str:
        name = f"{self.prefix}-{content_id(sorted(r['id'] for r in rows), length=16)}.parquet"
        path = os.path.join(self.out_dir, self.kind, name)
        write_parquet(rows, SCHEMAS[self.kind], path, self.out_dir)
        return path


class WriteDeadLetterFn(_BufferedWriter):
    def __init__(self, out_dir: str, run_id: str, rows_per_shard: int):
        super().__init__(out_dir, rows_per_shard)
        self.run_id = run_id

    def flush(self, letters: list[Any]) -> str:
        lines = [letter.to_json() for letter in letters]
        name = f"{self.run_id}-{content_id(lines, length=12)}.jsonl"
        path = os.path.join(self.out_dir, "dead_letter", name)

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")

        atomic_write(path, self.out_dir, write)
        return path


class WriteShards(beam.PTransform):
    """Row dicts of one kind (``sft`` | ``prm``) → Parquet shards under ``DIR/KIND/``."""

    def __init__(self, out_dir: str, kind: str, prefix: str, rows_per_shard: int = 64):
        super().__init__()
        if kind not in SCHEMAS:
            raise ValueError(f"unknown shard kind {kind!r}")
        self.fn = WriteShardFn(out_dir, kind, prefix, rows_per_shard)

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | beam.ParDo(self.fn)


class WriteDeadLetters(beam.PTransform):
    """``DeadLetter``s → ``DIR/dead_letter/RUN-*.jsonl``."""

    def __init__(self, out_dir: str, run_id: str, rows_per_shard: int = 256):
        super().__init__()
        self.fn = WriteDeadLetterFn(out_dir, run_id, rows_per_shard)

    def expand(self, letters: beam.PCollection) -> beam.PCollection:
        return letters | beam.ParDo(self.fn)
