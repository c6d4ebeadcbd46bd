"""Shards of a sensible size: ``rows_per_shard`` rows (default 50,000) or about ``shard_bytes`` of
Arrow data, whichever comes first; a flush on time waits longer after each; the footers and the
file are what ``write_rows`` makes of the same rows. The bar, through the real CLI: ``tag`` on
20k rows writes at most 2 shards by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipelines.config import RunConfig
from pipelines.io import fs, shards
from pipelines.io.shards import MAX_FLUSH_SECONDS, TRUNCATED_KEY, VERIFIED_KEY, ShardBuffer, WriteShardFn, shard_metadata
from tests.pipelines.helpers import assert_balanced, run, write_jsonl


def sft(i: int, text: str = "x", verified: bool = False, truncated: bool | None = None) -> dict[str, Any]:
    return {"id": f"r{i:06d}", "source_kind": "seed", "source": {"uri": "file:///x"}, "problem": f"P{i}", "answer": "1",
            "steps": [{"text": text, "factor": "Compute"}], "messages": [{"role": "user", "content": f"P{i}"}],
            "verified": verified, "verifier": "none", "verifier_detail": "",
            "generator": {"backend": "rules", "model": "m", "temperature": 0.0, "seed": 0, "prompt_version": "v1"},
            "truncated": truncated}


def written(fn: WriteShardFn, rows: list[dict[str, Any]]) -> list[str]:
    fn.start_bundle()
    paths = [p for row in rows for p in fn.process(row)]
    before = set(paths)
    fn.finish_bundle()
    return paths + sorted({m.path for m in fs.list_files(fs.join(fn.out_dir, fn.kind), ".parquet")} - before)


def test_the_default_is_50k_rows_or_128_mib() -> None:
    assert RunConfig().rows_per_shard == 50_000 and shards.SHARD_BYTES == 128 << 20


def test_a_shard_is_flushed_at_its_bytes_before_its_rows(tmp_path: Path) -> None:
    big = "y" * 10_000  # ~10 KB a row: 64 KiB of rows is 6 or 7 of them
    fn = WriteShardFn(str(tmp_path), "sft", "tag-1", rows_per_shard=50_000, shard_bytes=64 << 10)
    paths = written(fn, [sft(i, big) for i in range(40)])
    tables = [pq.read_table(p) for p in paths]
    assert sum(t.num_rows for t in tables) == 40 and len(paths) >= 5
    for table in tables[:-1]:  # every full shard stops within a row of its bytes
        assert (64 << 10) <= table.nbytes < (64 << 10) + 2 * 10_100
    ids = [i for t in tables for i in t.column("id").to_pylist()]
    assert ids == [f"r{i:06d}" for i in range(40)]  # in order, none lost or repeated


def test_rows_per_shard_still_bounds_a_shard(tmp_path: Path) -> None:
    fn = WriteShardFn(str(tmp_path), "sft", "tag-1", rows_per_shard=7)
    paths = written(fn, [sft(i) for i in range(20)])
    assert [pq.read_metadata(p).num_rows for p in paths] == [7, 7, 6]


def test_a_shard_and_its_footer_are_what_write_rows_makes_of_the_same_rows(tmp_path: Path) -> None:
    rows = [sft(i, verified=i % 3 == 0, truncated=True if i % 5 == 0 else None) for i in range(3000)]
    fn = WriteShardFn(str(tmp_path / "a"), "sft", "tag-1", rows_per_shard=50_000)
    [path] = written(fn, rows)
    shards.write_rows(rows, "sft", str(tmp_path / "b.parquet"))
    mine, theirs = pq.read_table(path), pq.read_table(tmp_path / "b.parquet")
    assert mine.equals(theirs)
    meta = {k.decode(): v.decode() for k, v in pq.read_metadata(path).metadata.items() if k.startswith(b"reverse_o1.")}
    assert meta == shard_metadata("sft", rows)
    assert meta[VERIFIED_KEY] == "1000" and meta[TRUNCATED_KEY] == "600"


def test_a_buffer_holds_arrow_batches_and_knows_its_bytes() -> None:
    buffer = ShardBuffer("sft", shard_bytes=128 << 20)
    for i in range(1000):
        buffer.append(sft(i, "z" * 100))
    assert len(buffer) == 1000 and len(buffer.pending) < shards.MAX_BATCH_ROWS
    assert buffer.batches and buffer.nbytes == pytest.approx(buffer.table().nbytes, rel=0.05)


def test_a_flush_on_time_waits_twice_as_long_the_next_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(shards.time, "monotonic", lambda: clock[0])
    fn = WriteShardFn(str(tmp_path), "sft", "tag-1", rows_per_shard=50_000)
    fn.start_bundle()
    flushed_at = []
    for i in range(4000):  # a slow run: a row every second for over an hour
        clock[0] = float(i)
        if list(fn.process(sft(i))):
            flushed_at.append(i)
    fn.finish_bundle()
    assert flushed_at[:5] == [30, 91, 212, 453, 934]  # 30 s, then 60, 120, 240, 480 s of waiting
    gaps = [b - a for a, b in zip(flushed_at, flushed_at[1:], strict=False)]
    assert max(gaps) <= MAX_FLUSH_SECONDS + 1 and len(flushed_at) <= 10


def test_tag_on_20k_rows_writes_at_most_two_shards_by_default(tmp_path: Path) -> None:
    """The real CLI, default settings, the rule tagger: 20,000 GSM8K-style rows, one or two shards."""
    lines = [{"question": f"What is {i} plus {i + 1}?", "answer": f"Add {i} and {i + 1}.\nThe sum is {2 * i + 1}.\n"
              f"#### {2 * i + 1}"} for i in range(20_000)]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out"
    assert run(["tag", "--input", source, "--column", "answer", "--out", out, "--quiet"]) == 0
    files = sorted((out / "sft").glob("*.parquet"))
    assert 1 <= len(files) <= 2, [f.name for f in files]
    assert sum(pq.read_metadata(f).num_rows for f in files) == 20_000
    data = assert_balanced(out)
    assert data["outputs"]["shards"] == len(files) and data["outputs"]["sft_rows"] == 20_000
    assert data["by_command"] == {"tag": {"sft_rows": 20_000, "sft_truncated": 0, "sft_verified": 0}}
    assert json.loads(pq.read_metadata(files[0]).metadata[b"reverse_o1.generation"])  # footers as before
