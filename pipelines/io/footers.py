"""What an output folder holds, from its Parquet shards' footers alone: rows per kind and split,
verified and truncated rows, rows per command (from the shards' names), SFT steps per factor and
source kind, generation settings.

Footers are small ranged reads (on an object store, latency bound): read by a thread pool, folded a
chunk at a time. A shard whose footer cannot be read is set aside (``resume.set_aside``) and left
out, or, where it is whole after all, read again.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from pipelines.io import fs
from pipelines.io.resume import FOOTER_CHUNK, FOOTER_THREADS, KINDS, set_aside, shard_files
from pipelines.io.shards import FACTORS_KEY, GENERATION_KEY, TRUNCATED_KEY, UNTAGGED, VERIFIED_KEY
from schemas.splits import shard_split

log = logging.getLogger(__name__)
# a shard's name: RUN_ID-HASH[.SPLIT].parquet, where RUN_ID is COMMAND-YYYYMMDDTHHMMSS-XXXXXX (``pipelines.runner``)
_SHARD_NAME = re.compile(r"^(?P<command>.+)-\d{8}T\d{6}-[0-9a-f]{6}-[0-9a-f]+(?:\.\w+)?\.parquet$")
UNKNOWN_COMMAND = "(unknown)"


def command_of(shard_name: str) -> str:
    """The command whose run wrote a shard, from its name; ``UNKNOWN_COMMAND`` for a name of another form."""
    match = _SHARD_NAME.match(shard_name)
    return match.group("command") if match else UNKNOWN_COMMAND


@dataclass
class OutputStats:
    """What the directory holds, from the shards' footers: rows per kind and SFT steps per factor."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    verified: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))  # rows with verified=True
    truncated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))  # rows with truncated=True
    # command (from the shards' names) -> "sft_rows" | "sft_verified" | "sft_truncated" | "prm_rows" -> rows
    by_command: dict[str, Counter[str]] = field(default_factory=dict)
    factors: dict[str, Counter[str]] = field(default_factory=dict)  # source kind -> factor -> steps
    shards: int = 0
    splits: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})  # kind -> split -> rows
    split_bytes: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})  # uncompressed
    # kind -> (backend, model, prompt version, verifier | method, "rows" | "verified") -> rows
    generation: dict[str, Counter[tuple[Any, ...]]] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    set_aside: list[dict[str, object]] = field(default_factory=list)  # shards whose footer was damaged
    run_rows: int = 0  # rows in the shards of the run named in ``output_stats``


def output_stats(out_dir: str, run_id: str | None = None) -> OutputStats:
    """Rows, shards and factors from the footers. A shard whose footer cannot be read is set aside
    (recorded with ``run_id``) and left out, or, where it is whole after all, read again."""
    stats = OutputStats()
    paths = [(kind, p) for kind in KINDS for p in shard_files(out_dir, kind)]

    def read_footer(kind_path: tuple[str, str]) -> tuple[str, str, pq.FileMetaData | None]:
        kind, path = kind_path
        try:
            return kind, path, fs.parquet_footer(path)
        except Exception:
            record = set_aside(out_dir, kind, path, run_id)
            if record is not None:
                stats.set_aside.append(record)
                return kind, path, None
            return kind, path, fs.parquet_footer(path)  # whole, or a lasting I/O fault: let it raise

    with ThreadPoolExecutor(FOOTER_THREADS) as pool:  # folded a chunk at a time: 12k footers held at once took 0.6 GB
        for start in range(0, len(paths), FOOTER_CHUNK):
            for kind, path, footer in pool.map(read_footer, paths[start:start + FOOTER_CHUNK]):
                if footer is not None:
                    _fold_footer(stats, kind, path, footer)
                    if run_id and fs.basename(path).startswith(run_id + "-"):
                        stats.run_rows += footer.num_rows
    return stats


def _fold_footer(stats: OutputStats, kind: str, path: str, footer: pq.FileMetaData) -> None:
    stats.shards += 1
    stats.rows[kind] += footer.num_rows
    stats.splits[kind][shard_split(fs.basename(path))] += footer.num_rows
    stats.split_bytes[kind][shard_split(fs.basename(path))] += sum(
        footer.row_group(i).total_byte_size for i in range(footer.num_row_groups))
    verified = _footer_verified(path, footer)
    truncated = _footer_truncated(path, footer)
    stats.verified[kind] += verified
    stats.truncated[kind] += truncated
    per_command = stats.by_command.setdefault(command_of(fs.basename(path)), Counter())
    per_command[f"{kind}_rows"] += footer.num_rows
    if kind == "sft":
        per_command["sft_verified"] += verified
        per_command["sft_truncated"] += truncated
    stats.generation[kind].update(_footer_generation(kind, path, footer))
    if kind == "sft":
        for source_kind, counts in _footer_factors(path, footer).items():
            stats.factors.setdefault(source_kind, Counter()).update(counts)


def _footer_verified(path: str, footer: object) -> int:
    raw = (footer.metadata or {}).get(VERIFIED_KEY.encode())  # type: ignore[attr-defined]
    if raw is not None:
        return int(raw)
    if "verified" not in footer.schema.to_arrow_schema().names:  # type: ignore[attr-defined]
        return 0
    return sum(1 for v in fs.read_parquet(path, columns=["verified"]).column("verified").to_pylist() if v is True)


def _footer_truncated(path: str, footer: object) -> int:
    """Rows with ``truncated`` true: from the footer, else the column (0 for a shard without it)."""
    raw = (footer.metadata or {}).get(TRUNCATED_KEY.encode())  # type: ignore[attr-defined]
    if raw is not None:
        return int(raw)
    if "truncated" not in footer.schema.to_arrow_schema().names:  # type: ignore[attr-defined]
        return 0
    return sum(1 for v in fs.read_parquet(path, columns=["truncated"]).column("truncated").to_pylist() if v is True)


GENERATION_COLUMNS = {"sft": ["generator.backend", "generator.model", "generator.prompt_version", "verifier", "verified"],
                      "prm": ["generator.backend", "generator.model", "generator.prompt_version", "method"],
                      "trees": ["generator.backend", "generator.model", "generator.prompt_version"],
                      "difficulty": ["generator.backend", "generator.model", "generator.prompt_version"]}


def _footer_generation(kind: str, path: str, footer: object) -> Counter[tuple[Any, ...]]:
    """Rows per (backend, model, prompt version, verifier | method) of one shard, and verified rows: from
    its footer (``GENERATION_KEY``), or its columns for a shard written before footers carried it."""
    totals: Counter[tuple[Any, ...]] = Counter()
    raw = (footer.metadata or {}).get(GENERATION_KEY.encode())  # type: ignore[attr-defined]
    if raw is not None:
        for *key, n, verified in json.loads(raw):
            totals[(*key, "rows")] += n
            totals[(*key, "verified")] += verified
        return totals
    try:
        table = fs.read_parquet(path, columns=GENERATION_COLUMNS[kind])
    except Exception as exc:  # a shard of another layout: its rows still count, their makers unknown
        log.warning("cannot read the generators of %s: %s", path, exc)
        return totals
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    while len(cols) < 5:  # PRM rows have no verified column; trees rows neither, nor a method
        cols.append([None] * table.num_rows)
    for backend, model, version, how, verified in zip(*cols, strict=True):
        totals[(backend, model, version, how, "rows")] += 1
        totals[(backend, model, version, how, "verified")] += verified is True
    return totals


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
