"""Resume: what an output directory already holds, and tidying after a finished run."""

from __future__ import annotations

import glob
import os
import shutil
from collections import Counter

import pyarrow.parquet as pq

from pipelines.io.shards import TMP_DIR, write_parquet
from schemas.arrow import SCHEMAS


def shard_files(out_dir: str, kind: str) -> list[str]:
    return sorted(glob.glob(os.path.join(out_dir, kind, "*.parquet")))


def existing_ids(out_dir: str, kind: str) -> set[str]:
    """Ids of rows already written (a shard that can't be read is reported, not trusted)."""
    ids: set[str] = set()
    for path in shard_files(out_dir, kind):
        ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return ids


def prepare(out_dir: str) -> None:
    """Make the layout and drop half-written temporaries left by a killed run."""
    for sub in ("sft", "prm", "dead_letter"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    shutil.rmtree(os.path.join(out_dir, TMP_DIR), ignore_errors=True)


def drop_duplicate_rows(out_dir: str, kind: str) -> int:
    """Rewrite shards so each id appears once (a runner may retry a bundle); rows dropped."""
    seen: Counter[str] = Counter()
    dropped = 0
    for path in shard_files(out_dir, kind):
        table = pq.read_table(path)
        ids = table.column("id").to_pylist()
        keep = [i for i, row_id in enumerate(ids) if not seen[row_id]]
        seen.update(ids)
        if len(keep) < len(ids):
            dropped += len(ids) - len(keep)
            rows = table.take(keep).to_pylist()
            if rows:
                write_parquet(rows, SCHEMAS[kind], path, out_dir)
            else:
                os.remove(path)
    return dropped


def remove_stale_dead_letters(out_dir: str, command: str, run_id: str) -> int:
    """A finished run re-tried every input that earlier runs of ``command`` dead-lettered.

    Their dead-letter files are stale: drop them (other commands' files stay).
    """
    removed = 0
    for path in glob.glob(os.path.join(out_dir, "dead_letter", f"{command}-*.jsonl")):
        if not os.path.basename(path).startswith(run_id + "-"):
            os.remove(path)
            removed += 1
    shutil.rmtree(os.path.join(out_dir, TMP_DIR), ignore_errors=True)
    return removed


def count_rows(out_dir: str, kind: str) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in shard_files(out_dir, kind))


def count_dead_letters(out_dir: str) -> int:
    total = 0
    for path in glob.glob(os.path.join(out_dir, "dead_letter", "*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            total += sum(1 for line in handle if line.strip())
    return total
