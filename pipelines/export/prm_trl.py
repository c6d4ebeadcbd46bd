"""``reverse-o1 export prm DIR``: the PRM rows as TRL's stepwise supervision with a label on every step.

The ``prm`` config keeps a null label where nothing measured a step (an ``mcts`` row's rollout
steps, a ``binary`` row's steps after the first error that no probe reached); TRL's ``PRMTrainer``
casts every label to int and cannot take a null. This export writes ``DIR/prm_trl/SPLIT.parquet``
with ``prompt``, ``completions``, ``labels`` (bool, every one measured) and where each row came from,
choosing rows as ``export math-shepherd`` does (``pipelines.export.measured``: ``--method``, default
the measured methods; ``--unmeasured drop|cut``), every row left out counted by reason.
"""

from __future__ import annotations

import sys
from typing import Any

import pyarrow as pa

from pipelines.export import files as exports
from pipelines.export.measured import Selection, Tally, select
from pipelines.export.shepherd import COLUMNS, MEASURED
from pipelines.io import fs
from schemas.arrow import SOURCE_TYPE
from schemas.splits import SPLITS

NAME = "prm_trl"
DESCRIPTION = ("PRM rows for TRL's PRMTrainer (stepwise supervision): `prompt`, `completions`, `labels` (bool, every "
               "step measured: rows with an unmeasured step dropped or cut), with `method`, `id`, `source_kind`, `source`.")
SCHEMA = pa.schema([("prompt", pa.string()), ("completions", pa.list_(pa.string())), ("labels", pa.list_(pa.bool_())),
                    ("method", pa.string()), ("id", pa.string()), ("source_kind", pa.string()), ("source", SOURCE_TYPE)])


def export_prm(out_dir: str, methods: tuple[str, ...] = MEASURED, unmeasured: str = "drop") -> int:
    selection = Selection(tuple(methods), unmeasured)
    columns = [*COLUMNS, "method", "source_kind", "source"]
    shards = exports.checked_shards(out_dir, "prm", COLUMNS, "run `reverse-o1 label` or `expand` into it first")
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    tally = Tally()
    seen: set[str] = set()
    for split, row in exports.rows_with_split(shards, "prm", COLUMNS, optional=tuple(c for c in columns if c not in COLUMNS)):
        chosen = select(row, selection, seen, tally)
        if chosen is not None:
            kept, values = chosen
            rows[split].append({"prompt": kept["prompt"], "completions": [s or "" for s in kept["completions"]],
                                "labels": values, "method": kept.get("method"), "id": kept["id"],
                                "source_kind": kept.get("source_kind"), "source": kept.get("source")})
    tables = {s: pa.Table.from_pylist(sorted(r, key=lambda x: x["id"]), schema=SCHEMA) for s, r in rows.items()}
    settings = {"methods": list(selection.methods), "unmeasured": unmeasured,
                "rows_by_method": dict(sorted(tally.written.items())), "cut_at_unmeasured": tally.cut}
    export = exports.Export(NAME, tables, SCHEMA, DESCRIPTION, settings, dict(tally.left_out))
    exports.publish(out_dir, export)
    counts = export.rows()
    print(f"export prm: {sum(counts.values())} rows of {tally.read} ({', '.join(f'{s} {counts[s]}' for s in SPLITS)}) -> "
          f"{fs.join(out_dir, NAME)} (--method {','.join(selection.methods)}, --unmeasured {unmeasured}); {tally.notes()}",
          file=sys.stderr)
    return 0
