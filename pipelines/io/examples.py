"""Example rows of each config of an output folder, for the dataset card and the report.

``EXAMPLE_ROWS`` rows of a config: the first rows of its first files (of its first split), read a
page at a time, so a large shard costs no more than its first rows. Shown small: strings over
``MAX_CHARS`` characters end in ``… [N more chars]`` and lists keep their first ``MAX_ITEMS``
items; a float that JSON cannot hold (NaN, infinity) is null. Each example is plain JSON.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import posixpath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.io import fs

EXAMPLE_ROWS = 3
MAX_CHARS = 300
MAX_ITEMS = 6
log = logging.getLogger(__name__)


def first_rows(path: str, n: int, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The first ``n`` rows of a Parquet file (only those of ``columns`` it has, where given), read a
    page at a time."""
    with fs.open_read(path) as handle:
        parquet = pq.ParquetFile(pa.PythonFile(handle, mode="r"), buffer_size=1 << 20)
        wanted = [c for c in columns if c in parquet.schema_arrow.names] if columns is not None else None
        for batch in parquet.iter_batches(batch_size=max(1, n), columns=wanted):
            return batch.to_pylist()[:n]
    return []


def shorten(value: Any) -> Any:
    """``value`` small enough to show: long strings cut, long lists cut, non-finite floats null."""
    if isinstance(value, str):
        return value if len(value) <= MAX_CHARS else f"{value[:MAX_CHARS]}… [{len(value) - MAX_CHARS} more chars]"
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [shorten(v) for v in value[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {str(k): shorten(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return shorten(value.decode("utf-8", "replace"))
    return value


def matching(out_dir: str, pattern: str) -> list[str]:
    """The files of ``out_dir`` a config's ``data_files`` entry names (``sft/*.train.parquet``, ``pairs_step/test.parquet``)."""
    folder, name = posixpath.split(pattern)
    return sorted(m.path for m in fs.list_files(fs.join(out_dir, folder) if folder else out_dir, ".parquet")
                  if fnmatch.fnmatchcase(fs.basename(m.path), name))


def config_examples(out_dir: str, data_files: dict[str, str], n: int = EXAMPLE_ROWS) -> list[dict[str, Any]]:
    """``n`` example rows of one config, shortened: from its first split that has files, the first
    rows of its first files (at most ``n`` files read); [] when none can be read."""
    for pattern in data_files.values():
        rows: list[dict[str, Any]] = []
        try:
            for path in matching(out_dir, pattern)[:n]:
                rows += first_rows(path, n - len(rows))
                if len(rows) >= n:
                    break
        except Exception as exc:  # a damaged or missing file: the card goes on with what it has
            log.warning("examples: cannot read %s in %s: %s", pattern, out_dir, exc)
        if rows:
            return [shorten(row) for row in rows]
    return []


def examples(out_dir: str, configs: list[dict[str, Any]], n: int = EXAMPLE_ROWS) -> dict[str, list[dict[str, Any]]]:
    """Config name → its example rows, for every config of ``card.configs`` (``name``, ``data_files``)."""
    return {c["name"]: config_examples(out_dir, c["data_files"], n) for c in configs}
