"""What every ``reverse-o1 export`` shares: reading a kind's rows with their split, writing one file
per split into ``DIR/NAME/``, and recording the export in the manifest and the card.

An export is a new config of the dataset (``load_dataset(DIR, "pairs_step")``): its files are
``DIR/NAME/SPLIT.EXT``, written whole or not at all (``fs``), the split of a row being the split of
the shard it was read from (``schemas.splits``), so exports keep the dataset's train/test
assignment. A split an earlier export wrote and this one has no rows for is removed, so the card
never names a file of stale rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from common.errors import ConfigError
from pipelines.io import card, fs, manifest
from pipelines.io.resume import shard_files
from schemas.splits import SPLITS, shard_split


def checked_shards(out_dir: str, kind: str, columns: list[str], hint: str) -> list[str]:
    """The shards of ``kind``, each checked by its footer first (not Parquet, cut short, or without
    ``columns``: the user's ``ConfigError``, before anything is written)."""
    if not fs.is_folder(out_dir):
        raise ConfigError(f"{out_dir}: no such directory")
    shards = shard_files(out_dir, kind)
    if not shards:
        raise ConfigError(f"{out_dir}: no {kind.upper()} shards ({kind}/*.parquet); {hint}")
    for path in shards:
        try:
            names = fs.parquet_footer(path).schema.to_arrow_schema().names
        except (OSError, pa.ArrowException) as exc:  # ArrowInvalid: not Parquet; OSError: cannot be read
            raise ConfigError(f"{path}: unreadable {kind.upper()} shard ({type(exc).__name__}: {exc})".splitlines()[0]) from None
        missing = [c for c in columns if c not in names]
        if missing:
            raise ConfigError(f"{path}: unreadable {kind.upper()} shard (no {', '.join(missing)} column)")
    return shards


def rows_with_split(shards: list[str], kind: str, columns: list[str],
                    optional: tuple[str, ...] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(split, row)`` for every row of ``shards``, read batch by batch; ``optional`` columns are read
    where a shard has them (an older shard lacks ``nodes``) and None elsewhere."""
    for path in shards:
        split = shard_split(fs.basename(path))
        try:
            with fs.parquet_file(path) as parquet:
                names = parquet.schema_arrow.names
                wanted = columns + [c for c in optional if c in names]
                for batch in parquet.iter_batches(columns=wanted):
                    for row in batch.to_pylist():
                        yield split, {**dict.fromkeys(optional), **row}
        except (OSError, pa.ArrowException) as exc:  # damaged pages behind a sound footer: which shard, and why
            raise RuntimeError(f"{path}: unreadable {kind.upper()} shard ({type(exc).__name__}: {exc})".splitlines()[0]) from exc


@dataclass(frozen=True)
class Export:
    """One config an export writes: its tables per split and what the card says of it."""

    name: str
    tables: dict[str, pa.Table]
    schema: pa.Schema
    description: str
    settings: dict[str, Any]
    left_out: dict[str, int] = field(default_factory=dict)  # rows that made nothing, by reason

    def rows(self) -> dict[str, int]:
        return {s: self.tables[s].num_rows if s in self.tables else 0 for s in SPLITS}


def _write_splits(out_dir: str, export: Export) -> dict[str, str]:
    """``DIR/NAME/SPLIT.parquet`` per split with rows; older files of splits now empty are removed.
    The data_files (relative to DIR) per split written."""
    written: dict[str, str] = {}
    for split in SPLITS:
        path = fs.join(out_dir, export.name, f"{split}.parquet")
        table = export.tables.get(split)
        if table is not None and table.num_rows:
            fs.write_parquet(path, table, out_dir)
            written[split] = f"{export.name}/{split}.parquet"
        elif fs.exists(path):
            fs.delete([path])
    return written


def publish(out_dir: str, *done: Export) -> dict[str, Any]:
    """Write each export's files, then record them all in ``manifest.json`` (``exports``: files, rows
    and bytes per split, the rows ``left_out`` by reason) and write the card once, which lists each
    as a config (an export without rows is taken off)."""
    files = {export.name: _write_splits(out_dir, export) for export in done}
    data = manifest.load(out_dir)
    entries = dict(data.get("exports") or {})
    for export in done:
        if not files[export.name]:
            entries.pop(export.name, None)
            continue
        entries[export.name] = {
            "data_files": files[export.name], "rows": export.rows(),
            "bytes": {s: t.nbytes for s, t in export.tables.items()}, "description": export.description,
            "settings": export.settings, "left_out": dict(sorted(export.left_out.items())),
            "features": card.features_yaml(export.schema), "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    data["exports"] = entries
    fs.write_json(fs.join(out_dir, "manifest.json"), data, out_dir)
    card.write(out_dir, data)
    return data
