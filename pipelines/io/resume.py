"""Resume: what an output directory already holds, read where the work runs, and tidying after a run.

The ids already written are read by the workers (``ExistingIds``: one task per shard) and reach
the stages as a side input, so the pipeline graph does not grow with the dataset. After a run
the launcher looks only at the shards this run wrote (their names start with its run id) to drop
rows a retried bundle wrote twice, and counts the whole dataset from Parquet footers alone.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import apache_beam as beam

from pipelines.io import fs
from pipelines.io.shards import FACTORS_KEY, UNTAGGED, write_rows

KINDS = ("sft", "prm")
FOOTER_THREADS = 16  # footers are small ranged reads: on an object store, latency bound
log = logging.getLogger(__name__)


def shard_files(out_dir: str, kind: str) -> list[str]:
    return [m.path for m in fs.list_files(fs.join(out_dir, kind), ".parquet")]


def run_shards(out_dir: str, kind: str, run_id: str) -> list[str]:
    return [p for p in shard_files(out_dir, kind) if fs.basename(p).startswith(run_id + "-")]


def shard_ids(path: str) -> frozenset[str]:
    """The ids in one shard; a shard that cannot be read is logged and not trusted (its rows are redone)."""
    try:
        return frozenset(fs.read_parquet(path, columns=["id"]).column("id").to_pylist())
    except Exception as exc:  # truncated or foreign file
        log.warning("resume: cannot read %s (%s: %s); its rows will be redone", path, type(exc).__name__, exc)
        return frozenset()


class UnionFn(beam.CombineFn):
    """Sets of ids → their union (one element per shard, not per id: a million ids are 100 elements)."""

    def create_accumulator(self) -> set[str]:
        return set()

    def add_input(self, acc: set[str], ids: frozenset[str]) -> set[str]:
        acc |= ids
        return acc

    def merge_accumulators(self, accs: Iterator[set[str]]) -> set[str]:
        merged: set[str] = set()
        for acc in accs:
            merged |= acc
        return merged

    def extract_output(self, acc: set[str]) -> frozenset[str]:
        return frozenset(acc)


class ExistingIds(beam.PTransform):
    """The ids under ``DIR/KIND/*.parquet`` as one frozenset, for ``beam.pvalue.AsSingleton``."""

    def __init__(self, out_dir: str, kind: str):
        super().__init__()
        self.folder = fs.join(out_dir, kind)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Folder" >> beam.Create([self.folder])
            | "Shards" >> beam.FlatMap(lambda folder: [m.path for m in fs.list_files(folder, ".parquet")])
            | "Spread" >> beam.Reshuffle()
            | "Ids" >> beam.Map(shard_ids)
            | "Union" >> beam.CombineGlobally(UnionFn())
        )


def prepare(out_dir: str) -> None:
    """Drop half-written local temporaries left by a killed run (object stores have none)."""
    fs.delete_tree(fs.join(out_dir, fs.TMP_DIR))


def drop_duplicate_rows(out_dir: str, kind: str, run_id: str) -> int:
    """Rewrite this run's shards so each id appears once (a runner may retry a bundle with other
    rows in it); rows dropped. Earlier runs' rows were skipped by the stages, so only this run's
    shards can repeat an id."""
    seen: Counter[str] = Counter()
    dropped = 0
    for path in run_shards(out_dir, kind, run_id):
        table = fs.read_parquet(path)
        ids = table.column("id").to_pylist()
        keep = [i for i, row_id in enumerate(ids) if not seen[row_id]]
        seen.update(ids)
        if len(keep) < len(ids):
            dropped += len(ids) - len(keep)
            if keep:
                write_rows(table.take(keep).to_pylist(), kind, path, out_dir)
            else:  # every row repeated an earlier shard's
                fs.delete([path])
    return dropped


def remove_stale_dead_letters(out_dir: str, command: str, run_id: str) -> int:
    """A finished run re-tried every input that earlier runs of ``command`` dead-lettered.

    Their dead-letter files are stale: drop them (other commands' files stay).
    """
    stale = [m.path for m in fs.list_files(fs.join(out_dir, "dead_letter"), ".jsonl")
             if fs.basename(m.path).startswith(command + "-") and not fs.basename(m.path).startswith(run_id + "-")]
    fs.delete(stale)
    prepare(out_dir)
    return len(stale)


@dataclass
class OutputStats:
    """What the directory holds, from the shards' footers: rows per kind and SFT steps per factor."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    factors: dict[str, Counter[str]] = field(default_factory=dict)  # source kind -> factor -> steps
    shards: int = 0


def output_stats(out_dir: str) -> OutputStats:
    stats = OutputStats()
    paths = [(kind, p) for kind in KINDS for p in shard_files(out_dir, kind)]
    with ThreadPoolExecutor(FOOTER_THREADS) as pool:
        footers = list(pool.map(lambda kp: (kp[0], kp[1], fs.parquet_footer(kp[1])), paths))
    for kind, path, footer in footers:
        stats.shards += 1
        stats.rows[kind] += footer.num_rows
        if kind == "sft":
            for source_kind, counts in _footer_factors(path, footer).items():
                stats.factors.setdefault(source_kind, Counter()).update(counts)
    return stats


def _footer_factors(path: str, footer: object) -> dict[str, dict[str, int]]:
    meta = footer.metadata or {}  # type: ignore[attr-defined]
    raw = meta.get(FACTORS_KEY.encode())
    if raw is not None:
        return json.loads(raw)
    return _read_factors(path)  # a shard written before footers carried them


def _read_factors(path: str) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for row in fs.read_parquet(path, columns=["source_kind", "steps"]).to_pylist():
        counts.setdefault(str(row["source_kind"]), Counter()).update(
            (UNTAGGED if s.get("factor") is None else s["factor"]) for s in row["steps"] or [])
    return {k: dict(v) for k, v in counts.items()}


def count_dead_letters(out_dir: str, run_id: str | None = None) -> int:
    """Dead letters in the directory (only this run's files with ``run_id``)."""
    total = 0
    for meta in fs.list_files(fs.join(out_dir, "dead_letter"), ".jsonl"):
        if run_id is None or fs.basename(meta.path).startswith(run_id + "-"):
            total += sum(1 for line in fs.read_bytes(meta.path).splitlines() if line.strip())
    return total


def run_output_stage(out_dir: str, run_id: str) -> dict[str, object]:
    """For a runner that returns no metrics: one ``output`` stage counted from what this run left
    on the filesystem, its shards' rows (written) and its dead letters, so the manifest still adds up."""
    rows = sum(fs.parquet_footer(p).num_rows for kind in KINDS for p in run_shards(out_dir, kind, run_id))
    dead = count_dead_letters(out_dir, run_id)
    return {"read": rows + dead, "written": rows, "filtered": {}, "dead_lettered": dead, "resumed": 0, "stats": {}}
