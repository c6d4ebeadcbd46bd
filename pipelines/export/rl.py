"""``reverse-o1 export rl DIR``: prompt sets for GRPO/PPO from ``difficulty``'s rows, as TRL's ``GRPOTrainer`` reads them.

``DIR/rl/SPLIT.parquet``, one row per problem: ``prompt`` in conversational form (one user turn: the
problem and the instruction of the ``solve`` prompt, the very prompt the pass rate was measured
with), ``ground_truth`` and ``answer`` (the gold answer: ``GRPOTrainer`` hands every column but
``prompt`` to each reward function as a keyword argument, so ``def reward(completions, ground_truth,
**kw)`` reads it as is), ``pass_rate``, ``k``, ``problem_id`` and where the problem came from; the
split of the difficulty shard the row was read from.

Kept by default: problems the model solved sometimes, 0 < pass_rate < 1 (a group of completions all
right or all wrong has zero advantage in GRPO: no signal); ``--min-pass``/``--max-pass`` set the band
instead (inclusive). Left out, counted in the manifest (``exports.rl.left_out``): ``too_hard`` (below
the band), ``too_easy`` (above it), ``duplicate_problem`` (a problem measured again in another run:
the row of most samples is kept).
"""

from __future__ import annotations

import collections
import sys
from typing import Any

import pyarrow as pa

from common.errors import ConfigError
from generators.difficulty import TEMPLATE, solve_messages
from generators.prompts import template
from pipelines.export import files as exports
from pipelines.io import fs
from schemas.arrow import MESSAGE_TYPE, SOURCE_TYPE
from schemas.splits import SPLITS

NAME = "rl"
KIND = "difficulty"
HINT = "run `reverse-o1 difficulty --input SEEDS --out DIR` into it first"
COLUMNS = ["id", "problem_id", "problem", "answer", "k", "correct", "pass_rate"]
OPTIONAL = ("source_kind", "source")
DESCRIPTION = ("GRPO/PPO prompt sets (TRL GRPOTrainer, as is): `prompt` (conversational: the user's problem and the "
               "instruction), `ground_truth`/`answer` (the gold answer; reward functions get them as keyword arguments), "
               "`pass_rate` of `k` samples (`difficulty`), `problem_id`; problems in the pass-rate band only.")
SCHEMA = pa.schema([("prompt", pa.list_(MESSAGE_TYPE)), ("ground_truth", pa.string()), ("answer", pa.string()),
                    ("pass_rate", pa.float64()), ("k", pa.int64()), ("correct", pa.int64()), ("problem_id", pa.string()),
                    ("id", pa.string()), ("source_kind", pa.string()), ("source", SOURCE_TYPE)])


def band_reason(pass_rate: float, min_pass: float | None, max_pass: float | None) -> str | None:
    """``too_hard``/``too_easy`` for a pass rate outside the band, None inside. Unset bounds: 0 < rate < 1."""
    if (pass_rate < min_pass) if min_pass is not None else pass_rate <= 0.0:
        return "too_hard"
    if (pass_rate > max_pass) if max_pass is not None else pass_rate >= 1.0:
        return "too_easy"
    return None


def check_band(min_pass: float | None, max_pass: float | None) -> None:
    for flag, value in (("--min-pass", min_pass), ("--max-pass", max_pass)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{flag} {value}: a pass rate, between 0 and 1")
    if min_pass is not None and max_pass is not None and min_pass > max_pass:
        raise ConfigError(f"--min-pass {min_pass} is above --max-pass {max_pass}: no problem can be kept")


def rl_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": solve_messages(row["problem"]), "ground_truth": row["answer"], "answer": row["answer"],
            "pass_rate": row["pass_rate"], "k": row["k"], "correct": row["correct"], "problem_id": row["problem_id"],
            "id": row["id"], "source_kind": row.get("source_kind"), "source": row.get("source")}


def export_rl(out_dir: str, min_pass: float | None = None, max_pass: float | None = None) -> int:
    check_band(min_pass, max_pass)
    shards = exports.checked_shards(out_dir, KIND, COLUMNS, HINT)
    best: dict[str, tuple[str, dict[str, Any]]] = {}  # problem_id -> (split, row of most samples)
    left: collections.Counter[str] = collections.Counter()
    read = 0
    for split, row in exports.rows_with_split(shards, KIND, COLUMNS, optional=OPTIONAL):
        read += 1
        key = str(row["problem_id"])
        if key in best:
            left["duplicate_problem"] += 1
            if (row["k"], best[key][1]["id"]) <= (best[key][1]["k"], row["id"]):
                continue
        best[key] = (split, row)
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for split, row in best.values():
        reason = band_reason(float(row["pass_rate"]), min_pass, max_pass)
        if reason:
            left[reason] += 1
        else:
            rows[split].append(rl_row(row))
    tables = {s: pa.Table.from_pylist(sorted(r, key=lambda x: x["problem_id"]), schema=SCHEMA) for s, r in rows.items()}
    settings = {"min_pass": min_pass, "max_pass": max_pass, "prompt_version": template(TEMPLATE).id,
                "band": "0 < pass_rate < 1" if min_pass is None and max_pass is None else
                f"{'> 0' if min_pass is None else f'>= {min_pass}'} and {'< 1' if max_pass is None else f'<= {max_pass}'}"}
    export = exports.Export(NAME, tables, SCHEMA, DESCRIPTION, settings, dict(left))
    exports.publish(out_dir, export)
    counts = export.rows()
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(left.items()))
    splits = ", ".join(f"{s} {counts[s]}" for s in SPLITS)
    print(f"export rl: {sum(counts.values())} prompts of {read} difficulty rows ({splits}) -> {fs.join(out_dir, NAME)} "
          f"(pass rate {settings['band']})" + (f"; left out: {skipped}" if skipped else ""),
          file=sys.stderr)
    return 0
