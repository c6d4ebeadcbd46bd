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
from typing import Any

import pyarrow as pa

from pipelines.config import ConfigError
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


def write_splits(out_dir: str, name: str, tables: dict[str, pa.Table]) -> dict[str, str]:
    """``DIR/NAME/SPLIT.parquet`` per split with rows; older files of splits now empty are removed.
    The data_files (relative to DIR) per split written."""
    written: dict[str, str] = {}
    for split in SPLITS:
        path = fs.join(out_dir, name, f"{split}.parquet")
        table = tables.get(split)
        if table is not None and table.num_rows:
            fs.write_parquet(path, table, out_dir)
            written[split] = f"{name}/{split}.parquet"
        elif fs.exists(path):
            fs.delete([path])
    return written


def record(out_dir: str, config_name: str, data_files: dict[str, str], rows: dict[str, int], schema: pa.Schema | None,
           description: str, settings: dict[str, Any], nbytes: dict[str, int] | None = None,
           left_out: dict[str, int] | None = None) -> dict[str, Any]:
    """Add the export to ``manifest.json`` (``exports``: files, rows per split, the rows ``left_out`` by
    reason) and write the card again, which lists it as a config."""
    data = manifest.load(out_dir)
    exports = dict(data.get("exports") or {})
    if data_files:
        exports[config_name] = {"data_files": data_files, "rows": rows, "bytes": nbytes or {}, "description": description,
                                "settings": settings, "left_out": dict(sorted((left_out or {}).items())),
                                "features": card.features_yaml(schema) if schema is not None else None,
                                "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    else:
        exports.pop(config_name, None)
    data["exports"] = exports
    fs.write_json(fs.join(out_dir, "manifest.json"), data, out_dir)
    card.write(out_dir, data)
    return data
