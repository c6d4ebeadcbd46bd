"""resume_graph: what resuming into a large output costs, at 10k and 1M existing ids.

Synthetic SFT shards (10,000 rows each, ids only) stand for an output folder that already holds
10k or 1M rows. Two figures per size:

- the pipeline graph of ``tag`` built for that folder (``Pipeline.to_runner_api()`` bytes, what a
  runner such as Dataflow uploads): the ids travel as a side input read by the workers, so the
  graph does not grow (bar: <= 1 MB at 1M ids). For scale, the bytes the same ids take pickled
  (what a DoFn holding them would add to the graph) are printed too;
- a real ``tag`` run of 20 new rows into that folder: its wall time, and the launcher's own
  share (everything outside ``pipeline.run()``: preparing, deduplicating this run's shards,
  counting footers, manifest and card).
"""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
import time
from pathlib import Path

import apache_beam as beam
import pyarrow as pa

from benchmarks.report import Report
from generators.backends.handle import BackendHandle
from pipelines.config import build_config
from pipelines.io import fs
from pipelines.io.shards import FACTORS_KEY, GENERATION_KEY, VERIFIED_KEY
from pipelines.runner import RunContext, pipeline_options, run_command
from pipelines.settings import backend_config
from pipelines.tag import build_tag
from schemas.arrow import SCHEMAS

ROWS_PER_SHARD = 10_000
SIZES = (10_000, 1_000_000)
INPUT = Path(__file__).resolve().parents[1] / "samples" / "gsm8k" / "gsm8k_demo.jsonl"


def synthetic_output(out: str, n: int) -> None:
    schema = SCHEMAS["sft"]
    for start in range(0, n, ROWS_PER_SHARD):
        ids = pa.array([f"existing-{i:09d}" for i in range(start, min(n, start + ROWS_PER_SHARD))])
        table = pa.Table.from_arrays([ids if f.name == "id" else pa.nulls(len(ids), f.type) for f in schema], schema=schema)
        path = fs.join(out, "sft", f"old-{start // ROWS_PER_SHARD:05d}.parquet")
        # the footer keys every shard is written with (``shard_metadata``): factors, verified rows, generators
        meta = {FACTORS_KEY: "{}", VERIFIED_KEY: "0", GENERATION_KEY: json.dumps([[None, None, None, None, len(ids), 0]])}
        fs.write_parquet(path, table, metadata=meta)


def graph_bytes(out: str) -> int:
    config = build_config({"input": [str(INPUT)], "column": "answer", "out": out})
    pipeline = beam.Pipeline(options=pipeline_options([]))
    build_tag(pipeline, config, RunContext("tag", out, "tag-bench", pipeline, BackendHandle(backend_config(config))))
    return len(pipeline.to_runner_api().SerializeToString())


def timed_run(out: str) -> tuple[float, float]:
    """(wall seconds, launcher seconds outside pipeline.run) of one tag run of 20 rows."""
    inside = 0.0
    original = beam.Pipeline.run

    def run(self, *args, **kwargs):
        nonlocal inside
        started = time.perf_counter()
        result = original(self, *args, **kwargs)
        result.wait_until_finish()
        inside += time.perf_counter() - started
        return result

    config = build_config({"input": [str(INPUT)], "column": "answer", "out": out, "limit": 20})
    beam.Pipeline.run = run
    try:
        started = time.perf_counter()
        run_command("tag", config, build_tag, [])
        wall = time.perf_counter() - started
    finally:
        beam.Pipeline.run = original
    return wall, wall - inside


def run(report: Report) -> None:
    work = tempfile.mkdtemp(prefix="resume-bench-")
    try:
        figures = {}
        for n in SIZES:
            out = f"{work}/out-{n}"
            synthetic_output(out, n)
            graph = graph_bytes(out)
            pickled = len(pickle.dumps(frozenset(f"existing-{i:09d}" for i in range(n))))
            wall, launcher = timed_run(out)
            figures[n] = (graph, pickled, wall, launcher)
            print(f"  {n:>9,} existing ids: graph {graph / 1e6:.3f} MB (the ids pickled: {pickled / 1e6:.1f} MB); "
                  f"tag of 20 rows {wall:.2f} s, launcher outside pipeline.run {launcher:.2f} s")
        big, small = figures[SIZES[-1]], figures[SIZES[0]]
        report.add("resume_graph_mb", big[0] / 1e6, "<=", 1, existing_ids=SIZES[-1], graph_mb_at_10k=round(small[0] / 1e6, 4),
                   pickled_ids_mb=round(big[1] / 1e6, 2))
        report.info("resume_launcher_overhead_ratio", big[3] / small[3], launcher_s_10k=round(small[3], 3),
                    launcher_s_1m=round(big[3], 3), wall_s_10k=round(small[2], 3), wall_s_1m=round(big[2], 3))
    finally:
        shutil.rmtree(work, ignore_errors=True)
