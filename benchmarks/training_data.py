"""training_data: what the trainer-facing output costs, measured side by side in one run.

- ``split_overhead``: wall time of ``reverse-o1 tag`` (rule tagger, no model) on the same rows
  with ``--test-fraction 0.1`` ÷ without (one shard per split per flush, the split hashed per row,
  a card with ``dataset_info``); both runs pay Beam's start-up alike.
- ``pairs_export``: rows per second of ``export pairs --kind step`` over PRM shards with trees, and
  its time ÷ the time to read the same columns with pyarrow alone (the pairing's own cost).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.report import Report
from pipelines.config import RunConfig
from pipelines.export.pairs import PRM_COLUMNS, export_pairs
from pipelines.runner import run_command
from pipelines.tag import build_tag
from schemas.arrow import PRM_SCHEMA
from schemas.ids import content_id


def _cot_rows(path: str, count: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            cot = f"First, {i} + 2 = {i + 2}.\nThen double it: {2 * (i + 2)}.\nSo the answer is {2 * (i + 2)}."
            handle.write(json.dumps({"problem": f"Problem {i}: what is 2 * ({i} + 2)?", "cot": cot}) + "\n")


def _tag(work: str, name: str, rows: str, fraction: float | None) -> float:
    config = RunConfig(input=[rows], out=os.path.join(work, name), column="cot", rows_per_shard=256, test_fraction=fraction,
                       quiet=True)
    started = time.monotonic()
    run_command("tag", config, build_tag, [], model_name="rule-tagger")
    return time.monotonic() - started


def _trees(folder: str, problems: int, children: int = 4) -> int:
    """PRM shards as ``expand`` writes them: per problem, a root with ``children`` candidate steps, one
    trajectory (row) through each."""
    rows = []
    for p in range(problems):
        root = content_id("root", p, length=16)
        for c in range(children):
            node = content_id("node", p, c, length=16)
            q = 1.0 - 2.0 * c / (children - 1)
            rows.append({
                "prompt": f"Problem {p}?", "completions": ["Human step.", f"Candidate {c}.", "The answer is 4."],
                "labels": [True, c == 0, c == 0], "soft_labels": [0.5, (q + 1) / 2, float(c == 0)], "rollouts": [4, 1, 0],
                "correct_rollouts": [1, int(c == 0), 0], "method": "mcts", "answer_correct": c == 0,
                "id": content_id("prm", p, c), "source_kind": "seed", "source": {"uri": "file:///bench"},
                "generator": {"backend": "scripted", "model": "m", "temperature": 0.7, "seed": 0, "prompt_version": "v"},
                "nodes": [{"id": root, "parent": None, "q": 0.0, "visits": children},
                          {"id": node, "parent": root, "q": q, "visits": 1}, None],
            })
    os.makedirs(os.path.join(folder, "prm"), exist_ok=True)
    for i in range(0, len(rows), 4096):
        pq.write_table(pa.Table.from_pylist(rows[i:i + 4096], schema=PRM_SCHEMA),
                       os.path.join(folder, "prm", f"bench-{i:08d}.parquet"))
    return len(rows)


def run(report: Report, rows: int = 4000, problems: int = 10_000) -> None:
    work = tempfile.mkdtemp(prefix="bench-training-")
    try:
        source = os.path.join(work, "cot.jsonl")
        _cot_rows(source, rows)
        _tag(work, "warm", source, None)  # imports and first Beam start, for neither side
        plain, split = _tag(work, "plain", source, None), _tag(work, "split", source, 0.1)
        print(f"  tag {rows} rows: {plain:.2f} s without a split, {split:.2f} s with --test-fraction 0.1")
        report.add("split_overhead", split / plain, "<=", 1.25, rows=rows, plain_s=round(plain, 3), split_s=round(split, 3))

        folder = os.path.join(work, "trees")
        count = _trees(folder, problems)
        started = time.monotonic()
        for path in sorted(os.listdir(os.path.join(folder, "prm"))):
            pq.read_table(os.path.join(folder, "prm", path), columns=PRM_COLUMNS + ["nodes"]).to_pylist()
        read = time.monotonic() - started
        started = time.monotonic()
        export_pairs(folder, "step", 0.5, 1, 4)
        pairs = time.monotonic() - started
        made = pq.read_metadata(os.path.join(folder, "pairs_step", "train.parquet")).num_rows
        print(f"  export pairs: {count} PRM rows -> {made} step pairs in {pairs:.2f} s; reading them alone {read:.2f} s")
        report.info("pairs_export_rows_per_s", count / pairs, rows=count, pairs=made, seconds=round(pairs, 3),
                    over_plain_read=round(pairs / read, 2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
