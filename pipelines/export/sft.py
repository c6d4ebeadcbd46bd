"""``reverse-o1 export sft DIR --verified``: the SFT rows as a config of their own, ``sft_verified``.

For a trainer who wants only what was checked, without a ``filter`` in the training script:
``DIR/sft_verified/SPLIT.parquet``, the SFT schema unchanged, the split of each row kept.
"""

from __future__ import annotations

import collections
import sys

import pyarrow as pa

from common.errors import ConfigError
from pipelines.export import files as exports
from pipelines.io import fs
from schemas.arrow import SFT_SCHEMA
from schemas.splits import SPLITS

OPTIONAL = ("truncated",)  # columns a shard written before they existed lacks: read as null
DESCRIPTION = "The SFT rows with `verified = true` only (`reverse-o1 export sft --verified`); columns as `sft`."


def export_sft(out_dir: str, verified: bool) -> int:
    if not verified:
        raise ConfigError("export sft needs --verified (the `sft` config already holds every row)")
    name = "sft_verified"
    required = [c for c in SFT_SCHEMA.names if c not in OPTIONAL]
    shards = exports.checked_shards(out_dir, "sft", required,
                                    "run a command that writes SFT rows (expand, code-cot, lean-cot, tag) into it first")
    rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    left: collections.Counter[str] = collections.Counter()
    for split, row in exports.rows_with_split(shards, "sft", required, optional=OPTIONAL):
        if row.get("verified") is not True:
            left["unverified"] += 1
            continue
        rows[split].append(row)
    tables = {s: pa.Table.from_pylist(sorted(r, key=lambda x: x["id"]), schema=SFT_SCHEMA) for s, r in rows.items()}
    export = exports.Export(name, tables, SFT_SCHEMA, DESCRIPTION, {"verified": verified}, dict(left))
    exports.publish(out_dir, export)
    counts = export.rows()
    total = sum(counts.values())
    print(f"export sft: {total} rows ({', '.join(f'{s} {counts[s]}' for s in SPLITS)}) -> {fs.join(out_dir, name)}"
          + (f"; left out: unverified {left['unverified']}" if left else ""), file=sys.stderr)
    if not total:
        print(f"export sft: no verified rows in {out_dir}: nothing to train on (see the card's 'Verified rows')",
              file=sys.stderr)
    return 0
