"""Resume: what an output directory already holds, read where the work runs, and tidying after a run.

The ids already written are read by the workers (``ExistingIds``: one task per shard) and reach
the stages as a side input, so the pipeline graph does not grow with the dataset. After a run
the launcher looks only at the shards this run wrote (their names start with its run id) to drop
rows a retried bundle wrote twice, and counts the whole dataset from Parquet footers alone.

A shard that is not Parquet (cut short by a full disk or a copy, garbage) is set aside, wherever it
is found (by a worker reading ids, by the launcher reading footers): moved to
``DIR/.corrupt/KIND/NAME`` with ``NAME.json`` saying why and which run moved it, so its ids are not
trusted (its rows are redone), nothing reads it as data again, and the run carries on. Its bytes
are read first and parsed in memory: only a file that was read whole and still does not parse is
moved, never one behind a passing I/O fault.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.io import fs
from pipelines.io.shards import REPORTS, write_rows

KINDS = ("sft", "prm", "trees", "difficulty", "summaries")  # trees: expand's search trees; difficulty: pass rates
# per problem; summaries: summarize's summaries of the SFT rows' hidden CoT
CORRUPT_DIR = ".corrupt"  # DIR/.corrupt/KIND/NAME: shards set aside, each with NAME.json
FOOTER_THREADS = 16  # footers are small ranged reads: on an object store, latency bound
FOOTER_CHUNK = 256  # footers read before they are folded into the totals (each holds its whole schema)
log = logging.getLogger(__name__)


def shard_files(out_dir: str, kind: str) -> list[str]:
    return [m.path for m in fs.list_files(fs.join(out_dir, kind), ".parquet")]


def run_shards(out_dir: str, kind: str, run_id: str) -> list[str]:
    return [p for p in shard_files(out_dir, kind) if fs.basename(p).startswith(run_id + "-")]


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).replace("Could not open Parquet input source '<Buffer>': ", "")  # pyarrow's, on a buffer
    line = " ".join(f"{type(exc).__name__}: {text}".split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def set_aside(out_dir: str, kind: str, path: str, run_id: str | None) -> dict[str, object] | None:
    """Move ``path`` to ``DIR/.corrupt/KIND/`` if its bytes, read whole, are not a Parquet file with
    ids; the record written beside it (None: it is whole after all, gone, or its bytes could not be
    read, which proves nothing, so it stays). Copy and delete through ``fs``: works on object stores."""
    try:
        data = fs.read_bytes(path)
    except Exception as exc:  # gone (another worker moved it) or an I/O fault
        if fs.exists(path):
            log.warning("resume: cannot read %s (%s); its rows will be redone", path, _one_line(exc))
        return None
    try:
        pq.read_table(pa.BufferReader(data), columns=["id"])
        return None
    except Exception as exc:  # truncated, garbage, not ours
        reason = _one_line(exc)
    target = fs.join(out_dir, CORRUPT_DIR, kind, fs.basename(path))
    record: dict[str, object] = {"shard": path, "kind": kind, "reason": reason, "moved_to": target, "bytes": len(data),
                                 "run_id": run_id, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    fs.write_bytes(target, data, out_dir)
    fs.write_json(target + ".json", record, out_dir)
    fs.delete([path])
    log.info("resume: set aside %s (%s) as %s; its rows will be redone", path, reason, target)
    return record


def set_aside_records(out_dir: str, run_id: str | None = None) -> list[dict[str, object]]:
    """What ``set_aside`` moved (only ``run_id``'s with it), by shard path."""
    records = []
    for meta in fs.list_files(fs.join(out_dir, CORRUPT_DIR), ".json", recursive=True):
        try:
            record = fs.read_json(meta.path)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and (run_id is None or record.get("run_id") == run_id):
            records.append(record)
    return sorted(records, key=lambda r: str(r.get("shard")))


def shard_ids(path: str, out_dir: str | None = None, kind: str | None = None, run_id: str | None = None) -> frozenset[str]:
    """The ids in one shard. One that cannot be read is not trusted (its rows are redone) and, given
    ``out_dir`` and ``kind``, set aside when it is damaged."""
    try:
        return frozenset(fs.read_parquet(path, columns=["id"]).column("id").to_pylist())
    except Exception as exc:  # truncated or foreign file, or an I/O fault
        if out_dir is None or kind is None:
            log.warning("resume: cannot read %s (%s); its rows will be redone", path, _one_line(exc))
        elif set_aside(out_dir, kind, path, run_id) is None and fs.exists(path):
            log.warning("resume: %s could not be read once (%s) but is whole; its rows will be redone this time",
                        path, _one_line(exc))
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
    """The ids under ``DIR/KIND/*.parquet`` as one frozenset, for ``beam.pvalue.AsSingleton``; a damaged
    shard is set aside (recorded with ``run_id``)."""

    def __init__(self, out_dir: str, kind: str, run_id: str | None = None):
        super().__init__()
        self.out_dir = out_dir
        self.kind = kind
        self.run_id = run_id
        self.folder = fs.join(out_dir, kind)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Folder" >> beam.Create([self.folder])
            | "Shards" >> beam.FlatMap(lambda folder: [m.path for m in fs.list_files(folder, ".parquet")])
            | "Spread" >> beam.Reshuffle()
            | "Ids" >> beam.Map(shard_ids, self.out_dir, self.kind, self.run_id)
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
    # reports of what earlier runs filtered (DIR/reports/NAME/): this run redid those inputs too
    stale += [m.path for m in fs.list_files(fs.join(out_dir, REPORTS), ".jsonl", recursive=True)
              if fs.basename(m.path).startswith(command + "-") and not fs.basename(m.path).startswith(run_id + "-")]
    fs.delete(stale)
    prepare(out_dir)
    return len(stale)


def count_dead_letters(out_dir: str, run_id: str | None = None) -> int:
    """Dead letters in the directory (only this run's files with ``run_id``)."""
    total = 0
    for meta in fs.list_files(fs.join(out_dir, "dead_letter"), ".jsonl"):
        if run_id is None or fs.basename(meta.path).startswith(run_id + "-"):
            total += sum(1 for line in fs.read_bytes(meta.path).splitlines() if line.strip())
    return total


def run_dead_letters(out_dir: str, run_id: str) -> Iterator[dict[str, object]]:
    """This run's dead letters, one dict each."""
    for meta in fs.list_files(fs.join(out_dir, "dead_letter"), ".jsonl"):
        if fs.basename(meta.path).startswith(run_id + "-"):
            for line in fs.read_bytes(meta.path).splitlines():
                if line.strip():
                    yield json.loads(line)
