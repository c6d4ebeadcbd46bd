"""``reverse-o1 export orm DIR``: outcome-reward rows, one per sampled completion of ``difficulty``.

``DIR/orm/SPLIT.parquet`` in TRL's *unpaired preference* format, conversational, which
``KTOTrainer`` reads as is and which is an outcome reward model's labelled data: ``prompt`` (the
user's turn, the ``solve`` prompt the completion was sampled from), ``completion`` (the assistant's
turn), ``label`` (bool: math-verify's verdict of the final answer it states against the gold one;
no final answer is false). Beside them: ``problem_id``, ``answer`` (the gold answer),
``stated_answer`` (null: none), ``truncated`` (cut at the token cap), ``pass_rate`` of the problem,
and the row's ``id``. Every completion of every problem is kept (grouped by problem, in sampling
order), in the split of its shard.
"""

from __future__ import annotations

import sys
from typing import Any

import pyarrow as pa

from generators.difficulty import TEMPLATE, solve_messages
from generators.prompts import template
from pipelines.export import files as exports
from pipelines.export.rl import HINT, KIND
from pipelines.io import fs
from schemas.arrow import MESSAGE_TYPE, SOURCE_TYPE
from schemas.ids import content_id
from schemas.splits import SPLITS

NAME = "orm"
COLUMNS = ["id", "problem_id", "problem", "answer", "pass_rate", "completions", "answers", "outcomes", "truncated"]
OPTIONAL = ("source_kind", "source")
DESCRIPTION = ("Outcome-reward rows (TRL unpaired preference, conversational; KTOTrainer reads them as is): `prompt` "
               "(the user's problem), `completion` (one sampled assistant answer of `difficulty`), `label` (bool: "
               "math-verify's verdict against the gold `answer`), `problem_id`, `stated_answer`, `truncated`, `pass_rate`.")
SCHEMA = pa.schema([("prompt", pa.list_(MESSAGE_TYPE)), ("completion", pa.list_(MESSAGE_TYPE)), ("label", pa.bool_()),
                    ("problem_id", pa.string()), ("answer", pa.string()), ("stated_answer", pa.string()),
                    ("truncated", pa.bool_()), ("pass_rate", pa.float64()), ("id", pa.string()), ("difficulty_id", pa.string()),
                    ("source_kind", pa.string()), ("source", SOURCE_TYPE)])


def orm_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per completion of a difficulty row."""
    prompt = solve_messages(row["problem"])
    cut = row.get("truncated") or []
    return [{"prompt": prompt, "completion": [{"role": "assistant", "content": text}], "label": bool(outcome),
             "problem_id": row["problem_id"], "answer": row["answer"], "stated_answer": stated,
             "truncated": bool(cut[i]) if i < len(cut) else None, "pass_rate": row["pass_rate"],
             "id": content_id(NAME, row["id"], i), "difficulty_id": row["id"], "source_kind": row.get("source_kind"),
             "source": row.get("source")}
            for i, (text, stated, outcome) in enumerate(zip(row["completions"], row["answers"], row["outcomes"], strict=True))]


def export_orm(out_dir: str) -> int:
    shards = exports.checked_shards(out_dir, KIND, COLUMNS, HINT)
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    problems = 0
    for split, row in exports.rows_with_split(shards, KIND, COLUMNS, optional=OPTIONAL):
        problems += 1
        rows[split] += orm_rows(row)
    tables = {s: pa.Table.from_pylist(sorted(r, key=lambda x: (x["problem_id"], x["difficulty_id"])), schema=SCHEMA)
              for s, r in rows.items()}
    export = exports.Export(NAME, tables, SCHEMA, DESCRIPTION, {"prompt_version": template(TEMPLATE).id})
    exports.publish(out_dir, export)
    counts = export.rows()
    correct = sum(sum(t.column("label").to_pylist()) for t in tables.values())
    total = sum(counts.values())
    print(f"export orm: {total} completions of {problems} problems, {correct} labelled true "
          f"({', '.join(f'{s} {counts[s]}' for s in SPLITS)}) -> {fs.join(out_dir, NAME)}", file=sys.stderr)
    return 0
