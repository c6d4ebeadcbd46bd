"""``reverse-o1 export openrlhf DIR``: the PRM rows as OpenRLHF's process reward dataset.

OpenRLHF's ``train_prm`` (``ProcessRewardDataset``; removed from OpenRLHF after 0.9.5, March
2026) reads ``--input_key`` (a string with ``--placeholder_token`` after each step, tokenized
without special tokens) and ``--label_key`` (a list, one per placeholder: reward tokens such as
``"+"``/``"-"``, or floats for soft labels, which need exactly two ``--reward_tokens``, positive
first). So each line is ``{"input": "PROBLEM Step 1: TEXT ки\\nStep 2: TEXT ки", "value": ["+", "-"],
"id": ...}``: the Math-Shepherd text (``pipelines.export.shepherd``), and with ``--soft`` the soft labels as
``value`` (a step whose soft label is null gets its hard label's 1.0 or 0.0 when that was measured).
Rows are chosen as for math-shepherd (``pipelines.export.measured``): the ``--method`` rows (default
``shepherd,binary``), a row with a step nothing measured dropped or cut (``--unmeasured``), never
filled in. The manifest's ``exports.openrlhf`` records ``settings`` (``methods``, ``unmeasured``, rows
written per method, rows cut, soft values taken from hard labels) and ``left_out`` (rows, by reason).

The placeholder must be one token of the trainer's tokenizer (OpenRLHF asserts it); ``ки`` is
one for LLaMA and Mistral, two for SmolLM2: ``reverse-o1 tokenizer --extra-token ки`` adds it.
Files: ``DIR/openrlhf/SPLIT.parquet`` (``--dataset DIR/openrlhf/train.parquet``; OpenRLHF reads a local
``.parquet`` as it reads ``.jsonl``, and one format for every config keeps ``load_dataset(DIR, NAME)`` working).
"""

from __future__ import annotations

import sys
from typing import Any

import pyarrow as pa

from pipelines.export import files as exports
from pipelines.export.measured import Selection, Tally, select
from pipelines.export.shepherd import COLUMNS, MEASURED, to_math_shepherd
from pipelines.io import fs
from schemas.splits import SPLITS

NAME = "openrlhf"
DESCRIPTION = ("OpenRLHF `train_prm` rows: `input` (Math-Shepherd text, ` ки` after each step), `value` (`+`/`-` per "
               "step, or soft labels with `--soft`); `--input_key input --label_key value --placeholder_token ки "
               "--reward_tokens + -`.")


def openrlhf_record(row: dict[str, Any], values: list[Any], soft: bool) -> dict[str, Any]:
    """One line: the Math-Shepherd text of ``row`` and ``values`` (one measured label per step) as ``value``."""
    text = to_math_shepherd(row["prompt"], [s or "" for s in row["completions"]], [bool(v) for v in values], "")["input"]
    value = [float(v) for v in values] if soft else ["+" if v else "-" for v in values]
    return {"input": text, "value": value, "id": row["id"]}


def export_openrlhf(out_dir: str, soft: bool, methods: tuple[str, ...] = MEASURED, unmeasured: str = "drop") -> int:
    selection = Selection(tuple(methods), unmeasured, soft)
    shards = exports.checked_shards(out_dir, "prm", COLUMNS, "run `reverse-o1 label` or `expand` into it first")
    lines: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    tally = Tally()
    seen: set[str] = set()
    for split, row in exports.rows_with_split(shards, "prm", COLUMNS, optional=("soft_labels", "method")):
        chosen = select(row, selection, seen, tally)
        if chosen is not None:
            lines[split].append(openrlhf_record(*chosen, soft))
    schema = pa.schema([("input", pa.string()), ("value", pa.list_(pa.float64() if soft else pa.string())), ("id", pa.string())])
    tables = {s: pa.Table.from_pylist(v, schema=schema) for s, v in lines.items()}
    settings = {"soft": soft, "methods": list(selection.methods), "unmeasured": unmeasured,
                "rows_by_method": dict(sorted(tally.written.items())), "cut_at_unmeasured": tally.cut,
                "soft_from_hard_label": tally.soft_from_hard}
    export = exports.Export(NAME, tables, schema, DESCRIPTION, settings, dict(tally.left_out))
    exports.publish(out_dir, export)
    counts = export.rows()
    print(f"export openrlhf: {sum(counts.values())} rows of {tally.read} ({', '.join(f'{s} {counts[s]}' for s in SPLITS)}) -> "
          f"{fs.join(out_dir, NAME)} (--method {','.join(selection.methods)}, --unmeasured {unmeasured}); {tally.notes()}",
          file=sys.stderr)
    return 0
