"""``reverse-o1 export openrlhf DIR``: the PRM rows as OpenRLHF's process reward dataset.

OpenRLHF's ``train_prm`` (``ProcessRewardDataset``; removed from OpenRLHF after 0.9.5, March
2026) reads ``--input_key`` (a string with ``--placeholder_token`` after each step, tokenized
without special tokens) and ``--label_key`` (a list, one per placeholder: reward tokens such as
``"+"``/``"-"``, or floats for soft labels, which need exactly two ``--reward_tokens``, positive
first). So each line is ``{"input": "PROBLEM Step 1: TEXT ки\\nStep 2: TEXT ки", "value": ["+", "-"],
"id": ...}``: the Math-Shepherd text (``pipelines.export.shepherd``), and with ``--soft`` the soft labels as
``value`` (a step never measured gets its hard label's 1.0 or 0.0, counted on stderr).

The placeholder must be one token of the trainer's tokenizer (OpenRLHF asserts it); ``ки`` is
one for LLaMA and Mistral, two for SmolLM2: ``reverse-o1 tokenizer --extra-token ки`` adds it.
Files: ``DIR/openrlhf/SPLIT.parquet`` (``--dataset DIR/openrlhf/train.parquet``; OpenRLHF reads a local
``.parquet`` as it reads ``.jsonl``, and one format for every config keeps ``load_dataset(DIR, NAME)`` working).
"""

from __future__ import annotations

import collections
import sys
from typing import Any

import pyarrow as pa

from pipelines.export import files as exports
from pipelines.export.shepherd import COLUMNS, skip_reason, to_math_shepherd
from pipelines.io import fs
from schemas.splits import SPLITS

NAME = "openrlhf"
DESCRIPTION = ("OpenRLHF `train_prm` rows: `input` (Math-Shepherd text, ` ки` after each step), `value` (`+`/`-` per "
               "step, or soft labels with `--soft`); `--input_key input --label_key value --placeholder_token ки "
               "--reward_tokens + -`.")


def openrlhf_record(row: dict[str, Any], soft: bool, filled: collections.Counter[str]) -> dict[str, Any]:
    record = to_math_shepherd(row["prompt"], [s or "" for s in row["completions"]], row["labels"], "")
    if not soft:
        value: list[Any] = ["+" if ok else "-" for ok in row["labels"]]
    else:
        softs = row.get("soft_labels") or [None] * len(row["labels"])
        value = []
        for hard, p in zip(row["labels"], softs, strict=True):
            if p is None:
                filled["unmeasured_step_given_its_hard_label"] += 1
            value.append(float(p) if p is not None else (1.0 if hard else 0.0))
    return {"input": record["input"], "value": value, "id": row["id"]}


def export_openrlhf(out_dir: str, soft: bool) -> int:
    shards = exports.checked_shards(out_dir, "prm", COLUMNS, "run `reverse-o1 label` or `expand` into it first")
    lines: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    skipped: collections.Counter[str] = collections.Counter()
    filled: collections.Counter[str] = collections.Counter()
    seen: set[str] = set()
    for split, row in exports.rows_with_split(shards, "prm", COLUMNS, optional=("soft_labels",)):
        reason = skip_reason(row, seen)
        softs = row.get("soft_labels")
        if not reason and soft and softs is not None and len(softs) != len(row["labels"]):
            reason = "soft_length_mismatch"
        if reason:
            skipped[reason] += 1
            continue
        seen.add(row["id"])
        lines[split].append(openrlhf_record(row, soft, filled))
    schema = pa.schema([("input", pa.string()), ("value", pa.list_(pa.float64() if soft else pa.string())), ("id", pa.string())])
    tables = {s: pa.Table.from_pylist(v, schema=schema) for s, v in lines.items()}
    export = exports.Export(NAME, tables, schema, DESCRIPTION, {"soft": soft}, dict(skipped + filled))
    exports.publish(out_dir, export)
    counts = export.rows()
    notes = [f"{reason} {n}" for reason, n in sorted((skipped + filled).items())]
    print(f"export openrlhf: {sum(counts.values())} rows ({', '.join(f'{s} {counts[s]}' for s in SPLITS)}) -> "
          f"{fs.join(out_dir, NAME)}" + (f"; {', '.join(notes)}" if notes else ""), file=sys.stderr)
    return 0
