"""Durable output: Parquet shards and dead-letter JSONL, written as the pipeline goes.

A writer DoFn buffers rows and flushes a shard when it holds ``rows_per_shard`` rows (default
50,000) or about ``shard_bytes`` of rows (128 MiB of Arrow data, before compression), whichever
comes first, when its first row has waited too long (``flush_seconds``, 30 s at first, doubled
after each flush on time up to ``MAX_FLUSH_SECONDS``: a slow run keeps what it made without
leaving a file every 30 s), and at the end of each bundle. Every write goes through
``pipelines.io.fs``, so a shard is whole or absent on any filesystem: a run killed with -9 keeps
every flushed shard and the rerun skips those rows. A shard's rows wait as Arrow record batches
(``ShardBuffer``), compact and with their bytes known, not as Python dicts.

Shard names are ``RUN_ID-HASH.parquet`` where the hash covers the ids they hold, so a retried
bundle rewrites the same file (an idempotent rename or upload), and the launcher finds this run's
shards by name. With ``--test-fraction`` every shard holds one split and says which in its name,
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
TRUNCATED_KEY = "reverse_o1.truncated"  # rows with truncated=True (a CoT cut at the token cap, kept)
REPORTS = "reports"  # rows with verified=True, for the run's last line without reading rows
UNTAGGED = "(untagged)"
SHARD_BYTES = 128 << 20  # a shard is flushed at about this many bytes of Arrow data (or rows_per_shard rows)
FLUSH_SECONDS = 30.0  # a buffer's first row waits at most this long, at first ...
MAX_FLUSH_SECONDS = 600.0  # ... then twice as long after each flush on time, up to this
BATCH_ROWS = 8  # rows of a shard's first record batch; later batches are sized from the bytes per row seen
MAX_BATCH_ROWS = 1024


class FooterCounts:
    """What a shard's footer says of its rows, counted as rows arrive: verified and truncated rows, who
    made them (``GENERATION_KEY``) and, for SFT rows, steps per (source kind, factor)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.verified = 0
        self.truncated = 0
        self.groups: dict[tuple[Any, ...], list[int]] = {}
        self.factors: dict[str, Counter[str]] = {}

    def add(self, rows: Iterable[dict[str, Any]]) -> FooterCounts:
        for row in rows:
            gen = row.get("generator") or {}
            how = row.get("verifier") if self.kind == "sft" else row.get("method")
            counts = self.groups.setdefault((gen.get("backend"), gen.get("model"), gen.get("prompt_version"), how), [0, 0])
            counts[0] += 1
            counts[1] += row.get("verified") is True
            self.verified += row.get("verified") is True
            self.truncated += row.get("truncated") is True
            if self.kind == "sft":
                per_kind = self.factors.setdefault(str(row.get("source_kind")), Counter())
                per_kind.update((UNTAGGED if step.get("factor") is None else step["factor"])
                                for step in row.get("steps") or [])
        return self

    def generation(self) -> list[list[Any]]:
        """``[backend, model, prompt_version, verifier (SFT) | method (PRM), rows, verified rows]`` per group."""
        return [[*key, n, verified] for key, (n, verified) in sorted(self.groups.items(), key=lambda kv: str(kv[0]))]

    def metadata(self) -> dict[str, str]:
        meta = {GENERATION_KEY: json.dumps(self.generation())}
        if "verified" in SCHEMAS[self.kind].names:
            meta[VERIFIED_KEY] = str(self.verified)
        if "truncated" in SCHEMAS[self.kind].names:
            meta[TRUNCATED_KEY] = str(self.truncated)
        if self.kind != "sft":
            return meta
        return meta | {FACTORS_KEY: json.dumps({k: dict(v) for k, v in sorted(self.factors.items())}, sort_keys=True)}


