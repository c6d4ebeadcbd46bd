"""studio: what the annotators' tools cost at sizes they meet, measured side by side in one run.

- ``studio_save_ms``: one seed saved through ``SeedFile.save`` in a 20,000-seed file (version
  check, that line's ``seeds validate`` checks, the duplicate-id lookup, the project's whole-or-absent
  write), and its ratio to that write alone of the same bytes (``over_bare_write``).
- ``studio_load_rows_per_s``: PRM rows read into the review page's folder (``DataFolder.load``).
- ``report_rows_per_s``: ``reverse-o1 report`` over PRM shards with trees, and its time ÷ reading
  the columns it uses with pyarrow alone.
- ``eval_labels_per_s``: human labels scored by ``eval labels`` against those rows.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import pyarrow.parquet as pq

from benchmarks.report import Report
from benchmarks.training_data import _trees
from pipelines.eval_labels import agreement_report
from pipelines.io import fs
from pipelines.report import render_report
from pipelines.studio.data_view import DataFolder
from pipelines.studio.seed_file import SeedFile


def _seed_file(path: str, count: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            handle.write(json.dumps({"id": f"s{i}", "problem": f"What is {i} + 2?", "answer": str(i + 2),
                                     "steps": [{"text": f"{i} + 2 = {i + 2}.", "factor": "Compute"},
                                               {"text": f"The answer is {i + 2}.", "factor": "Conclude"}]}) + "\n")


def _saves(work: str, seeds: int, saves: int) -> tuple[float, float]:
    path = os.path.join(work, "seeds.jsonl")
    _seed_file(path, seeds)
    store = SeedFile(path, ("Compute", "Conclude"))
    version = store.snapshot().version
    started = time.monotonic()
    for k in range(saves):
        line = seeds // 2 + k
        seed = {"id": f"s{line - 1}", "problem": f"Edited {k}?", "answer": "1", "steps": [{"text": "Edited."}]}
        version = store.save(version, "replace", line, seed=seed)["version"]
    studio = (time.monotonic() - started) / saves
    data = open(path, "rb").read()
    started = time.monotonic()
    for _ in range(saves):
        fs.write_bytes(path, data)
    return studio, (time.monotonic() - started) / saves


def run(report: Report, seeds: int = 20_000, saves: int = 20, problems: int = 10_000) -> None:
    work = tempfile.mkdtemp(prefix="bench-studio-")
    try:
        save, bare = _saves(work, seeds, saves)
        print(f"  save one seed in a {seeds}-seed file: {1000 * save:.1f} ms (fs.write_bytes alone: {1000 * bare:.1f} ms)")
        report.info("studio_save_ms", 1000 * save, seeds=seeds, saves=saves, over_bare_write=round(save / bare, 2))

        folder = os.path.join(work, "trees")
        rows = _trees(folder, problems)
        started = time.monotonic()
        loaded = DataFolder.load(folder)
        load = time.monotonic() - started
        report.info("studio_load_rows_per_s", len(loaded.rows) / load, rows=rows, seconds=round(load, 3))

        started = time.monotonic()
        for name in sorted(os.listdir(os.path.join(folder, "prm"))):
            pq.read_table(os.path.join(folder, "prm", name),
                          columns=["labels", "soft_labels", "rollouts", "method", "answer_correct"]).to_pylist()
        plain = time.monotonic() - started
        started = time.monotonic()
        page = render_report(folder)
        made = time.monotonic() - started
        print(f"  report of {rows} PRM rows: {made:.2f} s, {len(page)} bytes; reading its columns alone {plain:.2f} s")
        report.info("report_rows_per_s", rows / made, rows=rows, seconds=round(made, 3), over_plain_read=round(made / plain, 2),
                    page_bytes=len(page))

        human = os.path.join(work, "human.jsonl")
        picked = loaded.rows[::4]
        with open(human, "w", encoding="utf-8") as handle:
            for row in picked:
                for step, text in enumerate(row["completions"]):
                    label = "correct" if row["labels"][step] else "wrong"
                    handle.write(json.dumps({"row_id": row["id"], "step": step, "label": label, "annotator": "bench",
                                             "step_text": text}) + "\n")
        count = sum(len(r["completions"]) for r in picked)
        started = time.monotonic()
        agreement = agreement_report(human, [folder])
        scored = time.monotonic() - started
        accuracy = next(g for g in agreement["groups"] if g["group"] == "all")["step_accuracy"]["value"]
        print(f"  eval labels: {count} human labels in {scored:.2f} s (step accuracy {accuracy:.3f}: the labels copy the rows')")
        report.info("eval_labels_per_s", count / scored, labels=count, seconds=round(scored, 3))
    finally:
        shutil.rmtree(work, ignore_errors=True)