def generation_of(kind: str, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """``[backend, model, prompt_version, verifier (SFT) | method (PRM), rows, verified rows]`` per group."""
    return FooterCounts(kind).add(rows).generation()


def shard_metadata(kind: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Footer metadata: verified rows, who made the rows (``GENERATION_KEY``), and the steps per
    (source kind, factor) of an SFT shard, so the manifest sums footers instead of reading rows."""
    return FooterCounts(kind).add(rows).metadata()


def write_rows(rows: list[dict[str, Any]], kind: str, path: str, tmp_root: str | None = None) -> None:
    table = pa.Table.from_pylist(rows, schema=SCHEMAS[kind])
    fs.write_parquet(path, table, tmp_root, shard_metadata(kind, rows))


class ShardBuffer:
    """The rows of one shard to be: Arrow record batches (compact, their bytes known), the rows not
    yet batched, the ids (the shard's name hashes them) and the footer's counts. ``nbytes`` is the
    batches' Arrow bytes plus the pending rows at the bytes per row seen so far."""

    def __init__(self, kind: str, shard_bytes: int = SHARD_BYTES):
        self.kind = kind
        self.shard_bytes = shard_bytes
        self.batches: list[pa.RecordBatch] = []
        self.pending: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.counts = FooterCounts(kind)
        self.batched_bytes = 0
        self.batch_rows = BATCH_ROWS

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        batched = len(self) - len(self.pending)
        return self.batched_bytes + (self.batched_bytes * len(self.pending) // batched if batched else 0)

    def append(self, row: dict[str, Any]) -> None:
        self.ids.append(row["id"])
        self.pending.append(row)
        if len(self.pending) >= self.batch_rows:
            self._batch()

    def _batch(self) -> None:
        if not self.pending:
            return
        batch = pa.RecordBatch.from_pylist(self.pending, schema=SCHEMAS[self.kind])
        self.counts.add(self.pending)
        self.pending = []
        self.batches.append(batch)
        self.batched_bytes += batch.nbytes
        per_row = max(1, self.batched_bytes // (len(self) or 1))
        # a batch holds at most 1/64 of a shard's bytes, so a shard overshoots its bytes by little
        self.batch_rows = max(1, min(MAX_BATCH_ROWS, self.shard_bytes // 64 // per_row))

    def table(self) -> pa.Table:
        self._batch()
        return pa.Table.from_batches(self.batches, schema=SCHEMAS[self.kind])


class _BufferedWriter(beam.DoFn):
    """Flushes a buffer when it holds ``rows_per_shard`` rows or ``shard_bytes`` bytes, or its first
    row has waited the flush interval (``flush_seconds``, doubled after each flush on time up to
    ``MAX_FLUSH_SECONDS``), and every buffer at bundle end. Elements go to one buffer per ``key``
    (a shard holds one split), each flushed on its own clock."""

    def __init__(self, out_dir: str, rows_per_shard: int, flush_seconds: float = FLUSH_SECONDS,
                 shard_bytes: int = SHARD_BYTES):
        self.out_dir = out_dir
        self.rows_per_shard = max(1, rows_per_shard)
        self.flush_seconds = flush_seconds
        self.shard_bytes = max(1, shard_bytes)
        self.interval = flush_seconds  # this instance's (a worker's) interval: it grows across bundles

    def prepare(self, element: Any) -> Any:
        """What the buffer holds of an element."""
        return element

    def key(self, element: Any) -> str:
        """Which buffer (and so which file) an element goes to."""
        return ""

    def new_buffer(self) -> Any:
        """An empty buffer: ``append``, ``len`` and, for a size bound, ``nbytes``."""
        return []

    def start_bundle(self) -> None:
        self.buffers: dict[str, Any] = {}
        self.since: dict[str, float] = {}  # when each buffer got its first row

    def process(self, element: Any) -> Iterable[str]:
        item = self.prepare(element)
        key = self.key(item)
        if key not in self.buffers:
            self.buffers[key], self.since[key] = self.new_buffer(), time.monotonic()
        buffer = self.buffers[key]
        buffer.append(item)
        if len(buffer) >= self.rows_per_shard or getattr(buffer, "nbytes", 0) >= self.shard_bytes:
            yield from self._flush(key)
        now = time.monotonic()
        late = [k for k, t in self.since.items() if now - t >= self.interval]
        if late:
            self.interval = max(self.interval, min(MAX_FLUSH_SECONDS, self.interval * 2))
        for other in late:
            yield from self._flush(other)

    def finish_bundle(self) -> None:
        for key in list(self.buffers):
            self._flush(key)

    def _flush(self, key: str) -> list[str]:
        rows = self.buffers.pop(key, None)
        self.since.pop(key, None)
        return self.flush(rows, key) if rows is not None and len(rows) else []

    def flush(self, rows: Any, key: str) -> list[str]:
        """Write the buffer ``rows`` (all of one ``key``); the paths written."""
        raise NotImplementedError


class WriteShardFn(_BufferedWriter):
    def __init__(self, out_dir: str, kind: str, prefix: str, rows_per_shard: int, split: SplitSettings | None = None,
                 shard_bytes: int = SHARD_BYTES):
        super().__init__(out_dir, rows_per_shard, shard_bytes=shard_bytes)
        self.kind = kind
        self.prefix = prefix
        self.split = split or SplitSettings()

    def prepare(self, element: Any) -> dict[str, Any]:
        return element.to_dict() if hasattr(element, "to_dict") else element  # typed rows become Arrow here

    def key(self, row: dict[str, Any]) -> str:
        return self.split.split_of(row) if self.split.enabled else ""

    def new_buffer(self) -> ShardBuffer:
        return ShardBuffer(self.kind, self.shard_bytes)

    def flush(self, rows: ShardBuffer, key: str) -> list[str]:
        suffix = f".{key}" if key else ""
        name = f"{self.prefix}-{content_id(sorted(rows.ids), length=16)}{suffix}.parquet"
        path = fs.join(self.out_dir, self.kind, name)
        table = rows.table()
        fs.write_parquet(path, table, self.out_dir, rows.counts.metadata())
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
    with ``split`` enabled, one shard per split, ``PREFIX-HASH.SPLIT.parquet``. A shard holds up to
    ``rows_per_shard`` rows and about ``shard_bytes`` bytes, whichever comes first."""

    def __init__(self, out_dir: str, kind: str, prefix: str, rows_per_shard: int = 50_000,
                 split: SplitSettings | None = None, shard_bytes: int = SHARD_BYTES):
        super().__init__()
        if kind not in SCHEMAS:
            raise ValueError(f"unknown shard kind {kind!r}")
        self.fn = WriteShardFn(out_dir, kind, prefix, rows_per_shard, split, shard_bytes)

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | beam.ParDo(self.fn)


class WriteDeadLetters(beam.PTransform):
    """``DeadLetter``s → ``DIR/dead_letter/RUN-*.jsonl``."""

    def __init__(self, out_dir: str, run_id: str, rows_per_shard: int = 256):
        super().__init__()
        self.fn = WriteDeadLetterFn(out_dir, run_id, rows_per_shard)

    def expand(self, letters: beam.PCollection) -> beam.PCollection:
        return letters | beam.ParDo(self.fn)
